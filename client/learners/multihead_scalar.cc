// The multihead-scalar learner (after Kim, Kim, Guo): exact recovery of H
// softmax heads read out as one number at the last position, from
// 4 H d^2 - 2 H + 1 queries of at most 2H + 1 tokens. The paper's own
// construction is not reproduced; this one meets its count and shape
// (derivation in docs/REPRODUCTION.md, "## multihead-scalar").
//
// A sequence of m copies of a token z followed by the query token x
// answers, with alpha_h = exp(x^T Theta_h (z - x)),
//   f(m) = sum_h v_h.z - c_h / (1 + m alpha_h),   c_h = v_h.(z - x),
// a rational function of m of degree H with 2H + 1 unknowns (P = V.z, the
// c_h, the alpha_h). Given f(0) = V.x and f(1..2H) (2H queries of 2..2H+1
// tokens), N(m) - f(m) D(m) = 0 is linear in the coefficients of N and D
// (D(0) = 1); the roots of D are -1 / alpha_h and the residues give c_h.
// Each pair (x, z = x + delta) so yields, per head but unlabelled,
// (x^T Theta_h delta, v_h.delta).
//   round 1  the anchor [x_1] (f(0) for x_1), then the 2d - 1 pairs
//            delta_j (j = 1..d) and delta_1 + delta_j (j = 2..d) at x_1:
//            the heads of pair delta_j are labelled as those of delta_1 by
//            the permutation under which delta_1's points plus delta_j's
//            are delta_1 + delta_j's; least squares then gives every v_h
//            and Theta_h^T x_1, and V = sum v_h gives f(0) = V.x for any x.
//   round 2  for each x_i (i = 2..d) the 2d pairs +-delta_j, labelled by
//            v_h.delta_j, give Theta_h^T x_i by least squares.
// Theta_h^T [x_1 .. x_d] then gives Theta_h. Queries: 1 + 2H ((2d - 1) +
// (d - 1) 2d) = 4 H d^2 - 2H + 1.
#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numeric>
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

constexpr uint64_t kDesignStream = 0x4D48534B;
// Heads beyond this make the labelling's search over H!^2 permutations and
// the degree-H root finding needlessly fragile; the paper's setting is small
// H.
constexpr int kMaxSeparatedHeads = 4;
// Standard deviation of the entries of the x_i and delta_j: with the
// default prior Theta_h has Frobenius norm about 1, so the logit gaps
// x^T Theta_h delta are of order 1 and the alpha_h stay apart.
constexpr double kTokenSigma = 1.0;
// Rounding leaves a real root of D with a small imaginary part, relative to
// its size, up to this.
constexpr double kMaxRootImag = 1e-6;

// Per head (unlabelled): x^T Theta_h delta and v_h.delta.
struct HeadPoint {
  double logit = 0;
  double value = 0;
};

// Fits f(m) = P - sum_h c_h / (1 + m alpha_h) to f(0..2H). Empty when the
// denominator has roots that are not real and negative.
std::vector<HeadPoint> FitRational(const std::vector<double>& f, int heads) {
  const int n = 2 * heads + 1;
  Matrix system(n, n);
  Vector rhs(n);
  for (int m = 0; m < n; ++m) {
    for (int k = 0; k <= heads; ++k) system(m, k) = std::pow(m, k);
    for (int k = 1; k <= heads; ++k) {
      system(m, heads + k) = -f[m] * std::pow(m, k);
    }
    rhs(m) = f[m];
  }
  const Vector sol = system.fullPivLu().solve(rhs);
  const Vector num = sol.head(heads + 1);
  Vector den(heads + 1);  // coefficients of m^0 .. m^H
  den(0) = 1;
  den.tail(heads) = sol.tail(heads);
  if (den(heads) == 0) return {};
  Matrix companion = Matrix::Zero(heads, heads);
  for (int k = 0; k < heads; ++k)
    companion(0, k) = -den(heads - 1 - k) / den(heads);
  for (int k = 1; k < heads; ++k) companion(k, k - 1) = 1;
  const Eigen::VectorXcd roots = companion.eigenvalues();
  std::vector<HeadPoint> points;
  for (int h = 0; h < heads; ++h) {
    const double r = roots(h).real();
    if (std::abs(roots(h).imag()) > kMaxRootImag * std::abs(r) || !(r < 0)) {
      return {};
    }
    double n_at = 0, dd_at = 0;
    for (int k = heads; k >= 0; --k) n_at = n_at * r + num(k);
    for (int k = heads; k >= 1; --k) dd_at = dd_at * r + k * den(k);
    const double alpha = -1 / r;
    points.push_back(
        {.logit = std::log(alpha), .value = -alpha * n_at / dd_at});
  }
  return points;
}

