// The `regress` learner: random gaussian queries, then a least-squares fit of
// the public architecture with analytic gradients (common/attention_grad.h).
//
// Optimiser: L-BFGS with a strong-Wolfe line search, from random starts drawn
// at the prior's scale until one reaches the target. Adam (FitAdam) is kept as
// the baseline it was measured against: on two-head-d16 with 2,000 exact
// tokens both reach a relative loss of 1e-26, Adam in ~3,000 iterations and
// 2-8 s, L-BFGS in ~300 iterations and 0.2-0.6 s; with 100 tokens L-BFGS
// still recovers the layer after a few restarts where Adam does not.
//
// Reproducibility: every random choice derives from LearnOptions::seed and
// the arithmetic is single-threaded, so a run that stops on the target or on
// convergence repeats bit for bit on one machine. A run cut short by the
// wall-clock limit stops wherever the clock says.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/lm_damping.h"
#include "client/learners/regress_ffn_init.h"
#include "client/learners/regress_scalar_heads.h"
#include "client/learners/regress_varpro.h"
#include "common/attention.h"
#include "common/attention_grad.h"
#include "common/rng.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// Tokens spent when LearnOptions::max_tokens is 0: about forty times the
// counting bound of the default d=16 challenges, far below their budgets;
// more where the answers would carry fewer than kNumbersPerParameter
// numbers per free parameter (scalar outputs, FFN blocks).
constexpr uint64_t kDefaultTokens = 2000;
constexpr double kNumbersPerParameter = 3;
// Top-k answers hold k of out_dim numbers per row: twice the tokens
// (4,000 tokens of top3-last-token-d16 are 942 sequences, 2,826 answered
// numbers for 1,024 parameters).
constexpr uint64_t kDefaultTopKTokens = 4000;
// Query lengths, cycled. Full readout pays per token, so longer sequences
// cost nothing extra and mix more tokens per answer, but sequences of 8 fit
// two-head-d16 near its counting bound more often than a mix of 4, 8 and 16
// (docs/REPRODUCTION.md, "Beyond the papers: regress"); last-position
// readout answers once per sequence, so short sequences get more answers
// per token.
constexpr int kFullReadoutLengths[] = {8};
constexpr int kLastReadoutLengths[] = {2, 3, 4, 8};
// Every kHoldOutStride-th sequence is held out to estimate the error of the
// fit (the learning curve), when there are at least that many sequences.
constexpr int kHoldOutStride = 10;
// ... and only when the answers hold at least kHoldOutNumbersPerParameter
// numbers per free parameter: nearer the counting bound every answer is
// needed for the fit (multihead-scalar-d8-h2 at 158 queries: 142 training
// answers for 144 identifiable parameters fit exactly and wrongly), and
// the estimate then comes from the training set.
constexpr double kHoldOutNumbersPerParameter = 2;
// With a curve sink, the tokens are spent in rounds ending at these
// fractions of them, with a fit and a curve point after each; a round
// before the last may use kCurveRoundTimeShare of the time then left.
constexpr double kCurveRoundFractions[] = {0.25, 0.5, 1.0};
constexpr double kCurveRoundTimeShare = 0.25;
// Stop when sum ||r||^2 / sum ||t||^2 on the training set falls below this.
constexpr double kTargetRelLoss = 1e-26;
// The masked fit of top-k answers converges linearly near the end (measured
// on top3-last-token-d16: a decade of loss per ~4 s on a loaded 2-core
// machine), so it stops far below the 1e-10 functional target instead of
// at float64's floor.
constexpr double kTopKTargetRelLoss = 1e-20;
constexpr double kProgressIntervalSeconds = 1.0;

// Seed indices of the learner's random streams.
constexpr uint64_t kDesignStream = 0;
constexpr uint64_t kInitStreamBase = 1000;  // + restart number
constexpr uint64_t kFfnUnitsStream = 1;     // + attempt
constexpr uint64_t kFfnLocateAttempts = 3;

// L-BFGS.
constexpr int kLbfgsMemory = 20;
constexpr double kWolfeC1 = 1e-4;
constexpr double kWolfeC2 = 0.9;
constexpr int kMaxLineSearchEvaluations = 30;
// A restart that has not reduced its loss by kStallFactor over the last
// kStallWindow iterations is abandoned for a fresh one (a local minimum or a
// plateau), unless it is below the promising level: such a fit is taken to
// be in the global minimum's basin, runs to the target or to convergence,
// and no restart follows it. With noisy or float32 answers the level rises
// to kNoiseFloorFactor times the loss the noise alone leaves.
constexpr int kStallWindow = 2000;
constexpr double kStallFactor = 0.5;
constexpr double kPromisingRelLoss = 1e-12;
constexpr double kNoiseFloorFactor = 4;
// Variance of float32 rounding relative to the squared value, bounded above
// (half an ulp is at most 2^-24 of the value).
constexpr double kFloat32RelVariance = 0x1p-48;
// Input entries are N(0, sigma^2) with sigma = min(kQuerySigma,
// max_abs_input / kInputBoundSigmas), then clipped to max_abs_input.
// kNearBoundQuerySigma replaces kQuerySigma on exact answers when the design
// has fewer than AmpleTokens: a standard deviation of 0.5 rather than 1
// keeps the softmax away from saturation, where random starts fall into more
// local minima near the counting bound (docs/REPRODUCTION.md, "Beyond the
// papers: regress"). Elsewhere it costs: under noise the answers' signal
// grows with the inputs while the noise does not (noisy-single-head-d16 at
// 2,000 tokens: 8e-8 with 1, 3e-6 with 0.5), and with ample answers the
// flatter loss takes L-BFGS 2-4x the iterations (single-head-d16).
constexpr double kQuerySigma = 1;
constexpr double kNearBoundQuerySigma = 0.5;
constexpr double kInputBoundSigmas = 4;

