// The scalar-lowrank learner (Bhattamishra et al.): exact recovery of one
// softmax head of rank r = head_dim < d_model, read out as one number at
// the last position, by low-rank matrix sensing.
//
// f(X) = sum_i softmax(s)_i v.x_i with s_i = x_N^T Theta x_i, Theta =
// score_scale wq wk^T of rank r, v = wv wo. A lone token attends to itself,
// so the d one-token queries e_j give v. A two-token query [x1; x2] (x2
// last) answers f = v.x2 + sigmoid(D) (v.x1 - v.x2) with D = s1 - s2 =
// x2^T Theta (x1 - x2): one linear measurement <Theta, x2 (x1 - x2)^T> of a
// rank-r matrix, decoded exactly from the answer. Theta = A B^T (A, B:
// d x r) is the rank-r matrix fitting all m measurements (factored least
// squares):
//   round 1  r groups of d pairs, x1 gaussian and x2 the group's shared
//            gaussian a_g: D = w_g.(x1 - a_g) is linear in w_g = Theta^T
//            a_g, and the w_g span B's columns; with B = [w_1 .. w_r] every
//            D is linear in A, a start exact up to rounding;
//   round 2  the other pairs, x1 and x2 gaussian, their entries' standard
//            deviation rescaled so the median |D| of round 1 becomes 1;
// after each round alternating least squares (B fixed, each D is linear
// in A, and conversely), then Levenberg-Marquardt on (A, B) jointly (its
// damping covers the r^2-dimensional gauge null space of the Jacobian),
// from the round-1 start, keeping the best fit. A spectral start (the top-r
// SVD of sum D_i x2_i x1_i^T) with random restarts stalled at relative
// residuals of 1e-3 to 1e-1 on rank-1 instances; the grouped start never did.
// The measurements are fitted unweighted, and those whose answer pins D
// only loosely (see kMaxLogitError) are left out.
// The design spends d + m queries, m = 2 (r (2d - r) + d) - d: twice the
// counting bound r (2d - r) + d (Theta's degrees of freedom plus v's).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/scalar_challenge.h"
#include "client/learners/scalar_head_reader.h"
#include "common/attention.h"
#include "common/rng.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// Rng stream index of the measurement pairs.
constexpr uint64_t kPairStream = 0x5CA1A2;
// Standard deviation of the first round's token entries: with the default
// prior (entries N(0, 1 / d)) Theta has Frobenius norm about 1 and D is
// about sqrt(2) sigma^2 ||Theta||_F.
constexpr double kFirstRoundSigma = 1.0;
// Later rounds rescale the tokens so the median |D| is about this: the
// sigmoid's slope is still a fifth of its peak there.
constexpr double kTargetMedianLogit = 1.0;
// Relative rounding of a float64 answer, and the largest error of a
// decoded logit that the fit admits.
constexpr double kAnswerPrecision = 0x1p-52;
constexpr double kMaxLogitError = 1e-10;
constexpr int kAlsIterations = 20;
constexpr int kLevenbergMarquardtIterations = 300;
constexpr double kInitialDamping = 1e-3;
constexpr double kDampingFactor = 4;
constexpr double kMaxDamping = 1e12;
// Added to the damped diagonal, relative to lambda, so the gauge null
// space of (A, B) -> A B^T never leaves the system singular.
constexpr double kDampingFloor = 1e-12;
// A fit whose residual falls below this (relative, squared) is
// exact to float64 precision; iterating further changes nothing.
constexpr double kConvergedRelResidual = 1e-24;

struct Measurement {
  Vector a;           // x2, the last token
  Vector b;           // x1 - x2
  double logit = 0;   // D = a^T Theta b
  int group = -1;     // g when x2 is the group's shared a_g, else -1
  double weight = 1;  // every measurement counts alike (see above)
};

class LowRankFit {
 public:
  LowRankFit(const std::vector<Measurement>& ms, int d, int r)
      : ms_(ms), d_(d), r_(r) {}

