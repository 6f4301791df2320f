// Levenberg-Marquardt on (Theta_h, v_h) for scalar last-position heads; see
// the header. For one sequence X with last token x and head h:
//   s = X Theta_h^T x (s_i = x^T Theta_h x_i: query x, key x_i),
//   p = softmax(s), u = X v_h, y_h = p^T u, f = sum_h y_h,
//   df/dv_h = X^T p =: z_h,  df/dTheta_h = x g_h^T with
//   g_h = X^T (p .* (u - y_h 1)).
// So the Jacobian is kept as G (sequences x H d, the g_h) and Z (the z_h),
// and J dx, J^T u and diag(J^T J) are a few products with the matrix of
// last tokens, instead of a (sequences x H(d^2 + d)) matrix.
#include "client/learners/regress_scalar_heads.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <limits>
#include <utility>

#include "absl/strings/str_format.h"
#include "client/learners/lm_damping.h"
#include "common/rng.h"

namespace attnoracle {
namespace {

using Clock = std::chrono::steady_clock;
using ConstMatrixMap = Eigen::Map<const Matrix>;

// Up to this many parameters the damped step is a Cholesky solve of the
// explicit J^T J (d = 8, H = 2: 144); above it, conjugate gradients (d = 32,
// H = 4: forming J^T J alone would be 9e10 flops a step).
constexpr int kDenseMaxParams = 1500;
// Conjugate gradients on (J^T J + lambda I) step = -J^T r, Jacobi
// preconditioned, an inexact Newton step: until the residual is
// eta = clamp(sqrt(relative loss), kCgMinForcing, kCgMaxForcing) of the
// right-hand side, or kCgMaxIterations. Loose far from a fit, where an exact
// step buys little, tight near one, where it keeps convergence fast.
constexpr int kCgMaxIterations = 300;
constexpr double kCgMinForcing = 1e-6;
constexpr double kCgMaxForcing = 0.1;
// Damping as in lm_damping.h; a restart also ends after kLmStallSteps
// accepted steps in a row gaining less than kLmStallFactor, or after
// kLmMaxSteps steps while still above the promising level.
constexpr int kLmStallSteps = 20;
constexpr double kLmStallFactor = 0.5;
constexpr int kLmMaxSteps = 100;
// On the dense path (up to kDenseMaxParams), two changes to plain LM that
// together cut regress_scalar_heads_test's CPU from 1.7 and 7.6 s to 0.5
// and 0.7 s (d = 12, H = 3; docs/REPRODUCTION.md): geodesic acceleration
// (Solver::AddAcceleration), with its finite-difference probe along the
// step as a fraction of the step and the largest ratio of the correction
// to the step; and variable projection, every trial point's v_h set to
// the least-squares values for its Thetas (f is linear in the v_h), so the
// step moves the Thetas and the values follow them exactly. The conjugate-
// gradient path (d = 32, H = 4) has neither: not measured there.
constexpr bool kGeodesicAcceleration = true;
constexpr double kAccelerationProbe = 0.1;
constexpr double kAccelerationRatio = 0.75;
constexpr bool kProjectValues = true;
// Ridge on the value least squares of a fresh start, relative to the
// largest diagonal entry of Z^T Z.
constexpr double kValueRidge = 1e-10;
constexpr double kProgressIntervalSeconds = 1.0;
// Seed indices of the starts (regress's own starts use 1000 + restart).
constexpr uint64_t kStartStreamBase = 2000;

// The training set and the Jacobian's structure at the last point
// evaluated with `structure`.
class Problem {
 public:
  Problem(const LayerSpec& spec, std::span<const Matrix> inputs,
          std::span<const Matrix> targets)
      : d_(spec.d_model),
        heads_(spec.heads),
        inputs_(inputs),
        last_(static_cast<Eigen::Index>(inputs.size()), spec.d_model),
        t_(static_cast<Eigen::Index>(inputs.size())) {
    for (size_t q = 0; q < inputs.size(); ++q) {
      const Eigen::Index i = static_cast<Eigen::Index>(q);
      last_.row(i) = inputs[q].row(inputs[q].rows() - 1);
      t_(i) = targets[q](0, 0);
    }
  }

