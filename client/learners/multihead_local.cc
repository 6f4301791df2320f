// The multihead-local learner: H softmax heads read out as one number at
// the last position (full-width scores Theta_h, values v_h), from about
// 1.1 to 1.2 times the counting bound H (d^2 + d) in queries, by solving
// many small fits instead of one large one (docs/REPRODUCTION.md, "Beyond
// the papers: multihead-local").
//
// A two-token query [x + delta; x] (x the query token) answers, with
// u_h = Theta_h^T x the head's score gradient at x,
//   f = V.x + sum_h sigmoid(u_h.delta) v_h.delta,   V = sum_h v_h,
// since the two scores x^T Theta_h (x + delta) and x^T Theta_h x differ by
// u_h.delta. So every query at one x says something about the v_h and the
// H vectors u_h at that x only.
//   stage 0  d one-token queries [e_j] give V (a lone token attends to
//            itself).
//   stage 1  at x_1: the v_h and u_h (2Hd - d unknowns) by
//            Levenberg-Marquardt, grown over subspaces: block b's deltas
//            lie in the span of the first kBlockDims b columns of a random
//            orthonormal basis, and after each block the fit over every
//            block so far is solved, the unknowns along the block's new
//            directions started at random (several tries), the rest at the
//            last block's fit. One fit over all 2Hd - d unknowns from random
//            starts found the exact fit rarely on d = 32, H = 4; each block
//            adds few unknowns to a fit already exact on the others.
//   stage 2  at x_2 .. x_d: with the v_h known, the Hd numbers u_h from
//            about 1.1 Hd queries: a start by least squares on the answers'
//            expansion to second order in the scores, then LM on the exact
//            model, and tries from perturbed starts while the fit is not
//            exact.
// Theta_h^T [x_1 .. x_d] = [u_h(x_1) .. u_h(x_d)] then gives Theta_h; the
// x_i are sqrt(d) times a random orthonormal basis, so that solve is exact
// to rounding.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/lm_damping.h"
#include "client/learners/scalar_challenge.h"
#include "client/learners/scalar_head_reader.h"
#include "common/rng.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// Seeds of the design's draws (a stream of the learner's seed).
constexpr uint64_t kLocalDesignStream = 0x4D484C44;
// Directions added per stage-1 block.
constexpr int kBlockDims = 4;
// Queries per unknown, in integers so that the counts are exact: stage 1
// asks kStage1Halves / 2 per unknown (2H - 1 per direction; the first
// block kFirstBlockHalves / 2: it starts from nothing, and a wrong fit
// there misleads every later block's start), stage 2 kStage2Tenths / 10
// (H per direction), each rounded up.
constexpr int kStage1Halves = 3;
constexpr int kFirstBlockHalves = 6;
constexpr int kStage2Tenths = 11;
// The standard deviation of the scores' differences u_h.delta the deltas
// aim at: large enough that the sigmoid's curvature separates the heads,
// small enough that it does not saturate.
constexpr double kLogitSd = 1.5;
// A fit is exact when its squared residual is below this share of the
// answers' squared norm.
constexpr double kExactRelLoss = 1e-20;
// Tries (random starts) per stage-1 block and per stage-2 token. A block's
// fit is small and cheap, and with six heads the first block found its
// exact fit only at try 47 (d = 24, seed 1).
constexpr int kStage1Tries = 200;
constexpr int kStage2Tries = 40;
constexpr int kLmSteps = 300;

double LocalSigmoid(double t) { return 1 / (1 + std::exp(-t)); }

// The squared residual and its Jacobian at p.
using LocalResiduals =
    std::function<void(const Vector& p, Vector& residual, Matrix* jacobian)>;