  // Relative squared residual of Theta = a b^T.
  double RelResidual(const Matrix& a, const Matrix& b) const {
    double num = 0, den = 0;
    for (const Measurement& m : ms_) {
      const double pred = (a.transpose() * m.a).dot(b.transpose() * m.b);
      num += m.weight * m.weight * (pred - m.logit) * (pred - m.logit);
      den += m.weight * m.weight * m.logit * m.logit;
    }
    return den > 0 ? num / den : num;
  }

  // A start from the grouped measurements: within group g every x2 is the
  // same a_g, so D = (Theta^T a_g).(x1 - a_g) is linear in w_g = Theta^T
  // a_g = B (A^T a_g), and the r groups' w_g span B's columns; with B = [w_g]
  // every D is linear in A. False when the groups do not fix B.
  bool GroupStart(int groups, Matrix& a, Matrix& b) const {
    b.resize(d_, r_);
    for (int g = 0; g < groups; ++g) {
      std::vector<const Measurement*> in;
      for (const Measurement& m : ms_) {
        if (m.group == g) in.push_back(&m);
      }
      if (static_cast<int>(in.size()) < d_) return false;
      Matrix rows(static_cast<Eigen::Index>(in.size()), d_);
      Vector y(static_cast<Eigen::Index>(in.size()));
      for (size_t i = 0; i < in.size(); ++i) {
        rows.row(i) = in[i]->b.transpose();
        y(i) = in[i]->logit;
      }
      b.col(g) = rows.colPivHouseholderQr().solve(y);
    }
    a = SolveFactor(b, /*first=*/true);
    return true;
  }

  // Alternating least squares, then Levenberg-Marquardt, from (a, b);
  // returns the best Theta = A B^T met and sets *rel_residual to its
  // RelResidual.
  Matrix Solve(Matrix a, Matrix b, double* rel_residual) const {
    double best = std::numeric_limits<double>::infinity();
    Matrix best_theta;
    Refine(a, b, best, best_theta);
    *rel_residual = best;
    return best_theta;
  }

 private:
  // Alternating least squares, then Levenberg-Marquardt, from (a, b);
  // replaces (best, best_theta) by any better fit met.
  void Refine(Matrix& a, Matrix& b, double& best, Matrix& best_theta) const {
    {
      const double rel = RelResidual(a, b);
      if (rel < best) best = rel, best_theta = a * b.transpose();
    }
    for (int it = 0; it < kAlsIterations && best > kConvergedRelResidual;
         ++it) {  // best covers this start's fits too: stop once exact
      a = SolveFactor(b, /*first=*/true);
      b = SolveFactor(a, /*first=*/false);
      const double rel = RelResidual(a, b);
      if (rel < best) best = rel, best_theta = a * b.transpose();
    }
    double lambda = kInitialDamping;
    double current = RelResidual(a, b);
    for (int it = 0; it < kLevenbergMarquardtIterations &&
                     current > kConvergedRelResidual && lambda < kMaxDamping;
         ++it) {
      Matrix a_try = a, b_try = b;
      LevenbergMarquardtStep(lambda, a_try, b_try);
      const double rel = RelResidual(a_try, b_try);
      if (rel < current) {
        current = rel;
        if (rel < best) best = rel, best_theta = a_try * b_try.transpose();
        a = std::move(a_try), b = std::move(b_try);
        lambda /= kDampingFactor;
      } else {
        lambda *= kDampingFactor;
      }
    }
  }

  // With the other factor fixed every logit is linear in this one:
  // first: D = a^T A c, c = B^T b; else D = b^T B e, e = A^T a.
  Matrix SolveFactor(const Matrix& other, bool first) const {
    Matrix j(static_cast<Eigen::Index>(ms_.size()), d_ * r_);
    Vector y(static_cast<Eigen::Index>(ms_.size()));
    for (size_t i = 0; i < ms_.size(); ++i) {
      const Measurement& m = ms_[i];
      const Vector& row = first ? m.a : m.b;
      const Vector c = other.transpose() * (first ? m.b : m.a);
      for (int k = 0; k < r_; ++k) {
        j.row(i).segment(k * d_, d_) = m.weight * c(k) * row.transpose();
      }
      y(i) = m.weight * m.logit;
    }
    const Vector x = j.colPivHouseholderQr().solve(y);
    return Eigen::Map<const Matrix>(x.data(), r_, d_).transpose();
  }