  Eigen::Index params() const { return heads_ * (d_ * d_ + d_); }
  Eigen::Index answers() const { return t_.size(); }
  double target_sq_norm() const { return t_.squaredNorm(); }
  Eigen::Index theta_at(Eigen::Index h) const { return h * (d_ * d_ + d_); }
  Eigen::Index v_at(Eigen::Index h) const { return theta_at(h) + d_ * d_; }

  // r = f - t; returns 0.5 ||r||^2. With `structure`, also G and Z at x.
  double Evaluate(const Vector& x, Vector* r, bool structure) {
    const Eigen::Index m = answers();
    r->setZero(m);
    if (structure) g_.resize(m, heads_ * d_), z_.resize(m, heads_ * d_);
    for (Eigen::Index h = 0; h < heads_; ++h) {
      const ConstMatrixMap theta(x.data() + theta_at(h), d_, d_);
      const auto v = x.segment(v_at(h), d_);
      w_.noalias() = last_ * theta;  // row q: x_q^T Theta
      for (Eigen::Index q = 0; q < m; ++q) {
        const Matrix& xs = inputs_[static_cast<size_t>(q)];
        s_.noalias() = xs * w_.row(q).transpose();
        s_.array() = (s_.array() - s_.maxCoeff()).exp();
        s_ /= s_.sum();
        u_.noalias() = xs * v;
        const double y = s_.dot(u_);
        (*r)(q) += y;
        if (structure) {
          z_.block(q, h * d_, 1, d_).noalias() = s_.transpose() * xs;
          u_.array() = s_.array() * (u_.array() - y);
          g_.block(q, h * d_, 1, d_).noalias() = u_.transpose() * xs;
        }
      }
    }
    *r -= t_;
    return 0.5 * r->squaredNorm();
  }

  // out = J dx.
  void Apply(const Vector& dx, Vector* out) {
    out->setZero(answers());
    for (Eigen::Index h = 0; h < heads_; ++h) {
      const ConstMatrixMap delta(dx.data() + theta_at(h), d_, d_);
      w_.noalias() = last_ * delta;
      *out += (g_.middleCols(h * d_, d_).array() * w_.array())
                  .rowwise()
                  .sum()
                  .matrix();
      out->noalias() += z_.middleCols(h * d_, d_) * dx.segment(v_at(h), d_);
    }
  }

  // out = J^T u.
  void ApplyTransposed(const Vector& u, Vector* out) {
    out->resize(params());
    for (Eigen::Index h = 0; h < heads_; ++h) {
      w_ = (g_.middleCols(h * d_, d_).array().colwise() * u.array()).matrix();
      Eigen::Map<Matrix>(out->data() + theta_at(h), d_, d_).noalias() =
          last_.transpose() * w_;
      out->segment(v_at(h), d_).noalias() =
          z_.middleCols(h * d_, d_).transpose() * u;
    }
  }

  // diag(J^T J).
  Vector Diagonal() const {
    Vector diag(params());
    const Matrix last_sq = last_.array().square().matrix();
    for (Eigen::Index h = 0; h < heads_; ++h) {
      const Matrix g_sq = g_.middleCols(h * d_, d_).array().square().matrix();
      Eigen::Map<Matrix>(diag.data() + theta_at(h), d_, d_).noalias() =
          last_sq.transpose() * g_sq;
      diag.segment(v_at(h), d_) =
          z_.middleCols(h * d_, d_).array().square().colwise().sum();
    }
    return diag;
  }

  // The Jacobian itself, answers x params.
  Matrix Dense() const {
    Matrix jac(answers(), params());
    for (Eigen::Index q = 0; q < answers(); ++q) {
      for (Eigen::Index h = 0; h < heads_; ++h) {
        Eigen::Map<Matrix>(jac.row(q).data() + theta_at(h), d_, d_) =
            last_.row(q).transpose() * g_.block(q, h * d_, 1, d_);
        jac.block(q, v_at(h), 1, d_) = z_.block(q, h * d_, 1, d_);
      }
    }
    return jac;
  }

