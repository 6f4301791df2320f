// my_learner: a complete learner on the AttnOracle client library, the one
// README's "Writing your own learner" shows. It recovers a single softmax
// head with full output, no mask and no biases (e.g. single-head-d16)
// exactly from noiseless answers, in d + 1 queries of 2d + 1 tokens in all:
//   Omega: a lone token attends only to itself, so the answer to the
//          one-token query e_i is row i of Omega.
//   Theta: in the answer to [e_1, ..., e_d, 0], row p is c Omega, where c_j
//          is the weight token e_p gives token e_j. The zero token has value
//          0 and logit exactly 0, so it takes weight 1 - sum(c), and
//          Theta_pj = log(c_j / (1 - sum(c))).
// It submits the factors wq = Theta / score_scale, wk = I, wv = Omega,
// wo = I, and prints the server's score.
//
//   my_learner [--server=127.0.0.1:50051] [--token=T] [CHALLENGE]
//
// Exits 1, with the reason on stderr, when anything fails.
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "client/learners/query_oracle.h"
#include "client/oracle_client.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "the oracle, host:port");
ABSL_FLAG(std::string, token, "", "bearer token, if the server wants one");

namespace {

using attnoracle::LayerSpec;
using attnoracle::Matrix;
using attnoracle::Vector;

// FAILED_PRECONDITION for a challenge this method cannot solve, before any
// query is spent.
absl::Status CheckSolvable(const attnoracle::ChallengeInfo& info) {
  const LayerSpec& spec = info.spec;
  if (spec.heads == 1 && !spec.biases && spec.mask == attnoracle::Mask::kNone &&
      spec.readout == attnoracle::Readout::kAll &&
      spec.out_dim == spec.d_model && info.policy.noise_sigma == 0) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      "my_learner solves one head with full output, no mask, no biases, a "
      "square Omega and noiseless answers; try oracle-client learn CH");
}

absl::StatusOr<attnoracle::LayerParams> Learn(attnoracle::QueryOracle& oracle) {
  if (absl::Status s = CheckSolvable(oracle.info()); !s.ok()) return s;
  const LayerSpec& spec = oracle.info().spec;
  const int d = spec.d_model;

  std::vector<Matrix> queries;
  for (int i = 0; i < d; ++i) {
    Matrix e = Matrix::Zero(1, d);
    e(0, i) = 1;
    queries.push_back(e);
  }
  Matrix probe = Matrix::Zero(d + 1, d);  // e_1 .. e_d, then the zero token
  probe.topRows(d).setIdentity();
  queries.push_back(probe);
  absl::StatusOr<std::vector<Matrix>> answers =
      attnoracle::QueryInBatches(oracle, queries);
  if (!answers.ok()) return answers.status();

  Matrix omega(d, d);
  for (int i = 0; i < d; ++i) omega.row(i) = (*answers)[i];
  const Eigen::FullPivLU<Matrix> omega_t(omega.transpose());
  if (!omega_t.isInvertible()) {
    return absl::FailedPreconditionError("Omega is singular");
  }
  Matrix theta(d, d);
  for (int p = 0; p < d; ++p) {
    const Vector c = omega_t.solve(answers->back().row(p).transpose());
    const double zero_weight = 1 - c.sum();
    for (int j = 0; j < d; ++j) {
      if (!(c(j) > 0) || !(zero_weight > 0)) {
        return absl::FailedPreconditionError(
            "decoded a non-positive attention weight: the answers are too "
            "coarse for this method");
      }
      theta(p, j) = std::log(c(j) / zero_weight);
    }
  }

  attnoracle::HeadParams head;
  head.wq = theta / spec.score_scale;
  head.wk = Matrix::Identity(d, d);
  head.wv = omega;
  head.wo = Matrix::Identity(d, d);
  attnoracle::LayerParams hypothesis;
  hypothesis.heads.push_back(std::move(head));
  return hypothesis;
}

int Fail(const absl::Status& status) {
  std::cerr << "my_learner: " << status << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 2) {
    return Fail(absl::InvalidArgumentError(
        "usage: my_learner [--server=HOST:PORT] [--token=T] [CHALLENGE]"));
  }
  const std::string challenge = args.size() == 2 ? args[1] : "single-head-d16";

  attnoracle::ClientOptions options;
  options.server = absl::GetFlag(FLAGS_server);
  options.token = absl::GetFlag(FLAGS_token);
  const std::unique_ptr<attnoracle::OracleClient> client =
      attnoracle::OracleClient::Connect(options);
  attnoracle::RemoteOracle oracle(client.get(), challenge);
  if (absl::Status s = oracle.Init(); !s.ok()) return Fail(s);
  absl::StatusOr<attnoracle::LayerParams> hypothesis = Learn(oracle);
  if (!hypothesis.ok()) return Fail(hypothesis.status());
  absl::StatusOr<attnoracle::SubmitResult> result =
      client->Submit(challenge, *hypothesis);
  if (!result.ok()) return Fail(result.status());

  const attnoracle::Score& score = result->score;
  std::cout << absl::StrFormat("%s: spent %d queries, %d tokens\n", challenge,
                               score.queries_used, score.tokens_used);
  if (score.feedback == attnoracle::Feedback::kPassFail) {
    std::cout << (score.passed ? "PASS\n" : "FAIL\n");
  } else {
    std::cout << absl::StrFormat("functional_rel_err %.3e  bits %.1f\n",
                                 score.functional_rel_err, score.bits);
  }
  return 0;
}
