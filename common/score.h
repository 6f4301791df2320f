// Score: how well a submitted hypothesis matches a challenge's secret, and
// what the learner had spent when it submitted; SubmitResult: a score with
// its submission id.
//
//   absl::StatusOr<SubmitResult> r = client.Submit("single-head-d16", h);
//   double err = r->score.functional_rel_err;
#ifndef ATTNORACLE_COMMON_SCORE_H_
#define ATTNORACLE_COMMON_SCORE_H_

#include <cstdint>
#include <string>

namespace attnoracle {

// How much of a score a learner is shown (the organiser sees everything).
enum class Feedback { kFull, kRounded, kPassFail };

struct Score {
  double functional_rel_err = 0;
  double max_abs_err = 0;
  double bits = 0;
  double theta_rel_err = 0;
  double omega_rel_err = 0;
  uint64_t queries_used = 0;
  uint64_t tokens_used = 0;
  // Spend divided by the counting bound, in the bound's unit (tokens for
  // full readout, sequences for last-position readout); the other is 0.
  double queries_to_bound = 0;
  double tokens_to_bound = 0;
  Feedback feedback = Feedback::kFull;  // what the fields above show
  // functional_rel_err <= the challenge's threshold; for ANSWERS_SIGN
  // challenges sign_disagreement <= it.
  bool passed = false;
  // ANSWERS_SIGN challenges only: the share of output numbers on the probe
  // set whose sign (>= 0 or < 0) the hypothesis gets wrong. 0 otherwise.
  double sign_disagreement = 0;
  // The FFN block's units up to permutation and positive rescaling
  // (common/ffn_comparison.h, CompareFfn); where signs are answered, at unit
  // output scale.
  double ffn_rel_err = 0;
  // Where the class does not identify them (common/layer_comparison.h,
  // ParameterIdentifiability), theta, omega or FFN errors are omitted: left
  // 0, flagged here, with the reason in parameter_note. Derived from the
  // spec, so not stored.
  bool theta_omitted = false;
  bool omega_omitted = false;
  bool ffn_omitted = false;
  std::string parameter_note = {};
};

// The number a challenge ranks and judges scores by, lower is better: the
// sign disagreement where the answers are signs (ANSWERS_SIGN: the scale of
// the outputs is not identifiable, so the functional error of a right
// hypothesis need not be small), the functional error otherwise.
enum class Headline { kFunctionalRelErr, kSignDisagreement };

inline double HeadlineValue(const Score& s, Headline headline) {
  return headline == Headline::kSignDisagreement ? s.sign_disagreement
                                                 : s.functional_rel_err;
}

// The score field's name: "functional_rel_err" or "sign_disagreement".
inline const char* HeadlineName(Headline headline) {
  return headline == Headline::kSignDisagreement ? "sign_disagreement"
                                                 : "functional_rel_err";
}

// What Submit returns, on the server (OracleCore) and in the client
// (OracleClient) alike.
struct SubmitResult {
  Score score;
  uint64_t submission_id = 0;     // 1, 2, ... per store
  uint32_t submissions_left = 0;  // 0 when submissions are unlimited
};

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_SCORE_H_