// Levenberg-Marquardt on the last phase. A ReLU block makes the loss only
// piecewise smooth: L-BFGS, whose curvature estimate spans many kinks, then
// creeps (measured on transformer-ffn-d8: from 1e-3 to 1e-4 in 3,000
// iterations, 12 s). Once the units' activation pattern is nearly right the
// Gauss-Newton model is exact up to the few answers near a kink, and LM
// converges in tens of steps. L-BFGS hands over when it has not gained
// kHandoffFactor over the last kHandoffWindow iterations, and only where the
// Jacobian (answered numbers x parameters) has at most kMaxJacobianEntries.
constexpr int kHandoffWindow = 200;
constexpr double kHandoffFactor = 0.1;
constexpr double kMaxJacobianEntries = 2e6;
// Damping as in lm_damping.h; LM also gives up when kLmStallSteps accepted
// steps in a row gain less than kLmStallFactor.
constexpr int kLmStallSteps = 10;
constexpr double kLmStallFactor = 0.5;
// A start in the global minimum's basin converges in tens of LM steps; one
// still above the promising level after kLmMaxSteps steps (accepted or not)
// is in a valley where factors grow and cancel, and gives way to a fresh
// restart (two-head-d16 at 96 tokens: such fits creep by a few percent a
// step for minutes).
constexpr int kLmMaxSteps = 60;
// On full-sequence output LM solves the output projections by least squares
// inside the objective (variable projection, regress_varpro.h). With
// kLmBalanceGauge it also rebalances, after every accepted step, the factor
// pairs whose Gram matrices differ by more than kGaugeImbalance of their
// squared norms; off, because on two-head-d16 at 96 tokens restarts
// succeeded no more often with it (6.8% against 8.6% without; 4 and 7 of 8
// instances, docs/REPRODUCTION.md, "Beyond the papers: regress").
constexpr bool kLmVariableProjection = true;
constexpr bool kLmBalanceGauge = false;
constexpr double kGaugeImbalance = 0.5;

using Clock = std::chrono::steady_clock;

// Wall-clock limit and the once-a-second progress line.
class Monitor {
 public:
  Monitor(double limit_seconds, std::ostream* progress)
      : start_(Clock::now()),
        limit_seconds_(limit_seconds),
        progress_(progress) {}

  double Elapsed() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }
  bool OutOfTime() const { return Elapsed() >= limit_seconds_; }
  // Seconds since construction at which OutOfTime turns true.
  void set_limit(double limit_seconds) { limit_seconds_ = limit_seconds; }

  // Prints at most once per kProgressIntervalSeconds unless `force`.
  void Report(int restart, int iteration, double rel_loss, bool force) {
    if (progress_ == nullptr) return;
    const double now = Elapsed();
    if (!force && now < next_report_) return;
    next_report_ = now + kProgressIntervalSeconds;
    *progress_ << absl::StrFormat(
                      "regress: restart %d iter %d rel_loss %.3e elapsed %.1fs",
                      restart, iteration, rel_loss, now)
               << std::endl;
  }

 private:
  Clock::time_point start_;
  double limit_seconds_;
  std::ostream* progress_;
  double next_report_ = 0;
};

// Tokens per answered number: full readout returns OutputDim numbers per
// token, last position OutputDim per sequence of the pattern's mean length.
double TokensPerNumber(const LayerSpec& spec) {
  double tokens_per_number = 1.0 / OutputDim(spec);
  if (spec.readout == Readout::kLast) {
    double mean = 0;
    for (int n : kLastReadoutLengths) mean += n;
    tokens_per_number *= mean / std::size(kLastReadoutLengths);
  }
  return tokens_per_number;
}

// Tokens whose answers carry kNumbersPerParameter numbers per free
// parameter.
double AmpleTokens(const LayerSpec& spec) {
  return kNumbersPerParameter * ParamCount(spec) * TokensPerNumber(spec);
}

// kDefaultTokens, or AmpleTokens where that is more.
uint64_t DefaultTokens(const LayerSpec& spec) {
  return std::max(kDefaultTokens,
                  static_cast<uint64_t>(std::ceil(AmpleTokens(spec))));
}

// Gaussian tokens within the policy's input bound, in sequences
// whose lengths cycle through the readout's pattern, until `tokens` or
// `queries` run out.
std::vector<Matrix> DesignQueries(const LayerSpec& spec,
                                  const AccessPolicy& policy, uint64_t tokens,
                                  uint64_t queries, uint64_t seed) {
  const Limits& limits = policy.limits;
  Rng rng(seed);
  const std::span<const int> pattern =
      spec.readout == Readout::kLast
          ? std::span<const int>(kLastReadoutLengths)
          : std::span<const int>(kFullReadoutLengths);
  const double bound = limits.max_abs_input;
  const bool near_bound = policy.noise_sigma == 0 &&
                          static_cast<double>(tokens) < AmpleTokens(spec);
  const double near_bound_sigma = ScalarHeadsFitApplies(spec, policy)
                                      ? kScalarHeadsNearBoundQuerySigma
                                      : kNearBoundQuerySigma;
  const double sigma = std::min(near_bound ? near_bound_sigma : kQuerySigma,
                                bound / kInputBoundSigmas);
  std::vector<Matrix> sequences;
  for (size_t i = 0; tokens > 0 && sequences.size() < queries; ++i) {
    const uint64_t n = std::min<uint64_t>(
        {static_cast<uint64_t>(pattern[i % pattern.size()]), tokens,
         static_cast<uint64_t>(limits.max_tokens_per_sequence)});
    Matrix x(n, spec.d_model);
    for (Eigen::Index j = 0; j < x.size(); ++j) {
      x.data()[j] = std::clamp(sigma * rng.NextGaussian(), -bound, bound);
    }
    sequences.push_back(std::move(x));
    tokens -= n;
  }
  return sequences;
}

// Where each round of a curve ends, in items (sequences or examples) of
// `item_tokens` tokens each: after the first item that reaches each of
// kCurveRoundFractions of the tokens, the last round taking every item.
// Without a curve, one round.
std::vector<size_t> RoundEnds(std::span<const size_t> item_tokens, bool curve) {
  std::vector<size_t> ends;
  if (curve) {
    size_t total = 0;
    for (size_t n : item_tokens) total += n;
    size_t spent = 0, i = 0;
    for (double fraction : kCurveRoundFractions) {
      while (i < item_tokens.size() &&
             static_cast<double>(spent) <
                 fraction * static_cast<double>(total)) {
        spent += item_tokens[i++];
      }
      if (i > 0 && (ends.empty() || ends.back() < i)) ends.push_back(i);
    }
  }
  if (ends.empty() || ends.back() < item_tokens.size()) {
    ends.push_back(item_tokens.size());
  }
  return ends;
}

// The promising level (see kPromisingRelLoss) for these answers: the relative
// loss that the policy's noise and rounding alone leave, times a margin.
double PromisingRelLoss(const AccessPolicy& policy,
                        std::span<const Matrix> targets) {
  double numbers = 0, sq_norm = 0;
  for (const Matrix& t : targets) {
    numbers += static_cast<double>(t.size());
    sq_norm += t.squaredNorm();
  }
  if (sq_norm == 0) return kPromisingRelLoss;
  double noise = policy.noise_sigma * policy.noise_sigma * numbers;
  if (policy.precision == Precision::kFloat32) {
    noise += kFloat32RelVariance * sq_norm;
  }
  if (policy.answers == Answers::kQuantized) {
    // Rounding to a grid of step q errs uniformly in [-q/2, q/2]: q^2 / 12.
    noise += policy.quantize_step * policy.quantize_step / 12 * numbers;
  }
  return std::max(kPromisingRelLoss, kNoiseFloorFactor * noise / sq_norm);
}

