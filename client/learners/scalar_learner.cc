#include "client/learners/scalar_learner.h"

namespace attnoracle {

ScalarLearner::ScalarLearner(QueryOracle& oracle, const LearnOptions& options,
                             const ScalarDesign& design)
    : oracle_(oracle),
      options_(options),
      design_(design),
      spec_(oracle.info().spec),
      d_(spec_.d_model),
      start_(oracle.usage()),
      rng_(DeriveSeed(options.seed, RngStream::kLearner, 0)) {}

absl::Status ScalarLearner::CheckChallenge(
    const std::string& more_problem) const {
  std::string why = ScalarChallengeProblem(oracle_.info(), design_);
  if (why.empty()) why = more_problem;
  if (why.empty()) return absl::OkStatus();
  return RefuseScalarChallenge(oracle_.info(), design_, why);
}

absl::Status ScalarLearner::CheckBudget(uint64_t queries, uint64_t tokens,
                                        const std::string& need) const {
  return CheckDesignBudget(oracle_.usage(), queries, tokens, need);
}

void ScalarLearner::Say(const std::string& line) const {
  SayProgress(options_, design_.learner, line);
}

void ScalarLearner::Report(double est, LearnResult* result) const {
  CurvePoint point = Spent();
  point.est_functional_rel_err = est;
  ReportCurvePoint(options_, point, result);
}

}  // namespace attnoracle
