// The sign-bisect learner (Bhattamishra et al., membership answers): the
// scalar last-token model f(X) = sum_i softmax(s)_i v^T x_i, s_i = x_i^T W
// x_N, recovered from the signs of f alone, each number by bisection on one
// scalar parameter of the query (kBits queries per number).
//
// Signs are unchanged when v is scaled by a positive number, so v is
// recovered as a unit vector; W is identifiable in full (it sets the softmax
// weights, whose threshold the designs below place).
//
// Directions. For a vector c and an oracle of sign(u^T c), the direction of
// c follows from d - 1 angle bisections: w_1 = sign(c_1) e_1; then in the
// plane of w_k (with w_k^T c > 0) and e_{k+1}, sign((cos t w_k + sin t
// e_{k+1})^T c) is + at t = 0 and - at t = pi with one flip t* between, and
// w_{k+1} = sin t* w_k - cos t* e_{k+1} is the unit direction of c's
// projection on span(e_1 .. e_{k+1}), again with w_{k+1}^T c > 0. (For v the
// e_k are the standard basis; for the c_j, v^ and then a random orthonormal
// basis of its complement, so that v.u vanishes only at t = pi / 2.)
//   v: one-token queries [u] answer sign(v.u) directly.
//   c_j = W b_j (b_j a basis with v.b_j < 0): the query [m b_j + u; m b_j]
//   with m = -(v.u) / (2 v.b_j) has f = v.u (sigmoid(m u^T c_j) - 1/2), whose
//   sign is sign(u^T c_j) whatever the sign of v.u.
// Magnitudes. With c_j's unit direction c^ known, the query [b_j + u; b_j],
// u = g c^ + l q (q a unit vector orthogonal to c^), has the logit
// u^T c_j = g |c_j| whatever l is, and f = v.u (sigmoid(g |c_j|) - tau) with
// tau = -v.b_j / v.u set by l: bisection on the trial logit L (tau =
// sigmoid(L)) finds g |c_j|. Then W = C B^-1.
// In all, 1 + (d - 1) kBits queries for v and 1 + d kBits per column:
// (d^2 + d - 1) kBits + d + 1 <= (d^2 + d) kBits queries.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/scalar_challenge.h"
#include "common/rng.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// Bisection steps per number: an angle to pi 2^-40 (about 3e-12).
constexpr int kBits = 40;
// Norm of the direction u in the direction queries (capped by the input
// limit). The error of v^ shifts the threshold 1/2 by about 1e-11; the
// shift it causes in the flip's angle falls with the square of |u|, since
// the logit m u^T c grows with it (m is proportional to v^.u). Away from
// the flip the softmax saturates, which leaves the sign right. Measured at
// d 8: |u| 4 left W errors up to 1e-6 where v^.c_j is small, 128 below
// 1e-9.
constexpr double kDirectionNorm = 128;
// Below this input limit the designs lose too much precision to be run.
constexpr double kMinInputLimit = 16;
// The magnitude query aims at a logit g |c_j| near this (later columns take
// |c_j| from those read before), well inside the sigmoid's sensitive range.
constexpr double kTargetLogit = 2;
// A probe angle t with |cos t| below this moves to lo + kOffCentreSplit (hi
// - lo): the bracket still shrinks by at least 1 - kOffCentreSplit a step.
constexpr double kOffCentreCos = 0.01;
constexpr double kOffCentreSplit = 0.55;
// Trial logits L = kLogitSpread tan(phi), phi bisected in (0, pi / 2).
constexpr double kLogitSpread = 2;
// Inputs stay within this share of policy.limits.max_abs_input.
constexpr double kInputHeadroom = 0.25;

const ScalarDesign kDesign{
    .learner = "sign-bisect",
    .solves =
        "one softmax head without biases read out as one number at the "
        "last position, from chosen queries answered with exact signs",
    .answers = Answers::kSign,
    .answers_note =
        "sign-bisect reads ANSWERS_SIGN; for values use --algo scalar-exact",
    .float64 = true,
    .max_heads = 1,
    .two_tokens = true,
    .min_abs_input = kMinInputLimit};

class SignBisect {
 public:
  SignBisect(QueryOracle& oracle, const LearnOptions& options)
      : oracle_(oracle),
        options_(options),
        spec_(oracle.info().spec),
        d_(spec_.d_model),
        start_(oracle.usage()),
        rng_(DeriveSeed(options.seed, RngStream::kLearner, 0)) {}