double NumbersIn(std::span<const Matrix> answers) {
  double numbers = 0;
  for (const Matrix& a : answers) numbers += static_cast<double>(a.size());
  return numbers;
}

// The relative error of the hypothesis against the noise-free outputs,
// estimated from its squared error `sq_err` against `numbers` noisy answers
// of squared norm `answer_sq_norm`. Independent noise of variance sigma^2
// adds numbers * sigma^2 to both in expectation, and is subtracted (the
// difference floored at 0). Float32 rounding, at most 2^-48 of the squared
// value, is left in. Answers that seem to be all noise leave no signal to
// divide by: the uncorrected ratio then.
double NoiseFreeRelErr(const AccessPolicy& policy, double sq_err,
                       double answer_sq_norm, double numbers) {
  const double noise = policy.noise_sigma * policy.noise_sigma * numbers;
  const double signal = answer_sq_norm - noise;
  if (!(signal > 0)) {
    return answer_sq_norm > 0 ? sq_err / answer_sq_norm : sq_err;
  }
  return std::max(0.0, sq_err - noise) / signal;
}

// What the optimisers minimise: L = 0.5 * sum of squared residuals over the
// answered numbers, with its gradient on the flat parameter layout.
class FitLoss {
 public:
  virtual ~FitLoss() = default;
  virtual double Evaluate(const Eigen::Ref<const Vector>& flat,
                          Vector* grad) = 0;
  // The squared norm of the answered numbers.
  virtual double target_sq_norm() const = 0;
};

// Variable projection for L-BFGS where LM's Jacobian is not affordable
// (d = 64 with eight heads): the loss over the query, key and value weights
// alone, the output projections solved by least squares at each point. By
// the envelope theorem its gradient is the full loss's gradient on those
// weights at the solved projections. Off: on d = 64 with eight heads at 720
// tokens it ran 2.3x fewer iterations per second than the plain loss and
// stalled at the same training loss (7e-3) with a larger functional error
// (docs/REPRODUCTION.md, "Beyond the papers: regress"); kept to measure.
constexpr bool kLbfgsVariableProjection = false;

// The projected loss; its flat vector holds OutputProjection::free_columns()
// of the full layout. Owns its answers (the projection keeps spans).
class ProjectedLoss final : public FitLoss {
 public:
  ProjectedLoss(const LayerSpec& spec, std::vector<Matrix> inputs,
                std::vector<Matrix> targets)
      : spec_(spec),
        inputs_(std::move(inputs)),
        targets_(std::move(targets)),
        projection_(spec_, inputs_, targets_),
        loss_(spec_, inputs_, targets_) {}

  double Evaluate(const Eigen::Ref<const Vector>& flat, Vector* grad) override {
    Expand(flat, &full_);
    if (grad == nullptr) return 0.5 * residuals_.squaredNorm();
    const double f = loss_.Evaluate(full_, &full_grad_);
    grad->resize(flat.size());
    const std::vector<Eigen::Index>& free = projection_.free_columns();
    for (size_t j = 0; j < free.size(); ++j) {
      (*grad)(static_cast<Eigen::Index>(j)) = full_grad_(free[j]);
    }
    return f;
  }
  double target_sq_norm() const override { return loss_.target_sq_norm(); }

  // The full layout for `flat`, output projections solved.
  void Expand(const Eigen::Ref<const Vector>& flat, Vector* full) {
    full->setZero(ParamCount(spec_));
    const std::vector<Eigen::Index>& free = projection_.free_columns();
    for (size_t j = 0; j < free.size(); ++j) {
      (*full)(free[j]) = flat(static_cast<Eigen::Index>(j));
    }
    projection_.Solve(full, &residuals_);
  }
  // The free columns of a full layout.
  Vector Restrict(const Vector& full) const {
    const std::vector<Eigen::Index>& free = projection_.free_columns();
    Vector flat(static_cast<Eigen::Index>(free.size()));
    for (size_t j = 0; j < free.size(); ++j) {
      flat(static_cast<Eigen::Index>(j)) = full(free[j]);
    }
    return flat;
  }

 private:
  LayerSpec spec_;
  std::vector<Matrix> inputs_, targets_;
  OutputProjection projection_;
  AttentionLoss loss_;
  Vector full_, full_grad_, residuals_;
};

// Every number of every answer (values, or quantized values).
class FullLoss final : public FitLoss {
 public:
  FullLoss(const LayerSpec& spec, std::span<const Matrix> inputs,
           std::span<const Matrix> targets)
      : loss_(spec, inputs, targets) {}
  double Evaluate(const Eigen::Ref<const Vector>& flat, Vector* grad) override {
    return loss_.Evaluate(flat, grad);
  }
  double target_sq_norm() const override { return loss_.target_sq_norm(); }

 private:
  AttentionLoss loss_;
};

// Top-k answers: only the k answered entries of each row count. The
// unanswered entries' targets are set to the hypothesis's own outputs at
// each evaluation, so their residuals, and their share of the gradient,
// are exactly 0: the value and gradient of the masked loss.
class TopKLoss final : public FitLoss {
 public:
  // answers[i]: rows x 2k (index, value) pairs (common/answer.h).
  TopKLoss(const LayerSpec& spec, std::vector<Matrix> inputs,
           std::vector<Matrix> answers)
      : spec_(spec), inputs_(std::move(inputs)), answers_(std::move(answers)) {
    for (const Matrix& a : answers_) {
      for (Eigen::Index r = 0; r < a.rows(); ++r) {
        for (Eigen::Index c = 1; c < a.cols(); c += 2) {
          sq_norm_ += a(r, c) * a(r, c);
        }
      }
    }
  }
  double Evaluate(const Eigen::Ref<const Vector>& flat, Vector* grad) override {
    UnflattenParamsInto(spec_, flat, &params_);
    targets_.resize(inputs_.size());
    for (size_t i = 0; i < inputs_.size(); ++i) {
      targets_[i] = Forward(spec_, params_, inputs_[i]);
      const Matrix& a = answers_[i];
      for (Eigen::Index r = 0; r < a.rows(); ++r) {
        for (Eigen::Index c = 0; c + 1 < a.cols(); c += 2) {
          targets_[i](r, static_cast<Eigen::Index>(a(r, c))) = a(r, c + 1);
        }
      }
    }
    AttentionLoss loss(spec_, inputs_, targets_);
    return loss.Evaluate(flat, grad);
  }
  double target_sq_norm() const override { return sq_norm_; }

 private:
  LayerSpec spec_;
  std::vector<Matrix> inputs_, answers_, targets_;
  LayerParams params_;
  double sq_norm_ = 0;
};