  // Sets every v_h in x to the least-squares values for its Thetas (f is
  // linear in them: f = sum_h z_h . v_h, Z depending on the Thetas only);
  // r = f - t there; returns 0.5 ||r||^2. Leaves G and Z at the Thetas
  // of x with the old v_h (G is stale).
  double SolveValues(Vector* x, Vector* r) {
    Evaluate(*x, r, true);
    Matrix a = z_.transpose() * z_;
    const double ridge =
        kValueRidge * std::max(a.diagonal().maxCoeff(), 1e-300);
    a.diagonal().array() += ridge;
    const Vector v = a.llt().solve(z_.transpose() * t_);
    for (Eigen::Index h = 0; h < heads_; ++h) {
      x->segment(v_at(h), d_) = v.segment(h * d_, d_);
    }
    r->noalias() = z_ * v;
    *r -= t_;
    return 0.5 * r->squaredNorm();
  }

 private:
  Eigen::Index d_, heads_;
  std::span<const Matrix> inputs_;
  Matrix last_;  // answers x d: each sequence's last token
  Vector t_;
  Matrix g_, z_;  // answers x H d
  Matrix w_;      // scratch, answers x d
  Vector s_, u_;  // scratch, one sequence's length
};

// (Theta_h, v_h) of factor parameters.
Vector FromParams(const LayerSpec& spec, const LayerParams& params) {
  const Eigen::Index d = spec.d_model;
  Vector x(spec.heads * (d * d + d));
  for (Eigen::Index h = 0; h < spec.heads; ++h) {
    const HeadParams& head = params.heads[static_cast<size_t>(h)];
    const Eigen::Index at = h * (d * d + d);
    Eigen::Map<Matrix>(x.data() + at, d, d) =
        spec.score_scale * head.wq * head.wk.transpose();
    x.segment(at + d * d, d) = head.wv * head.wo.col(0);
  }
  return x;
}

// Factors with Wq Wk^T * scale = Theta_h and Wv wo = v_h: Wq = Theta_h /
// scale and Wk = I in the first d columns, v_h in Wv's first column and wo
// = e_1.
LayerParams ToParams(const LayerSpec& spec, const Vector& x) {
  const Eigen::Index d = spec.d_model, k = spec.head_dim, v = spec.value_dim;
  LayerParams params;
  for (Eigen::Index h = 0; h < spec.heads; ++h) {
    const Eigen::Index at = h * (d * d + d);
    HeadParams head;
    head.wq = Matrix::Zero(d, k);
    head.wq.leftCols(d) =
        ConstMatrixMap(x.data() + at, d, d) / spec.score_scale;
    head.wk = Matrix::Zero(d, k);
    head.wk.leftCols(d).setIdentity();
    head.wv = Matrix::Zero(d, v);
    head.wv.col(0) = x.segment(at + d * d, d);
    head.wo = Matrix::Zero(v, 1);
    head.wo(0, 0) = 1;
    params.heads.push_back(std::move(head));
  }
  return params;
}

class Solver {
 public:
  Solver(Problem* problem, const ScalarHeadsFitOptions& options)
      : problem_(problem),
        options_(options),
        start_(Clock::now()),
        cpu_start_(std::clock()) {}

  double Elapsed() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }
  bool OutOfTime() const { return Elapsed() >= options_.time_limit_seconds; }

  double RelLoss(double f) const {
    const double norm = problem_->target_sq_norm();
    return norm > 0 ? 2 * f / norm : 2 * f;
  }