  absl::StatusOr<LearnResult> Run();

  static uint64_t Queries(int d) {
    return static_cast<uint64_t>(d * d + d - 1) * kBits + d + 1;
  }
  static uint64_t Tokens(int d) {
    return static_cast<uint64_t>(d - 1) * kBits + 1 +
           2 * static_cast<uint64_t>(d) *
               (1 + static_cast<uint64_t>(d) * kBits);
  }

 private:
  using SignOf = std::function<absl::StatusOr<bool>(const Vector& u)>;

  void Say(const std::string& line) {
    SayProgress(options_, "sign-bisect", line);
  }
  void Report(double est, LearnResult& result) {
    CurvePoint point = SpentSince(oracle_, start_);
    point.est_functional_rel_err = est;
    ReportCurvePoint(options_, point, &result);
  }
  // True when the answer to `x` is +1 (f >= 0).
  absl::StatusOr<bool> NonNegative(const Matrix& x) {
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> answers,
                          oracle_.Query(std::span<const Matrix>(&x, 1)));
    return answers[0](0, 0) > 0;
  }
  // The unit direction of c from sign(u^T c) (u of norm `norm`), by d - 1
  // angle bisections after one sign query, rotating from the first of the
  // orthonormal `axes` towards each of the others in turn.
  absl::StatusOr<Vector> Direction(const SignOf& sign_of, const Matrix& axes,
                                   double norm);

  QueryOracle& oracle_;
  const LearnOptions& options_;
  const LayerSpec& spec_;
  const int d_;
  const Usage start_;
  Rng rng_;
};

absl::StatusOr<Vector> SignBisect::Direction(const SignOf& sign_of,
                                             const Matrix& axes, double norm) {
  ATTN_ASSIGN_OR_RETURN(const bool first, sign_of(axes.col(0) * norm));
  Vector w = axes.col(0) * (first ? 1.0 : -1.0);
  for (int k = 1; k < d_; ++k) {
    const Vector e = axes.col(k);
    double lo = 0, hi = std::numbers::pi;  // + at lo, - at hi
    for (int b = 0; b < kBits; ++b) {
      double t = (lo + hi) / 2;
      // At t = pi / 2 the c_j designs' threshold m is 0 (v.u = 0 when the
      // first axis is v^) and the answer's sign is rounding: never probe
      // there (the first midpoint would), split a little off centre.
      if (std::abs(std::cos(t)) < kOffCentreCos) {
        t = lo + kOffCentreSplit * (hi - lo);
      }
      ATTN_ASSIGN_OR_RETURN(
          const bool plus, sign_of((std::cos(t) * w + std::sin(t) * e) * norm));
      (plus ? lo : hi) = t;
    }
    const double t = (lo + hi) / 2;
    w = (std::sin(t) * w - std::cos(t) * e).normalized();
  }
  return w;
}