std::unique_ptr<FitLoss> MakeLoss(const LayerSpec& spec,
                                  const AccessPolicy& policy,
                                  std::vector<Matrix> inputs,
                                  std::vector<Matrix> answers) {
  if (policy.answers == Answers::kTopK) {
    return std::make_unique<TopKLoss>(spec, std::move(inputs),
                                      std::move(answers));
  }
  return std::make_unique<FullLoss>(spec, inputs, answers);
}

// The answered numbers of each answer: every entry, or under top-k the
// values of its pairs.
std::vector<Matrix> AnsweredValues(const AccessPolicy& policy,
                                   std::span<const Matrix> answers) {
  std::vector<Matrix> out;
  for (const Matrix& a : answers) {
    if (policy.answers != Answers::kTopK) {
      out.push_back(a);
      continue;
    }
    Matrix v(a.rows(), a.cols() / 2);
    for (Eigen::Index c = 0; c < v.cols(); ++c) v.col(c) = a.col(2 * c + 1);
    out.push_back(std::move(v));
  }
  return out;
}

struct Fit {
  Vector theta;
  double rel_loss = std::numeric_limits<double>::infinity();
  int iterations = 0;
  bool handed_off = false;  // L-BFGS stopped to hand over to LM
};

// Relative training loss sum ||r||^2 / sum ||t||^2 from L = 0.5 sum ||r||^2.
double RelLoss(const FitLoss& loss, double l) {
  const double norm = loss.target_sq_norm();
  return norm > 0 ? 2 * l / norm : 2 * l;
}

// phi(alpha) = f(x + alpha p) with its slope, for the line search.
struct LinePoint {
  double alpha = 0, f = 0, slope = 0;
};

// Minimiser of the cubic through two points with slopes, safeguarded into
// the middle 80% of [lo, hi]; bisection when the cubic has no minimum.
double Interpolate(const LinePoint& lo, const LinePoint& hi) {
  const double a = lo.alpha, b = hi.alpha;
  const double d1 = lo.slope + hi.slope - 3 * (lo.f - hi.f) / (a - b);
  const double disc = d1 * d1 - lo.slope * hi.slope;
  double t = 0.5 * (a + b);
  if (disc >= 0) {
    const double d2 = std::copysign(std::sqrt(disc), b - a);
    const double c =
        b - (b - a) * (hi.slope + d2 - d1) / (hi.slope - lo.slope + 2 * d2);
    if (std::isfinite(c)) t = c;
  }
  const double left = std::min(a, b), right = std::max(a, b);
  const double margin = 0.1 * (right - left);
  return std::clamp(t, left + margin, right - margin);
}

// Minimises the loss with L-BFGS until the target, a stall, convergence (no
// step decreases the loss any more), or the time limit. The line search
// (Nocedal & Wright, algorithms 3.5 and 3.6) returns a step satisfying the
// strong Wolfe conditions, which keeps y^T s > 0 and the inverse-Hessian
// estimate positive definite.
class Lbfgs {
 public:
  // Abandons a fit that stalls above `promising_rel_loss`; stops below
  // `target_rel_loss`.
  // With `handoff`, also stops (Fit::handed_off) when progress slows below
  // kHandoffFactor per kHandoffWindow iterations.
  Lbfgs(FitLoss* loss, Monitor* monitor, int restart, double promising_rel_loss,
        double target_rel_loss, bool handoff)
      : loss_(loss),
        monitor_(monitor),
        restart_(restart),
        promising_rel_loss_(promising_rel_loss),
        target_rel_loss_(target_rel_loss),
        handoff_(handoff) {}

  Fit Run(Vector x) {
    Fit fit;
    Vector g;
    double f = loss_->Evaluate(x, &g);
    std::vector<Vector> s_hist, y_hist;
    std::vector<double> rho_hist;
    std::vector<double> history;  // rel loss per iteration, for stalls
    Vector p, x_new, g_new;
    bool just_reset = false;
    int iter = 0;
    for (;; ++iter) {
      const double rel = RelLoss(*loss_, f);
      history.push_back(rel);
      monitor_->Report(restart_, iter, rel, false);
      if (rel < target_rel_loss_ || monitor_->OutOfTime()) break;
      if (handoff_ && iter >= kHandoffWindow &&
          rel > kHandoffFactor * history[iter - kHandoffWindow]) {
        fit.handed_off = true;
        break;
      }
      if (iter >= kStallWindow && rel >= promising_rel_loss_ &&
          rel > kStallFactor * history[iter - kStallWindow]) {
        break;
      }
      TwoLoop(g, s_hist, y_hist, rho_hist, &p);
      double slope = g.dot(p);
      if (!(slope < 0)) {  // not a descent direction: restart the memory
        p = -g;
        slope = -g.squaredNorm();
        s_hist.clear(), y_hist.clear(), rho_hist.clear();
      }
      // The first step after an empty memory has no curvature scale yet.
      const double alpha0 =
          s_hist.empty() ? std::min(1.0, 1.0 / std::sqrt(-slope)) : 1.0;
      double f_new;
      if (!LineSearch(x, f, slope, p, alpha0, &x_new, &f_new, &g_new)) {
        // Usually rounding at the bottom: try once more from steepest
        // descent, then stop.
        if (just_reset || s_hist.empty()) break;
        s_hist.clear(), y_hist.clear(), rho_hist.clear();
        just_reset = true;
        continue;
      }
      just_reset = false;
      Vector s = x_new - x, y = g_new - g;
      const double ys = y.dot(s);
      if (ys > 1e-300) {
        if (static_cast<int>(s_hist.size()) == kLbfgsMemory) {
          s_hist.erase(s_hist.begin());
          y_hist.erase(y_hist.begin());
          rho_hist.erase(rho_hist.begin());
        }
        s_hist.push_back(std::move(s));
        y_hist.push_back(std::move(y));
        rho_hist.push_back(1 / ys);
      }
      x.swap(x_new);
      g.swap(g_new);
      f = f_new;
    }
    fit.rel_loss = RelLoss(*loss_, f);
    fit.iterations = iter;
    fit.theta = std::move(x);
    monitor_->Report(restart_, iter, fit.rel_loss, true);
    return fit;
  }

 private:
  // p = -H g by the two-loop recursion, H0 = (s^T y / y^T y) I.
  static void TwoLoop(const Vector& g, const std::vector<Vector>& s,
                      const std::vector<Vector>& y,
                      const std::vector<double>& rho, Vector* p) {
    *p = -g;
    const int m = static_cast<int>(s.size());
    double alpha[kLbfgsMemory];
    for (int i = m - 1; i >= 0; --i) {
      alpha[i] = rho[i] * s[i].dot(*p);
      *p -= alpha[i] * y[i];
    }
    if (m > 0) *p *= 1 / (rho[m - 1] * y[m - 1].squaredNorm());
    for (int i = 0; i < m; ++i) {
      const double beta = rho[i] * y[i].dot(*p);
      *p += (alpha[i] - beta) * s[i];
    }
  }