  // Solves (J^T J + lambda diag(J^T J)) step = J^T residual.
  void LevenbergMarquardtStep(double lambda, Matrix& a, Matrix& b) const {
    const Eigen::Index n = static_cast<Eigen::Index>(ms_.size());
    Matrix j(n, 2 * d_ * r_);
    Vector res(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      const Measurement& m = ms_[i];
      const Vector c = b.transpose() * m.b;
      const Vector e = a.transpose() * m.a;
      for (int k = 0; k < r_; ++k) {
        j.row(i).segment(k * d_, d_) = m.weight * c(k) * m.a.transpose();
        j.row(i).segment((r_ + k) * d_, d_) = m.weight * e(k) * m.b.transpose();
      }
      res(i) = m.weight * (m.logit - e.dot(c));
    }
    Matrix normal = j.transpose() * j;
    normal.diagonal().array() *= 1 + lambda;
    normal.diagonal().array() += lambda * kDampingFloor;
    const Vector step = normal.ldlt().solve(j.transpose() * res);
    for (int k = 0; k < r_; ++k) {
      a.col(k) += step.segment(k * d_, d_);
      b.col(k) += step.segment((r_ + k) * d_, d_);
    }
  }

  const std::vector<Measurement>& ms_;
  int d_;
  int r_;
};

LayerParams LowRankHypothesis(const LayerSpec& spec, const Matrix& theta,
                              const Vector& v) {
  LayerParams params;
  params.heads.push_back(ScalarHeadFromScores(spec, theta, v));
  return params;
}

}  // namespace

