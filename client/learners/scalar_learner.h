// ScalarLearner: the state and the few steps that every published scalar
// learner's run shares (scalar-exact, sign-bisect, ffn-antisymmetric): the
// oracle, the run's options, the spec and d_model, the usage when the run
// began, the learner's seeded random stream; the refusal before anything is
// spent, progress lines and curve points.
//
//   class ScalarExact : public ScalarLearner {
//    public:
//     ScalarExact(QueryOracle& oracle, const LearnOptions& options)
//         : ScalarLearner(oracle, options, kDesign) {}
//     absl::StatusOr<LearnResult> Run() {
//       ATTN_RETURN_IF_ERROR(CheckChallenge());
//       ATTN_RETURN_IF_ERROR(CheckBudget(queries, tokens, "needs ..."));
//       Say("...");
//     }
//   };
//
// Not thread-safe: one run, one thread, as the oracle it wraps.
#ifndef ATTNORACLE_CLIENT_LEARNERS_SCALAR_LEARNER_H_
#define ATTNORACLE_CLIENT_LEARNERS_SCALAR_LEARNER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "client/learners/scalar_challenge.h"
#include "common/rng.h"

namespace attnoracle {

class ScalarLearner {
 protected:
  // `oracle`, `options` and `design` must outlive the learner. The random
  // stream is the learner stream of options.seed.
  ScalarLearner(QueryOracle& oracle, const LearnOptions& options,
                const ScalarDesign& design);

  // OK when the challenge suits the design (ScalarChallengeProblem) and
  // `more_problem` is empty; otherwise the design's FAILED_PRECONDITION
  // naming the first problem found.
  [[nodiscard]] absl::Status CheckChallenge(
      const std::string& more_problem = "") const;
  // OK when this run may still spend `queries` and `tokens`; otherwise
  // RESOURCE_EXHAUSTED with `need` (CheckDesignBudget).
  [[nodiscard]] absl::Status CheckBudget(uint64_t queries, uint64_t tokens,
                                         const std::string& need) const;
  // "learner: line" on options.progress, if any.
  void Say(const std::string& line) const;
  // What this run has spent so far, as a curve point without estimates.
  CurvePoint Spent() const { return SpentSince(oracle_, start_); }
  // Spent() with the learner's error estimate `est`, onto the curve.
  void Report(double est, LearnResult* result) const;

  QueryOracle& oracle_;
  const LearnOptions& options_;
  const ScalarDesign& design_;
  const LayerSpec& spec_;
  const int d_;
  const Usage start_;
  Rng rng_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_SCALAR_LEARNER_H_