  LinePoint Probe(const Vector& x, const Vector& p, double alpha, Vector* x_new,
                  Vector* g_new) {
    *x_new = x + alpha * p;
    const double f = loss_->Evaluate(*x_new, g_new);
    return {alpha, f, g_new->dot(p)};
  }

  // True with (x_new, f_new, g_new) at a strong-Wolfe step; false when none
  // was found within kMaxLineSearchEvaluations (or the loss went
  // non-finite), in which case the outputs are unspecified.
  bool LineSearch(const Vector& x, double f0, double slope0, const Vector& p,
                  double alpha0, Vector* x_new, double* f_new, Vector* g_new) {
    const LinePoint origin{0, f0, slope0};
    auto armijo = [&](const LinePoint& pt) {
      return pt.f <= f0 + kWolfeC1 * pt.alpha * slope0;
    };
    auto curvature = [&](const LinePoint& pt) {
      return std::abs(pt.slope) <= -kWolfeC2 * slope0;
    };
    LinePoint prev = origin, lo, hi;
    double alpha = alpha0;
    int evals = 0;
    bool bracketed = false;
    while (evals < kMaxLineSearchEvaluations) {
      const LinePoint pt = Probe(x, p, alpha, x_new, g_new);
      ++evals;
      if (!std::isfinite(pt.f)) {
        alpha = 0.5 * (prev.alpha + alpha);
        continue;
      }
      if (!armijo(pt) || (evals > 1 && pt.f >= prev.f)) {
        lo = prev, hi = pt, bracketed = true;
        break;
      }
      if (curvature(pt)) {
        *f_new = pt.f;
        return true;
      }
      if (pt.slope >= 0) {
        lo = pt, hi = prev, bracketed = true;
        break;
      }
      prev = pt;
      alpha *= 2;
    }
    if (!bracketed) return false;
    // Zoom: lo satisfies Armijo with the lowest f so far; the minimiser
    // lies between lo and hi.
    while (evals < kMaxLineSearchEvaluations) {
      const double a = Interpolate(lo, hi);
      if (a == lo.alpha || a == hi.alpha) break;  // interval exhausted
      const LinePoint pt = Probe(x, p, a, x_new, g_new);
      ++evals;
      if (!std::isfinite(pt.f) || !armijo(pt) || pt.f >= lo.f) {
        hi = pt;
        continue;
      }
      if (curvature(pt)) {
        *f_new = pt.f;
        return true;
      }
      if (pt.slope * (hi.alpha - lo.alpha) >= 0) hi = lo;
      lo = pt;
    }
    // No strong-Wolfe point, but a step that decreases f is still progress.
    if (lo.alpha > 0 && lo.f < f0) {
      Probe(x, p, lo.alpha, x_new, g_new);
      *f_new = lo.f;
      return true;
    }
    return false;
  }

  FitLoss* loss_;
  Monitor* monitor_;
  int restart_;
  double promising_rel_loss_;
  double target_rel_loss_;
  bool handoff_;
};

// Levenberg-Marquardt on every answered number (values or quantized values,
// not top-k). Each row of the Jacobian is the analytic gradient of one
// number: AttentionLoss on its sequence alone, with the target one below
// the prediction in that number only, has exactly that row as its gradient.
class LevenbergMarquardt {
 public:
  LevenbergMarquardt(const LayerSpec& spec, std::span<const Matrix> inputs,
                     std::span<const Matrix> targets, double target_sq_norm,
                     Monitor* monitor, int restart, double target_rel_loss,
                     double promising_rel_loss)
      : spec_(spec),
        inputs_(inputs),
        targets_(targets),
        target_sq_norm_(target_sq_norm),
        monitor_(monitor),
        restart_(restart),
        target_rel_loss_(target_rel_loss),
        promising_rel_loss_(promising_rel_loss) {
    for (const Matrix& t : targets_) numbers_ += t.size();
    if (kLmVariableProjection && OutputProjection::Applies(spec_)) {
      projection_.emplace(spec_, inputs_, targets_);
    }
  }

  // Whether the Jacobian is small enough (kMaxJacobianEntries).
  static bool Affordable(const LayerSpec& spec,
                         std::span<const Matrix> targets) {
    return NumbersIn(targets) * ParamCount(spec) <= kMaxJacobianEntries;
  }

  Fit Run(Vector x, int lbfgs_iterations) {
    Vector r;
    Matrix jac;
    double f = Residuals(&x, &r);
    double lambda = -1, lambda_cap = 0;
    int iter = lbfgs_iterations, since_gain = 0;
    double stall_mark = f;
    bool need_jacobian = true;
    Matrix a;
    Vector g, step, x_new, r_new;
    while (RelLoss(f) >= target_rel_loss_ && !monitor_->OutOfTime()) {
      monitor_->Report(restart_, iter, RelLoss(f), false);
      if (need_jacobian) {
        Jacobian(x, r, &jac);
        // Only the lower triangle: what LDLT reads.
        a.setZero(jac.cols(), jac.cols());
        a.selfadjointView<Eigen::Lower>().rankUpdate(jac.transpose());
        g.noalias() = jac.transpose() * r;
        need_jacobian = false;
        if (lambda < 0) {
          const double top = std::max(a.diagonal().maxCoeff(), 1e-300);
          lambda = kLmInitialDamping * top;
          lambda_cap = kLmMaxDamping * top;
        }
      }
      if (lambda > lambda_cap) break;
      if (iter - lbfgs_iterations >= kLmMaxSteps &&
          RelLoss(f) >= promising_rel_loss_) {
        break;
      }
      Matrix damped = a;
      damped.diagonal().array() += lambda;
      // J^T J + lambda I is positive definite for lambda > 0: Cholesky,
      // whose blocked factorisation is several times faster than LDLT's at
      // a thousand parameters. Rounding can still break it; then more
      // damping.
      const Eigen::LLT<Matrix> llt(damped);
      ++iter;
      if (llt.info() != Eigen::Success) {
        lambda *= kLmGrow;
        continue;
      }
      step = llt.solve(-g);
      if (projection_) {
        projection_->AddStep(x, step, &x_new);
      } else {
        x_new = x + step;
      }
      const double f_new = Residuals(&x_new, &r_new);
      if (std::isfinite(f_new) && f_new < f) {
        x.swap(x_new);
        r.swap(r_new);
        f = f_new;
        if (projection_ && kLmBalanceGauge &&
            BalanceGauge(spec_, kGaugeImbalance, &x) > 0) {
          f = Residuals(&x, &r);
        }
        lambda /= kLmShrink;
        need_jacobian = true;
        if (f < kLmStallFactor * stall_mark) {
          stall_mark = f, since_gain = 0;
        } else if (++since_gain >= kLmStallSteps) {
          break;
        }
      } else {
        lambda *= kLmGrow;
      }
    }
    Fit fit;
    fit.rel_loss = RelLoss(f);
    fit.iterations = iter - lbfgs_iterations;
    fit.theta = std::move(x);
    monitor_->Report(restart_, iter, fit.rel_loss, true);
    return fit;
  }