absl::StatusOr<LearnResult> LearnScalarLowRank(QueryOracle& oracle,
                                               const LearnOptions& options) {
  const ChallengeInfo& info = oracle.info();
  const LayerSpec& spec = info.spec;
  const ScalarDesign design{
      .learner = "scalar-lowrank",
      .solves =
          "one softmax head of head_dim below d_model read out as one "
          "number at the last position, from chosen queries answered "
          "with exact values",
      .max_heads = 1};
  std::string why = ScalarChallengeProblem(info, design);
  if (why.empty() && spec.head_dim >= spec.d_model) {
    why = absl::StrCat("its head_dim ", spec.head_dim, " is not below d_model ",
                       spec.d_model,
                       " (spec.head_dim): Theta has full rank, use probe");
  }
  if (!why.empty()) return RefuseScalarChallenge(info, design, why);
  const int d = spec.d_model;
  const int r = spec.head_dim;
  const uint64_t bound = static_cast<uint64_t>(r) * (2 * d - r) + d;
  const uint64_t pairs = 2 * bound - d;
  const uint64_t queries = d + pairs;
  const uint64_t tokens = d + 2 * pairs;
  const Usage start = oracle.usage();
  if (start.queries_left < queries || start.tokens_left < tokens ||
      info.policy.limits.max_tokens_per_sequence < 2) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "scalar-lowrank's design needs ", queries, " queries (", d,
        " of one token, ", pairs, " of two) and ", tokens, " tokens; ",
        start.queries_left, " queries and ", start.tokens_left,
        " tokens are left to this run, and a sequence may hold ",
        info.policy.limits.max_tokens_per_sequence,
        " tokens; nothing was spent"));
  }
  auto say = [&](const std::string& line) {
    if (options.progress != nullptr) {
      *options.progress << "scalar-lowrank: " << line << std::endl;
    }
  };

  LearnResult result;
  Rng rng(DeriveSeed(options.seed, RngStream::kLearner, kPairStream));
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> v_answers,
                        QueryInBatches(oracle, BasisTokenQueries(d)));
  Vector v(d);
  for (int j = 0; j < d; ++j) v(j) = v_answers[j](0, 0);
  say(absl::StrCat("v from ", d, " one-token queries"));

  std::vector<Measurement> ms;
  std::vector<Matrix> inputs;
  std::vector<double> answers;
  double sigma = kFirstRoundSigma;
  Matrix theta = Matrix::Zero(d, d);
  Matrix a_start, b_start;
  int loose = 0;
  // Round 1: r groups of d pairs sharing their last token; round 2: the
  // other pairs, every token drawn afresh.
  const uint64_t grouped = static_cast<uint64_t>(r) * d;
  for (int round = 0; round < 2; ++round) {
    const uint64_t count = round == 0 ? grouped : pairs - grouped;
    std::vector<Matrix> sequences;
    Vector shared(d);
    for (uint64_t i = 0; i < count; ++i) {
      if (round == 0 && i % d == 0) {
        for (int j = 0; j < d; ++j) shared(j) = sigma * rng.NextGaussian();
      }
      Matrix x(2, d);
      for (int t = 0; t < 2; ++t) {
        for (int j = 0; j < d; ++j) x(t, j) = sigma * rng.NextGaussian();
      }
      if (round == 0) x.row(1) = shared.transpose();
      sequences.push_back(std::move(x));
    }
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got,
                          QueryInBatches(oracle, sequences));
    std::vector<double> logits;
    for (uint64_t i = 0; i < count; ++i) {
      const Vector x1 = sequences[i].row(0).transpose();
      const Vector x2 = sequences[i].row(1).transpose();
      const double f = got[i](0, 0);
      const double gap = v.dot(x1 - x2);
      const double weight = (f - v.dot(x2)) / gap;
      inputs.push_back(sequences[i]);
      answers.push_back(f);
      // The rounding of f moves D by about eps (|v.x1| + |v.x2|) /
      // (|v.(x1 - x2)| w (1 - w)): a saturated softmax or nearly equal
      // values pin the logit only loosely, and such an answer would be an
      // outlier to the least squares; it is left out.
      const double logit_error = kAnswerPrecision *
                                 (std::abs(v.dot(x1)) + std::abs(v.dot(x2))) /
                                 (std::abs(gap) * weight * (1 - weight));
      if (!(weight > 0 && weight < 1 && logit_error < kMaxLogitError)) {
        ++loose;
        continue;
      }
      Measurement m{.a = x2, .b = x1 - x2};
      m.logit = std::log(weight / (1 - weight));
      if (round == 0) m.group = static_cast<int>(i / d);
      logits.push_back(std::abs(m.logit));
      ms.push_back(std::move(m));
    }
    const LowRankFit fit(ms, d, r);
    double residual = std::numeric_limits<double>::infinity();
    if (round == 0) {
      if (!fit.GroupStart(r, a_start, b_start)) {
        // Too many loose answers in a group: start from a random point.
        a_start = Matrix::Zero(d, r), b_start = Matrix::Zero(d, r);
        for (int i = 0; i < d; ++i) {
          for (int k = 0; k < r; ++k) {
            a_start(i, k) = rng.NextGaussian() / d;
            b_start(i, k) = rng.NextGaussian();
          }
        }
      }
    }
    theta = fit.Solve(a_start, b_start, &residual);
    const LayerParams hypothesis = LowRankHypothesis(spec, theta, v);
    CurvePoint point;
    point.queries = oracle.usage().queries_used - start.queries_used;
    point.tokens = oracle.usage().tokens_used - start.tokens_used;
    point.est_functional_rel_err =
        ScalarAnswerRelErr(spec, hypothesis, inputs, answers);
    ReportCurvePoint(options, point, &result);
    say(absl::StrFormat(
        "round %d: %d measurements (%d loose answers left out), fit "
        "residual %.3e, relative error on the answers %.3e",
        round + 1, ms.size(), loose, residual, point.est_functional_rel_err));
    if (!logits.empty()) {
      std::nth_element(logits.begin(), logits.begin() + logits.size() / 2,
                       logits.end());
      const double median = logits[logits.size() / 2];
      if (median > 0) sigma *= std::sqrt(kTargetMedianLogit / median);
    }
  }
  result.hypothesis = LowRankHypothesis(spec, theta, v);
  return result;
}

}  // namespace attnoracle
