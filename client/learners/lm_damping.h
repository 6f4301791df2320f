// The damping schedule of the learners' Levenberg-Marquardt fits (regress's
// LM on factors, its fit of full-width scalar heads): lambda starts at
// kLmInitialDamping times the largest diagonal entry of J^T J, shrinks by
// kLmShrink after a step that lowers the loss and grows by kLmGrow after one
// that does not; a fit gives up when lambda passes kLmMaxDamping times that
// diagonal (no descent left). Each fit sets its own stall and step limits.
#ifndef ATTNORACLE_CLIENT_LEARNERS_LM_DAMPING_H_
#define ATTNORACLE_CLIENT_LEARNERS_LM_DAMPING_H_

namespace attnoracle {

inline constexpr double kLmInitialDamping = 1e-3;
inline constexpr double kLmShrink = 3;
inline constexpr double kLmGrow = 4;
inline constexpr double kLmMaxDamping = 1e8;

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_LM_DAMPING_H_