// Levenberg-Marquardt from p, with the damping of the other learners (each
// diagonal entry of J^T J scaled by 1 + lambda); stops when the squared
// residual is below `stop`, after `steps` steps, or when no damping lowers
// it. Returns the squared residual at p.
double FitLm(const LocalResiduals& fn, Vector& p, int steps, double stop) {
  Vector r, r2;
  Matrix j, j2;
  fn(p, r, &j);
  double loss = r.squaredNorm();
  double lambda = kLmInitialDamping;
  for (int step = 0; step < steps && loss > stop; ++step) {
    Matrix a = Matrix::Zero(j.cols(), j.cols());
    a.selfadjointView<Eigen::Lower>().rankUpdate(j.transpose());
    a = a.selfadjointView<Eigen::Lower>();
    const Vector g = j.transpose() * r;
    const double floor = 1e-12 * std::max(a.diagonal().maxCoeff(), 1e-300);
    bool accepted = false;
    while (lambda < kLmMaxDamping) {
      Matrix damped = a;
      damped.diagonal() += lambda * a.diagonal().cwiseMax(floor);
      Eigen::LLT<Matrix> llt(damped);
      if (llt.info() == Eigen::Success) {
        const Vector trial = p - llt.solve(g);
        fn(trial, r2, &j2);
        const double l2 = r2.squaredNorm();
        if (std::isfinite(l2) && l2 < loss) {
          p = trial;
          r.swap(r2);
          j.swap(j2);
          loss = l2;
          lambda = std::max(lambda / kLmShrink, 1e-12);
          accepted = true;
          break;
        }
      }
      lambda *= kLmGrow;
    }
    if (!accepted) break;
  }
  return loss;
}

Vector LocalGaussian(Rng& rng, Eigen::Index n, double sd) {
  Vector g(n);
  for (Eigen::Index i = 0; i < n; ++i) g(i) = sd * rng.NextGaussian();
  return g;
}

// A random orthonormal basis (the columns), from the QR of a gaussian
// matrix with the signs of R's diagonal moved into Q.
Matrix OrthonormalBasis(Rng& rng, int d) {
  Matrix g(d, d);
  for (int i = 0; i < d; ++i) g.col(i) = LocalGaussian(rng, d, 1);
  Eigen::HouseholderQR<Matrix> qr(g);
  Matrix q = qr.householderQ();
  const Matrix r = qr.matrixQR().triangularView<Eigen::Upper>();
  for (int i = 0; i < d; ++i) {
    if (r(i, i) < 0) q.col(i) = -q.col(i);
  }
  return q;
}

Matrix Pair(const Vector& x, const Vector& delta) {
  Matrix seq(2, x.size());
  seq.row(0) = (x + delta).transpose();
  seq.row(1) = x.transpose();
  return seq;
}

// sum_h sigmoid(D u_h) o (D v_h) - y, rows of D the deltas (in whatever
// coordinates u and v are given), and the Jacobian in the u_h (row-major,
// one head after the other) and, when `vs_free`, in v_1 .. v_{H-1} with
// v_H = total - sum of the others.
void PairResiduals(const Matrix& deltas, const Vector& y, const Matrix& u,
                   const Matrix& v, bool vs_free, Vector& residual,
                   Matrix* jacobian) {
  const Eigen::Index n = deltas.rows(), m = deltas.cols(), heads = u.rows();
  const Matrix s = (deltas * u.transpose()).unaryExpr([](double t) {
    return LocalSigmoid(t);
  });
  const Matrix p = deltas * v.transpose();
  residual = s.cwiseProduct(p).rowwise().sum() - y;
  if (jacobian == nullptr) return;
  jacobian->resize(n, heads * m + (vs_free ? (heads - 1) * m : 0));
  for (Eigen::Index h = 0; h < heads; ++h) {
    const Vector w =
        s.col(h).array() * (1 - s.col(h).array()) * p.col(h).array();
    jacobian->middleCols(h * m, m) = w.asDiagonal() * deltas;
  }
  if (!vs_free) return;
  for (Eigen::Index h = 0; h + 1 < heads; ++h) {
    const Vector w = s.col(h) - s.col(heads - 1);
    jacobian->middleCols((heads + h) * m, m) = w.asDiagonal() * deltas;
  }
}

// u (heads x m) and v (heads x m, the last row total minus the others) from
// stage 1's parameter vector.
void SplitStage1(const Vector& p, const Vector& total, int heads, int m,
                 Matrix& u, Matrix& v) {
  u = Eigen::Map<const Matrix>(p.data(), heads, m);
  v.resize(heads, m);
  v.topRows(heads - 1) =
      Eigen::Map<const Matrix>(p.data() + heads * m, heads - 1, m);
  v.row(heads - 1) =
      total.head(m).transpose() - v.topRows(heads - 1).colwise().sum();
}