 private:
  double RelLoss(double f) const {
    return target_sq_norm_ > 0 ? 2 * f / target_sq_norm_ : 2 * f;
  }

  // r = predictions - targets, stacked in sequence then row-major order;
  // returns 0.5 ||r||^2. Under variable projection the output projections
  // in *x are first replaced by their least-squares solution.
  double Residuals(Vector* x, Vector* r) {
    if (projection_) return projection_->Solve(x, r);
    UnflattenParamsInto(spec_, *x, &params_);
    r->resize(static_cast<Eigen::Index>(numbers_));
    Eigen::Index at = 0;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const Matrix y = Forward(spec_, params_, inputs_[i]);
      for (Eigen::Index e = 0; e < y.size(); ++e) {
        (*r)(at++) = y.data()[e] - targets_[i].data()[e];
      }
    }
    return 0.5 * r->squaredNorm();
  }

  // Whether AnalyticJacobian covers the spec: one softmax layer whose heads
  // own every block, without biases, residual or FFN block.
  static bool HasAnalyticJacobian(const LayerSpec& spec) {
    return std::max(spec.layers, 1) == 1 && !spec.biases && !spec.residual &&
           !spec.has_ffn && !spec.tie_qk &&
           spec.attention == Attention::kSoftmax && KvGroupSize(spec) == 1;
  }

  // The Jacobian in closed form, rows in Residuals' order, columns in the
  // flat layout (per head wq, wk, wv, wo, row-major). For output row i of a
  // head with weights p = softmax row i, U = X wv wo and
  // W = diag(p) (U - 1 p^T U):
  //   dY(i,o)/dwq(a,c) = scale X(i,a) (K^T W)(c,o)
  //   dY(i,o)/dwk(a,c) = scale Q(i,c) (X^T W)(a,o)
  //   dY(i,o)/dwv(a,c) = (p^T X)(a) wo(c,o)
  //   dY(i,o)/dwo(c,o') = [o = o'] (p^T X wv)(c)
  // One pass over the tokens instead of one gradient per answered number.
  void AnalyticJacobian(const Vector& x, Matrix* jac) {
    UnflattenParamsInto(spec_, x, &params_);
    const Eigen::Index d = spec_.d_model, k = spec_.head_dim,
                       v = spec_.value_dim, out = spec_.out_dim;
    const double scale = spec_.score_scale;
    const bool last_only = spec_.readout == Readout::kLast;
    jac->setZero();
    Eigen::Index row0 = 0;
    Matrix q, kk, vv, u, w, m, nn;
    Vector p;
    RowVector px, pv, ubar;
    for (const Matrix& xs : inputs_) {
      const Eigen::Index n = xs.rows();
      const Eigen::Index first = last_only ? n - 1 : 0;
      Eigen::Index col0 = 0;
      for (const HeadParams& h : params_.heads) {
        q.noalias() = xs * h.wq;
        kk.noalias() = xs * h.wk;
        vv.noalias() = xs * h.wv;
        u.noalias() = vv * h.wo;
        for (Eigen::Index i = first; i < n; ++i) {
          const Eigen::Index visible =
              spec_.mask == Mask::kCausal && !last_only ? i + 1 : n;
          p = (kk.topRows(visible) * q.row(i).transpose()) * scale;
          p = (p.array() - p.maxCoeff()).exp().matrix();
          p /= p.sum();
          ubar.noalias() = p.transpose() * u.topRows(visible);
          w = u.topRows(visible);
          w.rowwise() -= ubar;
          w = p.asDiagonal() * w;
          m.noalias() = kk.topRows(visible).transpose() * w;   // k x out
          nn.noalias() = xs.topRows(visible).transpose() * w;  // d x out
          px.noalias() = p.transpose() * xs.topRows(visible);  // 1 x d
          pv.noalias() = p.transpose() * vv.topRows(visible);  // 1 x v
          const Eigen::Index r = row0 + (i - first) * out;
          for (Eigen::Index o = 0; o < out; ++o) {
            auto jr = jac->row(r + o);
            for (Eigen::Index a = 0; a < d; ++a) {
              jr.segment(col0 + a * k, k) = scale * xs(i, a) * m.col(o);
              jr.segment(col0 + d * k + a * k, k) =
                  scale * nn(a, o) * q.row(i).transpose();
              jr.segment(col0 + 2 * d * k + a * v, v) = px(a) * h.wo.col(o);
            }
            for (Eigen::Index c = 0; c < v; ++c) {
              jr(col0 + 2 * d * k + d * v + c * out + o) = pv(c);
            }
          }
        }
        col0 += 2 * d * k + d * v + v * out;
      }
      row0 += (n - first) * out;
    }
  }

  void Jacobian(const Vector& x, const Vector& r, Matrix* jac) {
    jac->resize(r.size(), x.size());
    if (HasAnalyticJacobian(spec_)) {
      AnalyticJacobian(x, jac);
      if (projection_) projection_->ProjectJacobian(jac);
      return;
    }
    Eigen::Index at = 0;
    Vector row;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      Matrix shifted = targets_[i];
      for (Eigen::Index e = 0; e < shifted.size(); ++e) {
        // prediction - 1 in number e, the prediction elsewhere.
        for (Eigen::Index k = 0; k < shifted.size(); ++k) {
          shifted.data()[k] = targets_[i].data()[k] + r(at - e + k);
        }
        shifted.data()[e] -= 1;
        AttentionLoss one(spec_, std::span<const Matrix>(&inputs_[i], 1),
                          std::span<const Matrix>(&shifted, 1));
        one.Evaluate(x, &row);
        jac->row(at++) = row.transpose();
      }
    }
  }

  LayerSpec spec_;
  std::span<const Matrix> inputs_, targets_;
  double target_sq_norm_;
  Monitor* monitor_;
  int restart_;
  double target_rel_loss_;
  double promising_rel_loss_;
  double numbers_ = 0;
  LayerParams params_;
  std::optional<OutputProjection> projection_;
};

