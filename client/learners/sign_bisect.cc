// The sign-bisect learner (Bhattamishra et al., membership answers): the
// scalar last-token model f(X) = sum_i softmax(s)_i v^T x_i, s_i = x_i^T W
// x_N, recovered from the signs of f alone, each number by bisection on one
// scalar parameter of the query (kBits queries per number).
//
// Signs are unchanged when v is scaled by a positive number, so v is
// recovered as a unit vector; W is identifiable in full (it sets the softmax
// weights, whose threshold the design below places).
//
// v: for a vector c and an oracle of sign(u^T c), the direction of c follows
// from d - 1 angle bisections: w_1 = sign(c_1) e_1; then in the plane of w_k
// (with w_k^T c > 0) and e_{k+1}, sign((cos t w_k + sin t e_{k+1})^T c) is +
// at t = 0 and - at t = pi with one flip t* between, and w_{k+1} = sin t*
// w_k - cos t* e_{k+1} is the unit direction of c's projection on span(e_1
// .. e_{k+1}), again with w_{k+1}^T c > 0. The one-token query [u] answers
// sign(v.u).
// W: with y_1 .. y_{d-1} a random orthonormal basis of v^'s complement, the
// tokens b_j = -v^ + y_j (b_d = -v^) and a_k = v^ + y_k (a_d = v^) are bases
// with v^.b_j = -1 and v^.a_k = 1. For an entry mu = a_k^T W b_j, a scale s
// and a logit L, the query [alpha b_j + s a_k; alpha b_j] with alpha = s
// sigmoid(L) has the logit difference alpha s mu and the answer
//   f = alpha v.b_j + sigmoid(alpha s mu) s v.a_k
//     = s |v| (sigmoid(alpha s mu) - sigmoid(L))   (v = |v| v^),
// so sign(f) = sign(mu - theta) with theta = L / (sigmoid(L) s^2): one
// comparison of mu with a threshold of our choosing (L / sigmoid(L)
// increases from -inf to +inf). Each theta is asked at the s with s^2
// |theta| = 1 (L between -0.4 and 0.7), where the threshold sigmoid(L) is
// well inside the sigmoid's sensitive range, unless the input limit caps s
// first. The threshold depends on v only through v.b_j / v.a_k, which v^'s
// error e moves by about e; that moves the compared entry by about
// 4 e / s^2, a few times e relative while s^2 |theta| = 1, and absolute
// where s is capped: for small W the largest s the input limit allows
// (per pair, from the entries of a_k and b_j) keeps that term small.
// The first entry is bisected over theta = c sinh(u), c a floor far below
// any readable entry and u in (-80, 80): scale-free, to 80 2^-40 (7e-11)
// relative. Each later entry is bisected over theta = r tan(phi), phi in
// (-pi / 2, pi / 2), r the root mean square of the entries read so far:
// tan's resolution (pi 2^-40 r, 3e-12 r) is finest there.
// Then W = A^-T M B^-1 (M the matrix of the mu).
// In all, 1 + (d - 1) kBits queries for v and d^2 kBits for W:
// (d^2 + d - 1) kBits + 1 < (d^2 + d) kBits queries.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/scalar_challenge.h"
#include "client/learners/scalar_learner.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// Bisection steps per number: an angle to pi 2^-40 (about 3e-12).
constexpr int kBits = 40;
// Below this input limit the design loses too much precision to be run.
constexpr double kMinInputLimit = 16;
// Each comparison of an entry mu with a threshold theta is asked at the
// scale s with s^2 |theta| = kThresholdLogit (s capped by the input limit),
// so that the threshold sigmoid(L) the query sets stays in the sigmoid's
// sensitive range (L between -0.5 and 0.7): there v^'s error moves the
// compared value by a few times that error, relative.
constexpr double kThresholdLogit = 1;
// Bisection steps of the local root finder for L (to double precision).
constexpr int kRootSteps = 100;
// Input entries stay within this share of policy.limits.max_abs_input (the
// rest absorbs the rounding of alpha b_j + s a_k).
constexpr double kSignHeadroom = 0.999;
// The first entry's thresholds c sinh(u), u in (-kFirstEntryLogRange,
// kFirstEntryLogRange), c = kFloorLogit / max_abs_input^2: entries below c
// give logits below kFloorLogit at the largest inputs; the range reaches
// c e^80 / 2, about 2.6e28 / max_abs_input^2. An entry read so is within
// kFirstEntryLogRange 2^-kBits (7e-11) of itself, relative.
constexpr double kFirstEntryLogRange = 80;
constexpr double kFloorLogit = 0x1p-20;

