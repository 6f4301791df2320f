#include "client/cli_reveal.h"

#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/json_codec.h"
#include "common/hashing.h"
#include "common/transcript.h"

namespace attnoracle::cli {
namespace {

// Entries print with 6 significant digits: enough to read and compare by
// eye; --json keeps every bit.
void PrintMatrix(const std::string& name, const Matrix& m) {
  std::cout << "    " << name << " (" << m.rows() << " x " << m.cols()
            << "):\n";
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    std::cout << "     ";
    for (Eigen::Index j = 0; j < m.cols(); ++j) {
      std::cout << absl::StrFormat(" %12.6g", m(i, j));
    }
    std::cout << "\n";
  }
}

void PrintVector(const std::string& name, const Vector& v) {
  if (v.size() == 0) return;
  std::cout << "    " << name << " (" << v.size() << "):\n     ";
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    std::cout << absl::StrFormat(" %12.6g", v(i));
  }
  std::cout << "\n";
}

int RunReveal(Context& ctx) {
  const std::string& challenge = ctx.args[0];
  // The global --learner: the admin's choice of whose secret to show, or in
  // open mode the caller's own name (which the server then answers for).
  const std::string learner = ctx.options.learner;
  absl::StatusOr<RevealedChallenge> reveal =
      ctx.client->GetReveal(challenge, learner);
  if (!reveal.ok()) return Fail(reveal.status());
  const LayerParams& secret = reveal->secret;
  // The full check against a commitment recorded before any query, and the
  // replay of the answers, are verify's; this one says whether the secret
  // and nonce shown open the commitment the server says it published.
  const bool opens = Commitment(secret, reveal->nonce) == reveal->commitment;
  if (ctx.json) {
    nlohmann::ordered_json doc = {{"challenge", challenge}};
    if (!learner.empty()) doc["learner"] = learner;
    const nlohmann::ordered_json hypothesis = HypothesisToJson(secret);
    for (const auto& item : hypothesis.items()) doc[item.key()] = item.value();
    doc["nonce"] = HexEncode(reveal->nonce);
    doc["prior_seed"] = reveal->prior_seed;
    doc["noise_seed"] = reveal->noise_seed;
    doc["commitment"] = HexEncode(reveal->commitment);
    doc["commitment_opens"] = opens;
    PrintJson(doc);
  } else {
    const LayerSpec& spec = reveal->config.spec;
    std::cout << challenge << ": the revealed secret"
              << (learner.empty() ? std::string()
                                  : absl::StrCat(" of ", learner))
              << " (d_model=" << spec.d_model << ", "
              << Counted(secret.heads.size(), "head", "heads")
              << ", score_scale=" << spec.score_scale << ")\n";
    for (size_t h = 0; h < secret.heads.size(); ++h) {
      const HeadParams& head = secret.heads[h];
      std::cout << "  head " << h << ":\n";
      PrintMatrix("Wq", head.wq);
      PrintMatrix("Wk", head.wk);
      PrintMatrix("Wv", head.wv);
      PrintMatrix("Wo", head.wo);
      PrintVector("bq", head.bq);
      PrintVector("bk", head.bk);
      PrintVector("bv", head.bv);
    }
    if (secret.bo.size() > 0) {
      std::cout << "  output:\n";
      PrintVector("bo", secret.bo);
    }
    std::cout << "  nonce:        " << HexEncode(reveal->nonce) << "\n"
              << "  prior seed:   " << reveal->prior_seed << "\n"
              << "  noise seed:   " << reveal->noise_seed << "\n"
              << "  commitment:   " << HexEncode(reveal->commitment) << "\n"
              << "                "
              << (opens ? "opened by this secret and nonce"
                        : "NOT opened by this secret and nonce")
              << " (SHA-256 of both)\n";
  }
  if (!opens) {
    return Fail(absl::FailedPreconditionError(
        "the revealed secret and nonce do not open the commitment the server "
        "published"));
  }
  return kExitOk;
}

constexpr FlagDoc kRevealFlags[] = {{"learner", "NAME"}};

constexpr Command kReveal = {
    "reveal",
    "reveal CH [--learner NAME]",
    "After CH is revealed, show its secret and check its commitment.\n"
    "Per head Wq, Wk, Wv, Wo (and biases), the commitment's nonce, the\n"
    "seeds, and whether the secret and nonce open the commitment (exit 1\n"
    "if not); 'verify' checks it against the commitment you recorded and\n"
    "replays your answers. With --json the secret is a hypothesis file\n"
    "('submit --params' takes it) with more fields: {challenge, heads:\n"
    "[{wq, wk, wv, wo}], bo, nonce, prior_seed, noise_seed, commitment,\n"
    "commitment_opens}. On challenges with one secret per learner, the\n"
    "admin token shows the secret of --learner NAME.",
    1,
    RunReveal,
    {},
    false,
    kRevealFlags};

}  // namespace

const Command& RevealCommand() { return kReveal; }

}  // namespace attnoracle::cli