// The baseline: Adam with a step decaying exponentially from 1e-2 to 1e-6
// and an epsilon far below any gradient (a usual epsilon of 1e-8 caps the
// precision near 1e-12). Kept for comparison; not used by LearnRegress.
[[maybe_unused]] Fit FitAdam(FitLoss& loss, Vector x, Monitor& monitor,
                             int restart) {
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEpsilon = 1e-30;
  constexpr double kStepStart = 1e-2, kStepEnd = 1e-6;
  constexpr double kDecayIterations = 20000;
  Vector m = Vector::Zero(x.size()), v = Vector::Zero(x.size()), g;
  Fit fit;
  double b1 = 1, b2 = 1;
  int iter = 0;
  for (;; ++iter) {
    const double rel = RelLoss(loss, loss.Evaluate(x, &g));
    monitor.Report(restart, iter, rel, false);
    if (rel < fit.rel_loss) fit.rel_loss = rel, fit.theta = x;
    if (rel < kTargetRelLoss || monitor.OutOfTime()) break;
    b1 *= kBeta1, b2 *= kBeta2;
    m = kBeta1 * m + (1 - kBeta1) * g;
    v = kBeta2 * v + (1 - kBeta2) * g.cwiseAbs2();
    const double step = std::max(
        kStepEnd,
        kStepStart * std::pow(kStepEnd / kStepStart, iter / kDecayIterations));
    x.array() -= step * (m.array() / (1 - b1)) /
                 ((v.array() / (1 - b2)).sqrt() + kEpsilon);
  }
  fit.iterations = iter;
  monitor.Report(restart, iter, fit.rel_loss, true);
  return fit;
}

}  // namespace