absl::StatusOr<LearnResult> SignBisect::Run() {
  const std::string why = ScalarChallengeProblem(oracle_.info(), kDesign);
  if (!why.empty()) return RefuseScalarChallenge(oracle_.info(), kDesign, why);
  const uint64_t queries = Queries(d_);
  const uint64_t tokens = Tokens(d_);
  ATTN_RETURN_IF_ERROR(CheckDesignBudget(
      oracle_.usage(), queries, tokens,
      absl::StrCat("sign-bisect needs ", queries, " queries (", tokens,
                   " tokens) for d_model ", d_)));
  const double max_input =
      kInputHeadroom * oracle_.info().policy.limits.max_abs_input;
  // The error of one bisected angle, pi 2^-kBits, compounds over the d - 1
  // angles of a direction: the curve reports (d angle errors)^2 as its
  // estimate of the relative squared error of the parameters.
  const double angle_error = std::numbers::pi * std::exp2(-kBits);
  const double direction_error = d_ * angle_error;
  LearnResult result;

  ATTN_ASSIGN_OR_RETURN(const Vector v_hat,
                        Direction(
                            [&](const Vector& u) -> absl::StatusOr<bool> {
                              return NonNegative(u.transpose());
                            },
                            Matrix::Identity(d_, d_), 1.0));
  Report(direction_error * direction_error, result);
  Say(absl::StrCat("v / |v| from ",
                   oracle_.usage().queries_used - start_.queries_used,
                   " one-token sign queries"));

  // Axes: v^ and an orthonormal basis y_1 .. y_{d-1} of its complement,
  // rotated at random (options.seed).
  // The direction bisections start at +-v^ and rotate towards the y_k, so
  // v^.u = cos t (v^.w) vanishes only at t = pi / 2 and the threshold m
  // stays clear of 0 elsewhere. Basis tokens b_j = -v^ + y_j (b_d = -v^)
  // all have v^.b = -1 and a condition number below 3.
  Matrix frame(d_, d_);
  frame.col(0) = v_hat;
  for (int j = 1; j < d_; ++j) {
    for (int i = 0; i < d_; ++i) frame(i, j) = rng_.NextGaussian();
  }
  const Eigen::HouseholderQR<Matrix> qr(frame);
  Matrix axes = qr.householderQ() * Matrix::Identity(d_, d_);
  axes.col(0) = v_hat;
  Matrix basis(d_, d_), columns(d_, d_);
  for (int j = 0; j < d_; ++j) {
    basis.col(j) = -v_hat;
    if (j + 1 < d_) basis.col(j) += axes.col(j + 1);
  }
  double column_norm_sum = 0;
  for (int j = 0; j < d_; ++j) {
    const Vector b = basis.col(j);
    const double vb = v_hat.dot(b);  // < 0
    ATTN_ASSIGN_OR_RETURN(const Vector c_hat,
                          Direction(
                              [&](const Vector& u) -> absl::StatusOr<bool> {
                                const double m = -v_hat.dot(u) / (2 * vb);
                                Matrix x(2, d_);
                                x.row(0) = (m * b + u).transpose();
                                x.row(1) = (m * b).transpose();
                                return NonNegative(x);
                              },
                              axes, std::min(kDirectionNorm, max_input / 2)));
    // |c_j|: u = g c^ + l q with q orthogonal to c^ carrying v.u.
    const Vector q = (v_hat - v_hat.dot(c_hat) * c_hat).normalized();
    double g = 1;
    if (j > 0) g = kTargetLogit / (column_norm_sum / j);
    g = std::min(g, max_input / 2);
    double lo = 0, hi = std::numbers::pi / 2;  // logit above trial at lo
    for (int bit = 0; bit < kBits; ++bit) {
      const double phi = (lo + hi) / 2;
      const double trial = kLogitSpread * std::tan(phi);
      // tau = sigmoid(trial) = -v.b / v.u sets v.u, and l from it.
      const double tau = 1 / (1 + std::exp(-trial));
      const double vu = -vb / tau;
      const double l = (vu - g * v_hat.dot(c_hat)) / v_hat.dot(q);
      const Vector u = g * c_hat + l * q;
      if (u.cwiseAbs().maxCoeff() > max_input) {
        return absl::FailedPreconditionError(absl::StrCat(
            "sign-bisect: the magnitude design for column ", j,
            " needs inputs above ", max_input,
            " (policy.limits.max_abs_input is too small for this layer)"));
      }
      Matrix x(2, d_);
      x.row(0) = (b + u).transpose();
      x.row(1) = b.transpose();
      // f = v.u (sigmoid(g |c|) - tau): + when the logit is above the trial.
      ATTN_ASSIGN_OR_RETURN(const bool above, NonNegative(x));
      (above ? lo : hi) = phi;
    }
    const double logit = kLogitSpread * std::tan((lo + hi) / 2);
    const double norm = logit / g;
    columns.col(j) = norm * c_hat;
    column_norm_sum += norm;
    Report(direction_error * direction_error, result);
    Say(absl::StrFormat("W b_%d: direction and |W b_%d| = %.6g (logit %.4g)", j,
                        j, norm, logit));
  }
  const Matrix w = columns * basis.inverse();
  HeadParams head;
  // Scores are x_N^T theta x_i: theta = W^T.
  head.wq = w.transpose() / spec_.score_scale;
  head.wk = Matrix::Identity(d_, d_);
  head.wv = v_hat;
  head.wo = Matrix::Ones(1, 1);
  result.hypothesis.heads.push_back(std::move(head));
  Say(absl::StrCat("done: ", oracle_.usage().queries_used - start_.queries_used,
                   " queries (budgeted ", queries, ", (d^2 + d) x ", kBits,
                   " = ", static_cast<uint64_t>(d_ * d_ + d_) * kBits, ")"));
  return result;
}

}  // namespace

absl::StatusOr<LearnResult> LearnSignBisect(QueryOracle& oracle,
                                            const LearnOptions& options) {
  return SignBisect(oracle, options).Run();
}

}  // namespace attnoracle