const ScalarDesign kSignDesign{
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

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// The thresholds one entry is bisected over, as a function of the bisected
// angle phi in (-pi / 2, pi / 2): unit tan(phi), or, scale-free, unit
// sinh(kFirstEntryLogRange phi / (pi / 2)). Both increase with phi.
struct Thresholds {
  double unit = 1;
  bool log_range = false;

  double At(double phi) const {
    if (log_range) {
      return unit *
             std::sinh(kFirstEntryLogRange * phi / (std::numbers::pi / 2));
    }
    return unit * std::tan(phi);
  }
};

// The largest s for which no entry of the tokens alpha b + s a and alpha b
// (0 <= alpha <= s) exceeds `max_input`: each entry is linear in alpha, so
// its extremes are s a_i, s (a_i + b_i) and s b_i.
double MaxScale(const Vector& a, const Vector& b, double max_input) {
  const double largest =
      std::max({a.cwiseAbs().maxCoeff(), b.cwiseAbs().maxCoeff(),
                (a + b).cwiseAbs().maxCoeff()});
  return max_input / largest;
}

class SignBisect : public ScalarLearner {
 public:
  SignBisect(QueryOracle& oracle, const LearnOptions& options)
      : ScalarLearner(oracle, options, kSignDesign) {}

  absl::StatusOr<LearnResult> Run();

  static uint64_t Queries(int d) {
    return static_cast<uint64_t>(d * d + d - 1) * kBits + 1;
  }
  static uint64_t Tokens(int d) {
    return static_cast<uint64_t>(d - 1) * kBits + 1 +
           2 * static_cast<uint64_t>(d) * d * kBits;
  }

 private:
  // True when the answer to `x` is +1 (f >= 0).
  absl::StatusOr<bool> NonNegative(const Matrix& x) {
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> answers,
                          oracle_.Query(std::span<const Matrix>(&x, 1)));
    return answers[0](0, 0) > 0;
  }
  // The unit direction of v from one-token sign queries: one sign, then
  // d - 1 angle bisections.
  absl::StatusOr<Vector> UnitV();
  // a^T W b from kBits two-token queries, each comparing it with one
  // threshold thresholds.At(phi) (see the file comment; v^.a = 1,
  // v^.b = -1), asked at scales up to max_scale.
  absl::StatusOr<double> Entry(const Vector& a, const Vector& b,
                               const Thresholds& thresholds, double max_scale);
};

absl::StatusOr<Vector> SignBisect::UnitV() {
  Matrix x = Matrix::Zero(1, d_);
  x(0, 0) = 1;
  ATTN_ASSIGN_OR_RETURN(const bool first, NonNegative(x));
  Vector w = Vector::Unit(d_, 0) * (first ? 1.0 : -1.0);
  for (int k = 1; k < d_; ++k) {
    const Vector e = Vector::Unit(d_, k);
    double lo = 0, hi = std::numbers::pi;  // + at lo, - at hi
    for (int b = 0; b < kBits; ++b) {
      const double t = (lo + hi) / 2;
      x.row(0) = (std::cos(t) * w + std::sin(t) * e).transpose();
      ATTN_ASSIGN_OR_RETURN(const bool plus, NonNegative(x));
      (plus ? lo : hi) = t;
    }
    const double t = (lo + hi) / 2;
    w = (std::sin(t) * w - std::cos(t) * e).normalized();
  }
  return w;
}