absl::StatusOr<LearnResult> LearnRegress(QueryOracle& oracle,
                                         const LearnOptions& options) {
  const ChallengeInfo& info = oracle.info();
  const LayerSpec& spec = info.spec;
  const AccessPolicy& policy = info.policy;
  // Before anything is spent: signs carry no squared error to fit.
  if (policy.answers == Answers::kSign) {
    return absl::FailedPreconditionError(absl::StrCat(
        "regress cannot learn \"", info.id,
        "\": it answers signs only (policy.answers ANSWERS_SIGN), and "
        "regress fits answered values by least squares; nothing was spent"));
  }

  // Query design and answers, or random examples where queries are not
  // offered.
  const Usage before = oracle.usage();
  // A ReLU block from a random start lands in a local minimum far more often
  // than not (transformer-ffn-d8: twenty restarts, none below 5e-5); its
  // units located from one-token answers start every restart in the right
  // basin, leaving attention to the fit.
  std::optional<FfnUnits> ffn_units;
  // Under a cap of the caller's, the search takes at most half of it and
  // the fit what the search left.
  const uint64_t search_cap = options.max_tokens > 0
                                  ? options.max_tokens / 2
                                  : std::numeric_limits<uint64_t>::max();
  if (CanLocateFfnUnits(spec, policy)) {
    // A kink pair too close to tell apart on every circle can spoil one
    // attempt (the odd part then does not match): then circles from
    // another seed.
    for (uint64_t attempt = 0; attempt < kFfnLocateAttempts && !ffn_units;
         ++attempt) {
      ATTN_ASSIGN_OR_RETURN(
          ffn_units,
          LocateFfnUnits(
              oracle,
              DeriveSeed(options.seed, RngStream::kLearner,
                         kFfnUnitsStream + attempt),
              search_cap - (oracle.usage().tokens_used - before.tokens_used)));
    }
    if (options.progress != nullptr) {
      *options.progress << "regress: "
                        << (ffn_units ? "located the FFN units"
                                      : "could not locate the FFN units")
                        << " with "
                        << oracle.usage().queries_used - before.queries_used
                        << " one-token queries" << std::endl;
    }
  }
  const Usage left = oracle.usage();
  const uint64_t searched = left.tokens_used - before.tokens_used;
  const uint64_t tokens =
      std::min(options.max_tokens > 0 ? options.max_tokens - searched
               : policy.answers == Answers::kTopK
                   ? std::max(kDefaultTopKTokens, DefaultTokens(spec))
                   : DefaultTokens(spec),
               left.tokens_left);
  std::vector<Matrix> design;
  if (AllowsQueries(policy)) {
    design = DesignQueries(
        spec, policy, tokens, left.queries_left,
        DeriveSeed(options.seed, RngStream::kLearner, kDesignStream));
  }
  const uint64_t per_example =
      static_cast<uint64_t>(std::max(1, policy.examples.tokens));
  const uint64_t examples =
      AllowsQueries(policy) ? 0
                            : std::min(tokens / per_example, left.queries_left);
  if (design.empty() && examples == 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("regress needs at least one ",
                     AllowsQueries(policy)
                         ? "token"
                         : absl::StrCat("example (", per_example, " tokens)"),
                     " and one query; ", left.tokens_left, " tokens and ",
                     left.queries_left, " queries are left"));
  }
  // Items are sequences (queries) or examples; round r ends after
  // round_ends[r] of them. The rounds' prefixes of the one design keep the
  // last round's queries those of a run without rounds.
  std::vector<size_t> item_tokens;
  if (AllowsQueries(policy)) {
    for (const Matrix& x : design) {
      item_tokens.push_back(static_cast<size_t>(x.rows()));
    }
  } else {
    item_tokens.assign(examples, per_example);
  }
  const std::vector<size_t> round_ends =
      RoundEnds(item_tokens, options.curve_sink != nullptr);

  Monitor monitor(options.time_limit_seconds, options.progress);
  const double init_scale = 1 / std::sqrt(static_cast<double>(spec.d_model));
  const double target =
      policy.answers == Answers::kTopK ? kTopKTargetRelLoss : kTargetRelLoss;
  std::vector<Matrix> inputs, answers;
  LearnResult result;
  Fit best;
  int iterations = 0;
  double rel_err = 0;
  for (size_t round = 0; round < round_ends.size(); ++round) {
    const size_t from = inputs.size(), to = round_ends[round];
    if (AllowsQueries(policy)) {
      ATTN_ASSIGN_OR_RETURN(
          std::vector<Matrix> got,
          QueryInBatches(oracle, std::span<const Matrix>(design).subspan(
                                     from, to - from)));
      inputs.insert(inputs.end(), design.begin() + from, design.begin() + to);
      std::move(got.begin(), got.end(), std::back_inserter(answers));
    } else {
      ATTN_ASSIGN_OR_RETURN(Examples drawn, SampleInBatches(oracle, to - from));
      std::move(drawn.inputs.begin(), drawn.inputs.end(),
                std::back_inserter(inputs));
      std::move(drawn.outputs.begin(), drawn.outputs.end(),
                std::back_inserter(answers));
    }
    const Usage after = oracle.usage();
    if (options.progress != nullptr) {
      *options.progress << "regress: "
                        << (AllowsQueries(policy) ? "asked " : "sampled ")
                        << inputs.size()
                        << (AllowsQueries(policy) ? " sequences, "
                                                  : " examples, ")
                        << after.tokens_used - before.tokens_used << " tokens"
                        << std::endl;
    }

    // Training and held-out split, by position in the whole design, so a
    // sequence stays on its side from round to round.
    std::vector<Matrix> train_x, train_y, held_x, held_y;
    double numbers = 0;
    for (const Matrix& a : answers) {
      numbers += static_cast<double>(a.rows()) * OutputDim(spec);
    }
    const bool hold_out =
        inputs.size() >= static_cast<size_t>(kHoldOutStride) &&
        numbers >= kHoldOutNumbersPerParameter * ParamCount(spec);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const bool held = hold_out && i % kHoldOutStride == kHoldOutStride - 1;
      (held ? held_x : train_x).push_back(inputs[i]);
      (held ? held_y : train_y).push_back(answers[i]);
    }
    const std::vector<Matrix> train_values = AnsweredValues(policy, train_y);
    const std::vector<Matrix> held_values = AnsweredValues(policy, held_y);
    // LM needs every number of the answers (not top-k) and an affordable
    // Jacobian; it keeps its own copy of the training set.
    const bool use_lm = policy.answers != Answers::kTopK &&
                        LevenbergMarquardt::Affordable(spec, train_values);
    std::vector<Matrix> lm_x, lm_y;
    const bool scalar_heads = ScalarHeadsFitApplies(spec, policy);
    if (use_lm || scalar_heads) lm_x = train_x, lm_y = train_y;
    ProjectedLoss* projected = nullptr;
    std::unique_ptr<FitLoss> loss;
    if (kLbfgsVariableProjection && !use_lm &&
        policy.answers != Answers::kTopK && OutputProjection::Applies(spec)) {
      auto owned = std::make_unique<ProjectedLoss>(spec, std::move(train_x),
                                                   std::move(train_y));
      projected = owned.get();
      loss = std::move(owned);
    } else {
      loss = MakeLoss(spec, policy, std::move(train_x), std::move(train_y));
    }
    const double promising = PromisingRelLoss(policy, train_values);

    // A round before the last may use kCurveRoundTimeShare of what is left
    // of the time, the last round all of it.
    const bool last_round = round + 1 == round_ends.size();
    const double round_limit =
        last_round
            ? options.time_limit_seconds
            : monitor.Elapsed() + kCurveRoundTimeShare *
                                      std::max(0.0, options.time_limit_seconds -
                                                        monitor.Elapsed());
    monitor.set_limit(round_limit);

    // Restarts until one is promising (then it ran to the target or to
    // convergence) or time runs out. After the first round the first
    // restart continues from the previous round's fit, whose loss on the
    // grown training set is the new round's starting point.
    const std::optional<Vector> warm =
        round > 0 ? std::optional<Vector>(best.theta) : std::nullopt;
    best = Fit();
    // Full-width scalar heads: their own fit on (Theta_h, v_h).
    if (scalar_heads) {
      ScalarHeadsFitOptions scalar_options{
          .seed = options.seed,
          .time_limit_seconds = round_limit - monitor.Elapsed(),
          .target_rel_loss = target,
          .promising_rel_loss = promising,
          .warm = warm
                      ? std::optional<LayerParams>(UnflattenParams(spec, *warm))
                      : std::nullopt,
          .progress = options.progress};
      ScalarHeadsFit fit = FitScalarHeads(spec, lm_x, lm_y, scalar_options);
      best.theta = FlattenParams(spec, fit.params);
      best.rel_loss = fit.rel_loss;
      iterations += fit.iterations;
    }
    for (int restart = 0; !scalar_heads; ++restart) {
      Vector x0(ParamCount(spec));
      if (restart == 0 && warm) {
        x0 = *warm;
      } else {
        Rng rng(DeriveSeed(options.seed, RngStream::kLearner,
                           kInitStreamBase + restart));
        for (Eigen::Index i = 0; i < x0.size(); ++i) {
          x0(i) = init_scale * rng.NextGaussian();
        }
        if (ffn_units) {
          LayerParams start = UnflattenParams(spec, x0);
          SeedFfnBlock(spec, *ffn_units, &start);
          x0 = FlattenParams(spec, start);
        }
      }
      if (projected != nullptr) x0 = projected->Restrict(x0);
      Lbfgs lbfgs(loss.get(), &monitor, restart, promising, target, use_lm);
      Fit fit = lbfgs.Run(std::move(x0));
      iterations += fit.iterations;
      if (projected != nullptr) {
        Vector full;
        projected->Expand(fit.theta, &full);
        fit.theta = std::move(full);
      }
      if (fit.handed_off) {
        LevenbergMarquardt lm(spec, lm_x, lm_y, loss->target_sq_norm(),
                              &monitor, restart, target, promising);
        Fit polished = lm.Run(fit.theta, fit.iterations);
        iterations += polished.iterations;
        if (polished.rel_loss < fit.rel_loss) fit = std::move(polished);
      }
      if (fit.rel_loss < best.rel_loss) best = std::move(fit);
      if (best.rel_loss < promising || monitor.OutOfTime()) break;
    }

    // The round's point, at this run's spend so far. Without held-out
    // sequences (fewer than kHoldOutStride, or too few answers per
    // parameter) the estimate falls back to the
    // training set, which the fit has partly absorbed: an optimistic
    // estimate.
    CurvePoint point;
    point.tokens = after.tokens_used - before.tokens_used;
    point.queries = after.queries_used - before.queries_used;
    if (held_x.empty()) {
      point.est_functional_rel_err =
          NoiseFreeRelErr(policy, best.rel_loss * loss->target_sq_norm(),
                          loss->target_sq_norm(), NumbersIn(train_values));
    } else {
      const std::unique_ptr<FitLoss> held =
          MakeLoss(spec, policy, std::move(held_x), std::move(held_y));
      const double sq_err = 2 * held->Evaluate(best.theta, nullptr);
      point.heldout_answer_rel_err = RelLoss(*held, sq_err / 2);
      point.est_functional_rel_err = NoiseFreeRelErr(
          policy, sq_err, held->target_sq_norm(), NumbersIn(held_values));
    }
    rel_err = point.est_functional_rel_err;
    ReportCurvePoint(options, point, &result);
  }

  result.hypothesis = UnflattenParams(spec, best.theta);
  if (options.progress != nullptr) {
    *options.progress << absl::StrFormat(
                             "regress: done, train rel_loss %.3e, estimated "
                             "functional rel_err %.3e, %d iterations, %.1fs",
                             best.rel_loss, rel_err, iterations,
                             monitor.Elapsed())
                      << std::endl;
  }
  return result;
}

}  // namespace attnoracle