std::vector<std::vector<int>> Permutations(int heads) {
  std::vector<int> p(heads);
  std::iota(p.begin(), p.end(), 0);
  std::vector<std::vector<int>> all;
  do all.push_back(p);
  while (std::next_permutation(p.begin(), p.end()));
  return all;
}

Matrix Tokens(const Vector& z, int copies, const Vector& x) {
  Matrix seq(copies + 1, x.size());
  for (int t = 0; t < copies; ++t) seq.row(t) = z.transpose();
  seq.row(copies) = x.transpose();
  return seq;
}

LayerParams Hypothesis(const LayerSpec& spec, const std::vector<Matrix>& theta,
                       const std::vector<Vector>& v) {
  LayerParams params;
  for (size_t h = 0; h < theta.size(); ++h) {
    params.heads.push_back(ScalarHeadFromScores(spec, theta[h], v[h]));
  }
  return params;
}

}  // namespace

absl::StatusOr<LearnResult> LearnMultiheadScalar(QueryOracle& oracle,
                                                 const LearnOptions& options) {
  const ChallengeInfo& info = oracle.info();
  const LayerSpec& spec = info.spec;
  const ScalarDesign design{
      .learner = "multihead-scalar",
      .solves =
          "up to 4 softmax heads read out as one number at the last "
          "position, from chosen queries answered with exact values",
      .max_heads = kMaxSeparatedHeads};
  const std::string why = ScalarChallengeProblem(info, design);
  if (!why.empty()) return RefuseScalarChallenge(info, design, why);
  const int d = spec.d_model;
  const int heads = spec.heads;
  const uint64_t pair_queries = 2 * heads;
  const uint64_t pairs = 2 * static_cast<uint64_t>(d) * d - 1;
  const uint64_t queries = 1 + pair_queries * pairs;
  // Per pair, sequences of 2 .. 2H + 1 tokens.
  const uint64_t tokens = 1 + pairs * (pair_queries * (pair_queries + 3) / 2);
  const int longest = 2 * heads + 1;
  const Usage start = oracle.usage();
  if (start.queries_left < queries || start.tokens_left < tokens ||
      info.policy.limits.max_tokens_per_sequence < longest) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "multihead-scalar's design needs ", queries, " queries of up to ",
        longest, " tokens, ", tokens, " tokens in all; ", start.queries_left,
        " queries and ", start.tokens_left,
        " tokens are left to this run, and a sequence may hold ",
        info.policy.limits.max_tokens_per_sequence,
        " tokens; nothing was spent"));
  }
  auto say = [&](const std::string& line) {
    if (options.progress != nullptr) {
      *options.progress << "multihead-scalar: " << line << std::endl;
    }
  };
  Rng rng(DeriveSeed(options.seed, RngStream::kLearner, kDesignStream));
  std::vector<Vector> x(d, Vector(d)), delta(d, Vector(d));
  for (Vector& t : x) {
    for (int j = 0; j < d; ++j) t(j) = kTokenSigma * rng.NextGaussian();
  }
  for (Vector& t : delta) {
    for (int j = 0; j < d; ++j) t(j) = kTokenSigma * rng.NextGaussian();
  }
  LearnResult result;
  std::vector<Matrix> inputs, answers;
  // Asks the 2H queries of pair (x, z) for each z, after `prefix`.
  auto ask = [&](std::vector<Matrix> prefix, const Vector& at,
                 const std::vector<Vector>& zs)
      -> absl::StatusOr<std::vector<std::vector<double>>> {
    std::vector<Matrix> seqs = std::move(prefix);
    const size_t first = seqs.size();
    for (const Vector& z : zs) {
      for (int m = 1; m <= 2 * heads; ++m) seqs.push_back(Tokens(z, m, at));
    }
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got,
                          QueryInBatches(oracle, seqs));
    std::vector<std::vector<double>> values;
    for (size_t p = 0; p < zs.size(); ++p) {
      std::vector<double> f(2 * heads + 1);
      for (int m = 1; m <= 2 * heads; ++m) {
        f[m] = got[first + p * 2 * heads + m - 1](0, 0);
      }
      values.push_back(std::move(f));
    }
    inputs.insert(inputs.end(), seqs.begin(), seqs.end());
    answers.insert(answers.end(), got.begin(), got.end());
    if (first > 0) values.push_back({got[0](0, 0)});  // the anchor
    return values;
  };
  auto failed = [&](const std::string& what) {
    return absl::InternalError(absl::StrCat(
        "multihead-scalar could not separate the heads (", what,
        "): two heads may have nearly equal logit gaps on this design; "
        "try another --seed or --algo regress"));
  };
  const std::vector<std::vector<int>> perms = Permutations(heads);
  std::vector<Vector> v(heads, Vector(d));
  std::vector<Matrix> w(heads, Matrix(d, d));  // column i: Theta_h^T x_i

  // Round 1: x_1's family.
  std::vector<Vector> zs;
  for (int j = 0; j < d; ++j) zs.push_back(x[0] + delta[j]);
  for (int j = 1; j < d; ++j) zs.push_back(x[0] + delta[0] + delta[j]);
  ATTN_ASSIGN_OR_RETURN(std::vector<std::vector<double>> f1,
                        ask({Tokens(x[0], 0, x[0])}, x[0], zs));
  const double anchor = f1.back()[0];
  std::vector<std::vector<HeadPoint>> pts;
  for (size_t p = 0; p < zs.size(); ++p) {
    f1[p][0] = anchor;
    pts.push_back(FitRational(f1[p], heads));
    if (pts.back().empty()) return failed("a pole off the negative axis");
  }
  // Labelled: rows of the least squares, per head.
  std::vector<Vector> dirs;
  std::vector<std::vector<HeadPoint>> labelled;
  dirs.push_back(delta[0]);
  labelled.push_back(pts[0]);
  for (int j = 1; j < d; ++j) {
    const std::vector<HeadPoint>& s = pts[j];
    const std::vector<HeadPoint>& t = pts[d - 1 + j];
    double best = std::numeric_limits<double>::infinity();
    std::vector<int> bs, bt;
    for (const auto& ps : perms) {
      for (const auto& pt : perms) {
        double cost = 0;
        for (int h = 0; h < heads; ++h) {
          const double dl = pts[0][h].logit + s[ps[h]].logit - t[pt[h]].logit;
          const double dv = pts[0][h].value + s[ps[h]].value - t[pt[h]].value;
          cost += dl * dl + dv * dv;
        }
        if (cost < best) best = cost, bs = ps, bt = pt;
      }
    }
    std::vector<HeadPoint> ls(heads), lt(heads);
    for (int h = 0; h < heads; ++h) ls[h] = s[bs[h]], lt[h] = t[bt[h]];
    dirs.push_back(delta[j]);
    labelled.push_back(ls);
    dirs.push_back(delta[0] + delta[j]);
    labelled.push_back(lt);
  }
  auto solve_rows = [&](const std::vector<Vector>& rows,
                        const std::vector<std::vector<HeadPoint>>& lab, int h,
                        bool logits) {
    Matrix a(static_cast<Eigen::Index>(rows.size()), d);
    Vector y(static_cast<Eigen::Index>(rows.size()));
    for (size_t i = 0; i < rows.size(); ++i) {
      a.row(i) = rows[i].transpose();
      y(i) = logits ? lab[i][h].logit : lab[i][h].value;
    }
    return Vector(a.colPivHouseholderQr().solve(y));
  };
  Vector total = Vector::Zero(d);
  for (int h = 0; h < heads; ++h) {
    v[h] = solve_rows(dirs, labelled, h, false);
    w[h].col(0) = solve_rows(dirs, labelled, h, true);
    total += v[h];
  }
  auto report = [&](int round) {
    std::vector<Matrix> theta;
    for (int h = 0; h < heads; ++h) {
      if (round == 1) {
        // Only Theta_h^T x_1 is known: the least-norm Theta with it.
        theta.push_back(x[0] * w[h].col(0).transpose() / x[0].squaredNorm());
      } else {
        Matrix xs(d, d);
        for (int i = 0; i < d; ++i) xs.col(i) = x[i];
        // Theta_h^T X = W_h.
        theta.push_back(
            (xs.transpose().colPivHouseholderQr().solve(w[h].transpose())));
      }
    }
    result.hypothesis = Hypothesis(spec, theta, v);
    CurvePoint point;
    point.queries = oracle.usage().queries_used - start.queries_used;
    point.tokens = oracle.usage().tokens_used - start.tokens_used;
    std::vector<double> values;
    for (const Matrix& a : answers) values.push_back(a(0, 0));
    point.est_functional_rel_err =
        ScalarAnswerRelErr(spec, result.hypothesis, inputs, values);
    ReportCurvePoint(options, point, &result);
    say(absl::StrFormat(
        "round %d: %d queries, relative error on the answers %.3e", round,
        point.queries, point.est_functional_rel_err));
  };
  report(1);

  // Round 2: the other x_i, labelled by v_h.delta.
  zs.clear();
  for (int i = 1; i < d; ++i) {
    for (int j = 0; j < d; ++j) {
      zs.push_back(x[i] + delta[j]);
      zs.push_back(x[i] - delta[j]);
    }
  }
  std::vector<Matrix> seqs;
  for (int i = 1; i < d; ++i) {
    for (int p = 0; p < 2 * d; ++p) {
      for (int m = 1; m <= 2 * heads; ++m) {
        seqs.push_back(Tokens(zs[(i - 1) * 2 * d + p], m, x[i]));
      }
    }
  }
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got, QueryInBatches(oracle, seqs));
  inputs.insert(inputs.end(), seqs.begin(), seqs.end());
  answers.insert(answers.end(), got.begin(), got.end());
  for (int i = 1; i < d; ++i) {
    std::vector<Vector> rows;
    std::vector<std::vector<HeadPoint>> lab;
    for (int p = 0; p < 2 * d; ++p) {
      std::vector<double> f(2 * heads + 1);
      f[0] = total.dot(x[i]);
      const size_t base = ((i - 1) * 2 * d + p) * 2 * heads;
      for (int m = 1; m <= 2 * heads; ++m) f[m] = got[base + m - 1](0, 0);
      const std::vector<HeadPoint> pt = FitRational(f, heads);
      if (pt.empty()) return failed("a pole off the negative axis");
      const Vector dir = (p % 2 == 0 ? 1.0 : -1.0) * delta[p / 2];
      double best = std::numeric_limits<double>::infinity();
      std::vector<int> bp;
      for (const auto& perm : perms) {
        double cost = 0;
        for (int h = 0; h < heads; ++h) {
          const double dv = pt[perm[h]].value - v[h].dot(dir);
          cost += dv * dv;
        }
        if (cost < best) best = cost, bp = perm;
      }
      std::vector<HeadPoint> l(heads);
      for (int h = 0; h < heads; ++h) l[h] = pt[bp[h]];
      rows.push_back(dir);
      lab.push_back(std::move(l));
    }
    for (int h = 0; h < heads; ++h)
      w[h].col(i) = solve_rows(rows, lab, h, true);
  }
  report(2);
  return result;
}

}  // namespace attnoracle
