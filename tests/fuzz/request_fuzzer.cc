// Fuzz target: the bytes of a request as the service receives them. The
// first byte picks a challenge of FuzzChallenges() (byte >> 1) and the
// message (low bit 0: QueryRequest, 1: SubmitRequest); the rest is the
// serialized message. Each goes down the path the service takes:
//   Query:  MatrixView per sequence, ValidateSequences, then for a valid
//           request the answers (AnswerInto: forward pass, noise,
//           precision and answer form) and the
//           canonical transcript bytes (EncodeMatrices, DecodeMatrices).
//   Submit: ParamsFromProto, then for a valid hypothesis the scoring
//           (Scorer::ScoreHypothesis's steps, on common/layer_comparison).
// Invariants: refusals are INVALID_ARGUMENT; what passes the checks keeps
// every promise the checks make; answers are finite; canonical bytes and
// the wire form of a hypothesis round-trip bit for bit; scores are never
// NaN (the leaderboard sorts on them).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "attnoracle/v1/oracle.pb.h"
#include "common/access_policy.h"
#include "common/answer.h"
#include "common/attention.h"
#include "common/codec.h"
#include "common/ffn_comparison.h"
#include "common/layer_comparison.h"
#include "common/request_check.h"
#include "common/transcript.h"
#include "tests/fuzz/fuzz_challenges.h"
#include "tests/fuzz/fuzz_check.h"

namespace attnoracle::fuzz {
namespace {

// What each answer form promises of an answer.
void CheckAnswerForm(const AccessPolicy& policy, const LayerSpec& spec,
                     const Matrix& y) {
  switch (policy.answers) {
    case Answers::kValues:
      FUZZ_CHECK(y.cols() == OutputDim(spec));
      break;
    case Answers::kSign:
      FUZZ_CHECK((y.array() == 1.0 || y.array() == -1.0).all());
      break;
    case Answers::kQuantized:
      for (Eigen::Index j = 0; j < y.size(); ++j) {
        const double k = y.data()[j] / policy.quantize_step;
        FUZZ_CHECK(k == std::nearbyint(k));
        FUZZ_CHECK(!(y.data()[j] == 0 && std::signbit(y.data()[j])));
      }
      break;
    case Answers::kTopK:
      FUZZ_CHECK(y.cols() == 2 * policy.top_k);
      for (Eigen::Index r = 0; r < y.rows(); ++r) {
        for (Eigen::Index k = 0; k < policy.top_k; ++k) {
          const double index = y(r, 2 * k);
          FUZZ_CHECK(index >= 0 && index < OutputDim(spec) &&
                     index == std::floor(index));
          if (k > 0) FUZZ_CHECK(y(r, 2 * k - 1) >= y(r, 2 * k + 1));
        }
      }
      break;
  }
}

void CheckQuery(const FuzzChallenge& c, const uint8_t* data, size_t size) {
  v1::QueryRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  const LayerSpec& spec = c.config.spec;
  const Limits& limits = c.config.policy.limits;
  std::vector<ConstMatrixMap> inputs;
  for (int i = 0; i < request.sequences_size(); ++i) {
    absl::StatusOr<ConstMatrixMap> x =
        MatrixView(request.sequences(i), absl::StrCat("sequences[", i, "]"));
    if (!x.ok()) {
      FUZZ_CHECK(x.status().code() == absl::StatusCode::kInvalidArgument);
      return;
    }
    FUZZ_CHECK(x->rows() >= 1 && x->cols() >= 1 &&
               x->size() == request.sequences(i).values_size());
    inputs.push_back(*x);
  }
  uint64_t tokens = 0;
  const absl::Status status =
      ValidateSequences(c.config.id, spec, limits, inputs, &tokens);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!status.message().empty());
    return;
  }
  // Everything a valid request promises the forward pass and the ledger.
  FUZZ_CHECK(!inputs.empty());
  FUZZ_CHECK(inputs.size() <=
             static_cast<size_t>(limits.max_sequences_per_request));
  uint64_t total = 0;
  for (const ConstMatrixMap& x : inputs) {
    FUZZ_CHECK(x.cols() == spec.d_model);
    FUZZ_CHECK(x.rows() >= 1 && x.rows() <= limits.max_tokens_per_sequence);
    FUZZ_CHECK(x.allFinite());
    FUZZ_CHECK(x.cwiseAbs().maxCoeff() <= limits.max_abs_input);
    total += static_cast<uint64_t>(x.rows());
  }
  FUZZ_CHECK(tokens == total);
  FUZZ_CHECK(total <= static_cast<uint64_t>(limits.max_tokens_per_request));

