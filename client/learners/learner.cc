#include "client/learners/learner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/learners/capped_oracle.h"

namespace attnoracle {
namespace {

constexpr LearnerEntry kLearners[] = {
    {"probe",
     "exact algebraic recovery of one softmax head from designed queries "
     "(averaging under noise); refuses several heads, biases, narrow "
     "outputs",
     LearnProbe},
    {"regress",
     "least squares on random queries with analytic gradients; fits any "
     "spec",
     LearnRegress},
    {"scalar-exact",
     "Bhattamishra et al.: the scalar last-token head in exactly d^2 + d "
     "queries; refuses several heads, biases, FFN blocks, outputs wider "
     "than one number, and noisy, rounded or sign answers",
     LearnScalarExact},
    {"scalar-lowrank",
     "Bhattamishra et al.: one scalar last-token head of rank head_dim < "
     "d_model by matrix sensing, 2x the counting bound in queries; refuses "
     "several heads, full rank, biases, noise, other readouts",
     LearnScalarLowRank},
    {"multihead-scalar",
     "after Kim, Kim, Guo: up to 3 scalar last-token heads from 4Hd^2 - 2H "
     "+ 1 queries of repeated tokens; refuses biases, noise, other "
     "readouts",
     LearnMultiheadScalar},
    {"multihead-local",
     "beyond the papers: any number of scalar last-token heads from about "
     "1.1-1.2x the counting bound, one small fit per query token; refuses "
     "biases, noise, rounding, other readouts",
     LearnMultiheadLocal},
    {"heads-pencil",
     "beyond the papers: two softmax heads with full output whose value "
     "widths add up to d_model, by linear algebra from about 1.6x the "
     "counting bound in tokens; refuses other head counts, masks, biases, "
     "noise, rounding",
     LearnHeadsPencil},
    {"ffn-antisymmetric",
     "Bhattamishra et al.: one softmax head at the last position and a ReLU "
     "FFN block without biases, attention from f(X) - f(-X), units from "
     "kinks; refuses other specs and noisy, rounded or sign answers",
     LearnFfnAntisymmetric},
    {"sign-bisect",
     "Bhattamishra et al.: the scalar last-token head from sign answers, "
     "40 bisection queries per number; refuses answers other than signs "
     "and the specs scalar-exact refuses",
     LearnSignBisect},
    {"examples-regress",
     "Chen & Li's random examples, fitted by least squares (regress); "
     "refuses chosen-query access, non-value answers, vector last-token "
     "output",
     LearnExamplesRegress},
};

}  // namespace

std::span<const LearnerEntry> Learners() { return kLearners; }

std::string LearnerNameList() {
  std::string out;
  for (const LearnerEntry& e : kLearners) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", e.name);
  }
  return out;
}

const LearnerEntry* FindLearner(const std::string& name) {
  for (const LearnerEntry& e : kLearners) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

CurvePoint SpentSince(const QueryOracle& oracle, const Usage& start) {
  const Usage now = oracle.usage();
  CurvePoint point;
  point.queries = now.queries_used - start.queries_used;
  point.tokens = now.tokens_used - start.tokens_used;
  return point;
}

void SayProgress(const LearnOptions& options, const char* learner,
                 const std::string& line) {
  if (options.progress != nullptr) {
    *options.progress << learner << ": " << line << "\n";
  }
}

void ReportCurvePoint(const LearnOptions& options, const CurvePoint& point,
                      LearnResult* result) {
  result->curve.push_back(point);
  if (options.curve_sink) options.curve_sink(point);
}

absl::StatusOr<LearnResult> RunLearner(const std::string& algo,
                                       QueryOracle& oracle,
                                       const LearnOptions& options) {
  const LearnerEntry* entry = FindLearner(algo);
  if (entry == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown learner \"", algo, "\"; known: ", LearnerNameList()));
  }
  // The learners never spend more than is left anyway; the cap is made
  // explicit so a budget study does not mistake it for the spend it asked.
  LearnOptions capped = options;
  const uint64_t left = oracle.usage().tokens_left;
  const bool over = options.max_tokens > left;
  if (over) {
    // max_tokens 0 would mean the learner's default; the learner finds
    // nothing left either way.
    capped.max_tokens = left;
    if (options.progress != nullptr) {
      *options.progress << "learn: asked for " << options.max_tokens
                        << (options.max_tokens == 1 ? " token" : " tokens")
                        << " but only " << left << (left == 1 ? " is" : " are")
                        << " left; this run spends at most " << left << "\n";
    }
  }
  CappedOracle held(oracle, capped.max_queries, capped.max_tokens);
  absl::StatusOr<LearnResult> result = entry->learn(held, capped);
  if (result.ok()) result->budget_capped = over;
  return result;
}

}  // namespace attnoracle