Vector JoinStage1(const Matrix& u, const Matrix& v) {
  const Eigen::Index heads = u.rows(), m = u.cols();
  Vector p(heads * m + (heads - 1) * m);
  Eigen::Map<Matrix>(p.data(), heads, m) = u;
  Eigen::Map<Matrix>(p.data() + heads * m, heads - 1, m) = v.topRows(heads - 1);
  return p;
}

struct Plan {
  std::vector<int> block_dims;     // stage 1
  std::vector<int> block_queries;  // stage 1
  int per_token = 0;               // stage 2, at each of x_2 .. x_d
  uint64_t queries = 0;
  uint64_t tokens = 0;
};

Plan MakePlan(int d, int heads, int per_token) {
  Plan plan;
  plan.queries = d;
  plan.tokens = d;
  for (int b = 0; b < d; b += kBlockDims) {
    const int dims = std::min(kBlockDims, d - b);
    const int halves = b == 0 ? kFirstBlockHalves : kStage1Halves;
    const int n = (halves * (2 * heads - 1) * dims + 1) / 2;
    plan.block_dims.push_back(dims);
    plan.block_queries.push_back(n);
    plan.queries += n;
    plan.tokens += 2 * static_cast<uint64_t>(n);
  }
  plan.per_token = per_token;
  plan.queries += static_cast<uint64_t>(d - 1) * per_token;
  plan.tokens += 2 * static_cast<uint64_t>(d - 1) * per_token;
  return plan;
}

const ScalarDesign kLocalDesign{
    .learner = "multihead-local",
    .solves =
        "softmax heads read out as one number at the last position, from "
        "chosen two-token queries answered with exact values",
    .float64 = true,
    .two_tokens = true};

}  // namespace