// The logit L with L / sigmoid(L) = y (that function increases from -inf
// to +inf; its root lies in [min(y, 0) - 1, max(y, 0)]).
double FlipLogit(double y) {
  double lo = std::min(y, 0.0) - 1, hi = std::max(y, 0.0);
  for (int i = 0; i < kRootSteps; ++i) {
    const double mid = (lo + hi) / 2;
    (mid / Sigmoid(mid) < y ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

absl::StatusOr<double> SignBisect::Entry(const Vector& a, const Vector& b,
                                         const Thresholds& thresholds,
                                         double max_scale) {
  Matrix x(2, d_);
  // + while the threshold is at or below mu.
  double lo = -std::numbers::pi / 2, hi = std::numbers::pi / 2;
  for (int bit = 0; bit < kBits; ++bit) {
    const double phi = (lo + hi) / 2;
    const double threshold = thresholds.At(phi);
    // The scale that puts this threshold at the logit of kThresholdLogit.
    double s = max_scale;
    if (threshold != 0) {
      s = std::min(max_scale, std::sqrt(kThresholdLogit / std::abs(threshold)));
    }
    const double alpha = s * Sigmoid(FlipLogit(s * s * threshold));
    x.row(0) = (alpha * b + s * a).transpose();
    x.row(1) = (alpha * b).transpose();
    ATTN_ASSIGN_OR_RETURN(const bool plus, NonNegative(x));
    (plus ? lo : hi) = phi;
  }
  return thresholds.At((lo + hi) / 2);
}

absl::StatusOr<LearnResult> SignBisect::Run() {
  ATTN_RETURN_IF_ERROR(CheckChallenge());
  const uint64_t queries = Queries(d_);
  const uint64_t tokens = Tokens(d_);
  ATTN_RETURN_IF_ERROR(
      CheckBudget(queries, tokens,
                  absl::StrCat("sign-bisect needs ", queries, " queries (",
                               tokens, " tokens) for d_model ", d_)));
  const double max_input =
      kSignHeadroom * oracle_.info().policy.limits.max_abs_input;
  // The error of one bisected angle, pi 2^-kBits, compounds over the d - 1
  // angles of v^: the curve reports (d angle errors)^2 as its estimate of
  // the relative squared error of the parameters.
  const double angle_error = std::numbers::pi * std::exp2(-kBits);
  const double direction_error = d_ * angle_error;
  LearnResult result;

  ATTN_ASSIGN_OR_RETURN(const Vector v_hat, UnitV());
  Report(direction_error * direction_error, &result);
  Say(absl::StrCat("v / |v| from ",
                   oracle_.usage().queries_used - start_.queries_used,
                   " one-token sign queries"));

  // y_1 .. y_{d-1}: an orthonormal basis of v^'s complement, rotated at
  // random (options.seed). Both bases have condition numbers below 3.
  Matrix frame(d_, d_);
  frame.col(0) = v_hat;
  for (int j = 1; j < d_; ++j) {
    for (int i = 0; i < d_; ++i) frame(i, j) = rng_.NextGaussian();
  }
  const Eigen::HouseholderQR<Matrix> qr(frame);
  const Matrix axes = qr.householderQ() * Matrix::Identity(d_, d_);
  Matrix a(d_, d_), b(d_, d_);
  for (int j = 0; j < d_; ++j) {
    a.col(j) = v_hat;
    b.col(j) = -v_hat;
    if (j + 1 < d_) {
      a.col(j) += axes.col(j + 1);
      b.col(j) += axes.col(j + 1);
    }
  }
  Matrix mu(d_, d_);  // mu(k, j) = a_k^T W b_j
  double mu_square_sum = 0;
  int read = 0;
  for (int j = 0; j < d_; ++j) {
    for (int k = 0; k < d_; ++k) {
      // The first entry on a scale-free range; the later ones around the
      // typical size of the entries read so far, where tan's resolution is
      // finest.
      Thresholds thresholds;
      if (read == 0) {
        const double limit = oracle_.info().policy.limits.max_abs_input;
        thresholds = {.unit = kFloorLogit / (limit * limit), .log_range = true};
      } else if (mu_square_sum > 0) {
        thresholds.unit = std::sqrt(mu_square_sum / read);
      }
      ATTN_ASSIGN_OR_RETURN(mu(k, j),
                            Entry(a.col(k), b.col(j), thresholds,
                                  MaxScale(a.col(k), b.col(j), max_input)));
      mu_square_sum += mu(k, j) * mu(k, j);
      ++read;
    }
    Report(direction_error * direction_error, &result);
    Say(absl::StrFormat("a_k^T W b_%d for every k: norm %.6g", j,
                        mu.col(j).norm()));
  }
  const Matrix w = a.transpose().inverse() * mu * b.inverse();
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