  // One restart of LM from x; returns its final point and relative loss.
  std::pair<Vector, double> Run(Vector x, int restart, int* steps) {
    Vector r, r_new, g, step, x_new, diag;
    double f = problem_->Evaluate(x, &r, true);
    const bool dense = problem_->params() <= kDenseMaxParams;
    Matrix a, jac;
    double lambda = -1, lambda_cap = 0, stall_mark = f;
    int since_gain = 0, local_steps = 0;
    bool fresh = true;  // the structure is at x
    while (RelLoss(f) >= options_.target_rel_loss && !OutOfTime()) {
      Report(restart, *steps, RelLoss(f), false);
      if (fresh) {
        problem_->ApplyTransposed(r, &g);
        diag = problem_->Diagonal();
        if (dense) {
          jac = problem_->Dense();
          a.setZero(jac.cols(), jac.cols());
          a.selfadjointView<Eigen::Lower>().rankUpdate(jac.transpose());
        }
        if (lambda < 0) {
          const double top = std::max(diag.maxCoeff(), 1e-300);
          lambda = kLmInitialDamping * top;
          lambda_cap = kLmMaxDamping * top;
        }
        fresh = false;
      }
      if (lambda > lambda_cap) break;
      if (local_steps >= kLmMaxSteps &&
          RelLoss(f) >= options_.promising_rel_loss) {
        break;
      }
      ++local_steps, ++*steps;
      if (dense) {
        Matrix damped = a;
        damped.diagonal().array() += lambda;
        const Eigen::LLT<Matrix> llt(damped);
        if (llt.info() != Eigen::Success) {
          lambda *= kLmGrow;
          continue;
        }
        step = llt.solve(-g);
        if (kGeodesicAcceleration && !AddAcceleration(x, r, jac, llt, &step)) {
          lambda *= kLmGrow;
          continue;
        }
      } else {
        const double eta =
            std::clamp(std::sqrt(RelLoss(f)), kCgMinForcing, kCgMaxForcing);
        cg_iterations_ += ConjugateGradients(g, diag, lambda, eta, &step);
      }
      x_new = x + step;
      // On the conjugate-gradient path the structure must stay at x
      // through rejected steps, which the value solve would move.
      const double f_new = kProjectValues && dense
                               ? problem_->SolveValues(&x_new, &r_new)
                               : problem_->Evaluate(x_new, &r_new, false);
      if (std::isfinite(f_new) && f_new < f) {
        x.swap(x_new);
        f = problem_->Evaluate(x, &r, true);
        fresh = true;
        lambda /= kLmShrink;
        if (f < kLmStallFactor * stall_mark) {
          stall_mark = f, since_gain = 0;
        } else if (++since_gain >= kLmStallSteps) {
          break;
        }
      } else {
        lambda *= kLmGrow;
      }
    }
    Report(restart, *steps, RelLoss(f), true);
    return {std::move(x), RelLoss(f)};
  }

 private:
  // Geodesic acceleration (Transtrum and Sethna): the second directional
  // derivative of the residuals along the step, by finite differences,
  // r_vv ~= (2 / h) ((r(x + h step) - r) / h - J step), gives the
  // correction a = -(J^T J + lambda I)^{-1} J^T r_vv and the step becomes
  // step + a / 2. False when the correction is too large for the
  // quadratic model (2 ||a|| / ||step|| > kAccelerationRatio): the step is
  // then rejected as if it had raised the loss.
  bool AddAcceleration(const Vector& x, const Vector& r, const Matrix& jac,
                       const Eigen::LLT<Matrix>& llt, Vector* step) {
    Vector r_h;
    problem_->Evaluate(x + kAccelerationProbe * *step, &r_h, false);
    const Vector r_vv = (2 / kAccelerationProbe) *
                        ((r_h - r) / kAccelerationProbe - jac * *step);
    const Vector accel = llt.solve(-(jac.transpose() * r_vv));
    if (2 * accel.norm() > kAccelerationRatio * step->norm()) return false;
    *step += 0.5 * accel;
    return true;
  }