absl::StatusOr<LearnResult> LearnMultiheadLocal(QueryOracle& oracle,
                                                const LearnOptions& options) {
  const ChallengeInfo& info = oracle.info();
  const LayerSpec& spec = info.spec;
  const std::string why = ScalarChallengeProblem(info, kLocalDesign);
  if (!why.empty()) return RefuseScalarChallenge(info, kLocalDesign, why);
  const int d = spec.d_model;
  const int heads = spec.heads;
  const auto started = std::chrono::steady_clock::now();
  auto out_of_time = [&]() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         started)
               .count() > options.time_limit_seconds;
  };
  // The default spends kStage2Tenths H d / 10 queries per later token; a
  // smaller budget spreads what is left over them, down to H d (as many answers
  // as unknowns).
  const Usage start = oracle.usage();
  const int wanted = (kStage2Tenths * heads * d + 9) / 10;
  Plan plan = MakePlan(d, heads, wanted);
  if (d > 1 && start.queries_left < plan.queries) {
    const Plan base = MakePlan(d, heads, 0);
    if (start.queries_left > base.queries) {
      const uint64_t spread = (start.queries_left - base.queries) / (d - 1);
      plan = MakePlan(d, heads,
                      static_cast<int>(std::min<uint64_t>(
                          spread, static_cast<uint64_t>(wanted))));
    }
  }
  if (d > 1 && plan.per_token < heads * d) plan = MakePlan(d, heads, heads * d);
  // A smaller token budget lowers the queries per token the same way.
  while (plan.per_token > heads * d && start.tokens_left < plan.tokens) {
    plan = MakePlan(d, heads, plan.per_token - 1);
  }
  ATTN_RETURN_IF_ERROR(CheckDesignBudget(
      start, plan.queries, plan.tokens,
      absl::StrCat("multihead-local needs at least ", plan.queries,
                   " queries (", plan.tokens, " tokens) for d_model ", d,
                   " and ", heads, " heads")));
  auto say = [&](const std::string& line) {
    if (options.progress != nullptr) {
      *options.progress << "multihead-local: " << line << std::endl;
    }
  };
  Rng rng(DeriveSeed(options.seed, RngStream::kLearner, kLocalDesignStream));
  LearnResult result;
  std::vector<Matrix> inputs;
  std::vector<double> values;
  auto ask = [&](const std::vector<Matrix>& seqs)
      -> absl::StatusOr<std::vector<double>> {
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got,
                          QueryInBatches(oracle, seqs));
    std::vector<double> f;
    for (const Matrix& a : got) f.push_back(a(0, 0));
    inputs.insert(inputs.end(), seqs.begin(), seqs.end());
    values.insert(values.end(), f.begin(), f.end());
    return f;
  };
  std::vector<Matrix> theta(heads, Matrix::Zero(d, d));
  std::vector<Vector> v(heads, Vector::Zero(d));
  auto report = [&](const std::string& what) {
    LayerParams params;
    for (int h = 0; h < heads; ++h) {
      params.heads.push_back(ScalarHeadFromScores(spec, theta[h], v[h]));
    }
    result.hypothesis = std::move(params);
    CurvePoint point = SpentSince(oracle, start);
    point.est_functional_rel_err =
        ScalarAnswerRelErr(spec, result.hypothesis, inputs, values);
    ReportCurvePoint(options, point, &result);
    say(absl::StrFormat("%s: %d queries, relative error on the answers %.3e",
                        what, point.queries, point.est_functional_rel_err));
  };

  // Stage 0: V.
  ATTN_ASSIGN_OR_RETURN(std::vector<double> f0, ask(BasisTokenQueries(d)));
  const Vector total = Eigen::Map<const Vector>(f0.data(), d);

  // The query tokens and stage 1's basis.
  const Matrix xs =
      std::sqrt(static_cast<double>(d)) * OrthonormalBasis(rng, d);
  const Matrix basis = OrthonormalBasis(rng, d);
  const Vector total_c = basis.transpose() * total;  // V in basis coordinates
  Matrix u1(heads, 0), v1(heads, 0);  // at x_1, in basis coordinates
  Matrix coords(0, 0);                // stage 1's deltas, in coordinates
  Vector y1(0);
  // Until a block has been fitted, the deltas assume |u_h| = |x| / sqrt(d)
  // (the default prior's scale); then the fit's own estimate.
  double u_norm = xs.col(0).norm() / std::sqrt(static_cast<double>(d));
  int dims = 0;
  for (size_t b = 0; b < plan.block_dims.size(); ++b) {
    const int m = dims + plan.block_dims[b];
    const int n = plan.block_queries[b];
    // Coefficients on the first m basis vectors: |delta|^2 about
    // (kLogitSd / u_norm)^2 d, so the scores' differences have about
    // kLogitSd's spread.
    const double sd = kLogitSd / u_norm;
    Matrix block = Matrix::Zero(n, d);
    std::vector<Matrix> seqs;
    for (int i = 0; i < n; ++i) {
      block.row(i).head(m) =
          LocalGaussian(rng, m, sd * std::sqrt(static_cast<double>(d) / m));
      seqs.push_back(Pair(xs.col(0), basis * block.row(i).transpose()));
    }
    ATTN_ASSIGN_OR_RETURN(std::vector<double> f, ask(seqs));
    Matrix grown(coords.rows() + n, d);
    grown << coords, block;
    coords = std::move(grown);
    Vector y(y1.size() + n);
    y << y1, Eigen::Map<const Vector>(f.data(), n) -
                 Vector::Constant(n, total.dot(xs.col(0)));
    y1 = std::move(y);
    const Matrix active = coords.leftCols(m);
    const LocalResiduals fn = [&](const Vector& p, Vector& r, Matrix* jac) {
      Matrix u, vv;
      SplitStage1(p, total_c, heads, m, u, vv);
      PairResiduals(active, y1, u, vv, true, r, jac);
    };
    const double scale = y1.squaredNorm();
    double best = std::numeric_limits<double>::infinity();
    Vector best_p;
    int tries = 0;
    for (; tries < kStage1Tries; ++tries) {
      // The first half of the tries keep the last block's fit; the second
      // half start every direction afresh, in case that fit was wrong.
      const int kept = tries < kStage1Tries / 2 ? dims : 0;
      Matrix u(heads, m), vv(heads, m);
      u.leftCols(kept) = u1.leftCols(kept);
      vv.leftCols(kept) = v1.leftCols(kept);
      for (int h = 0; h < heads; ++h) {
        u.row(h).tail(m - kept) =
            LocalGaussian(rng, m - kept,
                          u_norm / std::sqrt(static_cast<double>(d)))
                .transpose();
        vv.row(h).tail(m - kept) =
            LocalGaussian(
                rng, m - kept,
                total.norm() / std::sqrt(static_cast<double>(d) * heads))
                .transpose();
      }
      Vector p = JoinStage1(u, vv);
      const double loss = FitLm(fn, p, kLmSteps, kExactRelLoss * scale * 1e-4);
      if (loss < best) best = loss, best_p = p;
      if (best < kExactRelLoss * scale || out_of_time()) break;
    }
    SplitStage1(best_p, total_c, heads, m, u1, v1);
    dims = m;
    u_norm = std::sqrt(u1.squaredNorm() / heads * d / m);
    say(absl::StrFormat(
        "stage 1, %d of %d directions: %d tries, relative squared residual "
        "%.3e",
        m, d, std::min(tries + 1, kStage1Tries), best / scale));
  }
  for (int h = 0; h < heads; ++h) v[h] = basis * v1.row(h).transpose();
  Matrix us(heads * d, d);  // column i: u_h(x_i) stacked over heads
  for (int h = 0; h < heads; ++h) {
    us.block(h * d, 0, d, 1) = basis * u1.row(h).transpose();
  }
  // Only Theta_h^T x_1 is known so far: the least-norm Theta with it.
  for (int h = 0; h < heads; ++h) {
    theta[h] = xs.col(0) * us.block(h * d, 0, d, 1).transpose() /
               xs.col(0).squaredNorm();
  }
  report("stage 1");

  // Stage 2: the other tokens, with the v_h known.
  Matrix vmat(heads, d);
  for (int h = 0; h < heads; ++h) vmat.row(h) = v[h].transpose();
  const double sd2 = kLogitSd / u_norm;
  int inexact = 0;
  const int every = std::max(1, (d - 1) / 8);
  for (int i = 1; i < d; ++i) {
    const int n = plan.per_token;
    Matrix deltas(n, d);
    std::vector<Matrix> seqs;
    for (int q = 0; q < n; ++q) {
      deltas.row(q) = LocalGaussian(rng, d, sd2).transpose();
      seqs.push_back(Pair(xs.col(i), deltas.row(q).transpose()));
    }
    ATTN_ASSIGN_OR_RETURN(std::vector<double> f, ask(seqs));
    const Vector y = Eigen::Map<const Vector>(f.data(), n) -
                     Vector::Constant(n, total.dot(xs.col(i)));
    // To second order in the scores, y - (D V) / 2 = sum_h (D u_h) o
    // (D v_h) / 4: linear in the u_h.
    const Matrix p = deltas * vmat.transpose();
    Matrix design(n, heads * d);
    for (int h = 0; h < heads; ++h) {
      design.middleCols(h * d, d) = (p.col(h) / 4).asDiagonal() * deltas;
    }
    const Vector lin =
        design.completeOrthogonalDecomposition().solve(y - deltas * total / 2);
    const LocalResiduals fn = [&](const Vector& q, Vector& r, Matrix* jac) {
      const Matrix u = Eigen::Map<const Matrix>(q.data(), heads, d);
      PairResiduals(deltas, y, u, vmat, false, r, jac);
    };
    const double scale = y.squaredNorm();
    double best = std::numeric_limits<double>::infinity();
    Vector best_q;
    const double spread =
        lin.norm() / std::sqrt(static_cast<double>(lin.size()));
    for (int t = 0; t < kStage2Tries; ++t) {
      Vector q = lin;
      if (t > 0) q += LocalGaussian(rng, lin.size(), spread);
      const double loss = FitLm(fn, q, kLmSteps, kExactRelLoss * scale * 1e-4);
      if (loss < best) best = loss, best_q = q;
      if (best < kExactRelLoss * scale || out_of_time()) break;
    }
    if (!(best < kExactRelLoss * scale)) ++inexact;
    for (int h = 0; h < heads; ++h) {
      us.block(h * d, i, d, 1) = best_q.segment(h * d, d);
    }
    if (i % every == 0 || i == d - 1) {
      // Theta_h^T X = U_h over the tokens so far: the least-norm solution.
      for (int h = 0; h < heads; ++h) {
        const Matrix known = xs.leftCols(i + 1);
        theta[h] = known.transpose().completeOrthogonalDecomposition().solve(
            us.block(h * d, 0, d, i + 1).transpose());
      }
      report(absl::StrFormat("stage 2, %d of %d tokens", i + 1, d));
    }
  }
  if (inexact > 0) {
    say(absl::StrFormat(
        "%d of %d tokens had no exact fit%s", inexact, d - 1,
        out_of_time() ? " (the time limit stopped the tries)" : ""));
  }
  if (d == 1) report("stage 2");
  return result;
}

}  // namespace attnoracle