  // The answers, as OracleCore::Query computes them, in the policy's form.
  const AccessPolicy& policy = c.config.policy;
  std::vector<Matrix> answers;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Matrix out(OutputRows(spec, static_cast<int>(inputs[i].rows())),
               AnswerCols(spec, policy));
    AnswerInto(spec, c.secret, policy, c.config.prior.seed, i, inputs[i], out);
    FUZZ_CHECK(out.allFinite());
    CheckAnswerForm(policy, spec, out);
    answers.push_back(std::move(out));
  }

  // The transcript's canonical bytes decode to the very same matrices.
  absl::StatusOr<std::vector<Matrix>> sequences =
      DecodeMatrices(EncodeMatrices(inputs));
  FUZZ_CHECK(sequences.ok() && sequences->size() == inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    FUZZ_CHECK(SameBits((*sequences)[i], inputs[i]));
  }
  absl::StatusOr<std::vector<Matrix>> outputs =
      DecodeMatrices(EncodeMatrices(answers));
  FUZZ_CHECK(outputs.ok() && outputs->size() == answers.size());
  for (size_t i = 0; i < answers.size(); ++i) {
    FUZZ_CHECK(SameBits((*outputs)[i], answers[i]));
  }
}

void CheckSubmit(const FuzzChallenge& c, const uint8_t* data, size_t size) {
  v1::SubmitRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  const LayerSpec& spec = c.config.spec;
  absl::StatusOr<LayerParams> hypothesis =
      ParamsFromProto(request.hypothesis(), spec);
  if (!hypothesis.ok()) {
    FUZZ_CHECK(hypothesis.status().code() ==
               absl::StatusCode::kInvalidArgument);
    return;
  }
  CheckFitsSpec(spec, *hypothesis);

  // The wire form the client sends (factors) parses back to the same bits.
  v1::LayerParams proto;
  ParamsToProto(*hypothesis, &proto);
  absl::StatusOr<LayerParams> again = ParamsFromProto(proto, spec);
  FUZZ_CHECK(again.ok() && SameParams(*hypothesis, *again));

  // Scored as Scorer::ScoreHypothesis does it: errors are numbers or
  // +infinity, never NaN.
  const FunctionalError f =
      CompareOutputs(spec, c.secret_outputs, *hypothesis, c.probes);
  FUZZ_CHECK(!std::isnan(f.rel_mse) && f.rel_mse >= 0);
  FUZZ_CHECK(!std::isnan(f.max_abs_err) && f.max_abs_err >= 0);
  FUZZ_CHECK(!std::isnan(f.bits));
  const ParameterError p =
      CompareCanonical(c.secret_canonical, Canonicalize(spec, *hypothesis));
  FUZZ_CHECK(!std::isnan(p.theta_rel_err) && p.theta_rel_err >= 0);
  FUZZ_CHECK(!std::isnan(p.omega_rel_err) && p.omega_rel_err >= 0);
  if (IdentifiabilityOf(spec).ffn) {
    const double ffn = CompareFfn(spec, c.secret, *hypothesis);
    FUZZ_CHECK(!std::isnan(ffn) && ffn >= 0);
  }
}

}  // namespace
}  // namespace attnoracle::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using attnoracle::fuzz::FuzzChallenges;
  if (size == 0) return 0;
  const auto& challenges = FuzzChallenges();
  const auto& challenge = challenges[(data[0] >> 1) % challenges.size()];
  if (data[0] & 1) {
    attnoracle::fuzz::CheckSubmit(challenge, data + 1, size - 1);
  } else {
    attnoracle::fuzz::CheckQuery(challenge, data + 1, size - 1);
  }
  return 0;
}