  // step ~= -(J^T J + lambda I)^{-1} g, Jacobi preconditioned, to a
  // residual of eta ||g||; returns the iterations.
  int ConjugateGradients(const Vector& g, const Vector& diag, double lambda,
                         double eta, Vector* step) {
    const Vector precond = (diag.array() + lambda).inverse().matrix();
    step->setZero(g.size());
    Vector res = -g;
    Vector z = precond.cwiseProduct(res);
    Vector p = z, jp, ap;
    double rz = res.dot(z);
    const double stop = eta * g.norm();
    int it = 0;
    for (; it < kCgMaxIterations && res.norm() > stop; ++it) {
      problem_->Apply(p, &jp);
      problem_->ApplyTransposed(jp, &ap);
      ap += lambda * p;
      const double alpha = rz / p.dot(ap);
      *step += alpha * p;
      res -= alpha * ap;
      z = precond.cwiseProduct(res);
      const double rz_new = res.dot(z);
      p = z + (rz_new / rz) * p;
      rz = rz_new;
    }
    return it;
  }

  void Report(int restart, int step, double rel_loss, bool force) {
    if (options_.progress == nullptr) return;
    const double now = Elapsed();
    if (!force && now < next_report_) return;
    next_report_ = now + kProgressIntervalSeconds;
    *options_.progress << absl::StrFormat(
                              "regress: scalar heads restart %d step %d "
                              "rel_loss %.3e cg %d elapsed %.1fs cpu %.1fs",
                              restart, step, rel_loss, cg_iterations_, now,
                              static_cast<double>(std::clock() - cpu_start_) /
                                  CLOCKS_PER_SEC)
                       << std::endl;
  }

  Problem* problem_;
  const ScalarHeadsFitOptions& options_;
  Clock::time_point start_;
  std::clock_t cpu_start_;  // the process's CPU time at the start
  double next_report_ = 0;
  int cg_iterations_ = 0;  // over every step, for the progress line
};

}  // namespace

bool ScalarHeadsFitApplies(const LayerSpec& spec, const AccessPolicy& policy) {
  return spec.readout == Readout::kLast && OutputDim(spec) == 1 &&
         spec.head_dim >= spec.d_model && std::max(spec.layers, 1) == 1 &&
         !spec.biases && !spec.residual && !spec.has_ffn && !spec.tie_qk &&
         spec.attention == Attention::kSoftmax && KvGroupSize(spec) == 1 &&
         (policy.answers == Answers::kValues ||
          policy.answers == Answers::kQuantized);
}

ScalarHeadsFit FitScalarHeads(const LayerSpec& spec,
                              std::span<const Matrix> inputs,
                              std::span<const Matrix> targets,
                              const ScalarHeadsFitOptions& options) {
  Problem problem(spec, inputs, targets);
  Solver solver(&problem, options);
  // A random start has Theta's entries at the scale random factors of
  // entries N(0, 1/d) give (regress's starts): sqrt(k) * scale / d.
  const double d = spec.d_model;
  const double theta_sigma =
      std::sqrt(static_cast<double>(spec.head_dim)) * spec.score_scale / d;
  ScalarHeadsFit best;
  best.rel_loss = std::numeric_limits<double>::infinity();
  Vector best_x;
  for (int restart = 0;; ++restart) {
    Vector x;
    if (restart == 0 && options.warm) {
      x = FromParams(spec, *options.warm);
    } else {
      Rng rng(DeriveSeed(options.seed, RngStream::kLearner,
                         kStartStreamBase + restart));
      x.resize(problem.params());
      for (Eigen::Index i = 0; i < x.size(); ++i) {
        x(i) = theta_sigma * rng.NextGaussian();
      }
      Vector r;
      problem.SolveValues(&x, &r);
    }
    auto [fit, rel_loss] = solver.Run(std::move(x), restart, &best.iterations);
    best.restarts = restart + 1;
    if (best_x.size() == 0 || rel_loss < best.rel_loss) {
      best.rel_loss = rel_loss, best_x = std::move(fit);
    }
    if (best.rel_loss < options.promising_rel_loss || solver.OutOfTime()) {
      break;
    }
  }
  best.params = ToParams(spec, best_x);
  return best;
}

}  // namespace attnoracle
