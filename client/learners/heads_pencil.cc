// The heads-pencil learner: two softmax heads with full output (every
// position, d_model numbers) whose value widths add up to d_model, recovered
// by linear algebra alone from about 1.6 times the counting bound in tokens
// (docs/REPRODUCTION.md, "Beyond the papers: heads-pencil").
//
// With Omega_h = Wv_h Wo_h, S = Omega_1 + Omega_2 and P_h = Omega_h S^-1,
// row i of a sequence X answers y_i = sum_h sum_j a^h_ij x_j^T Omega_h, so
// u_i = y_i S^-1 = sum_h c_ih^T P_h with c_ih = sum_j a^h_ij x_j. When
// 2 value_dim = d_model, P_1 and P_2 are complementary projectors:
// P_h = G E_h G^-1 with G = [Wv_1 Wv_2] and E_h selecting head h's block of
// value_dim coordinates. In the coordinates of G, block h of u_i^T G is
// sum_j a^h_ij (x_j^T G)_h: each head averages its own block.
//   stage 0  d one-token queries e_j give S (a lone token attends to
//            itself).
//   stage 1  two-token queries [a; b]: with delta = a - b, each row answers
//            r = (y - b^T S) S^-1 = delta^T (p_1 P_1 + p_2 P_2), p_h the
//            weight head h gives a. In G's coordinates the skew form
//            K = r delta^T - delta r^T has entries (p_c - p_c') xi_c xi_c'
//            (xi = delta^T G): zero within each head's block. So N_1 and
//            N_2, the column spaces of G's two blocks, are isotropic for
//            every K, and for two combinations K_0, K_c of the forms,
//            K_0^-1 K_c maps each N_h to itself (the pencil). The matrices
//            commuting with every K_0^-1 K_c are then c_1 I + c_2 P_1
//            (for generic forms), whose two eigenspaces are N_1 and N_2:
//            G up to a basis within each block, which changes no P_h.
//   stage 2  sequences of value_dim + 1 tokens: with G known, each row's
//            block h is value_dim equations for the row's value_dim + 1
//            weights of head h, with their sum 1, so every weight is read
//            off, and log(a_ij / a_ik) = x_i^T Theta_h (x_j - x_k) is a
//            linear measurement of Theta_h = Wq_h Wk_h^T score_scale. The
//            pairs of stage 1 give two more per pair (log(p / (1 - p))).
//            Theta_h by weighted least squares over d^2 unknowns, then cut
//            to rank head_dim.
// Omega_h = P_h S and Theta_h are then factored by the SVD.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
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

// Seeds of the design's draws (a stream of the learner's seed).
constexpr uint64_t kPencilDesignStream = 0x50454E43;
// Random combinations of the forms: K_0 and kPencilCombos - 1 others, each
// giving one pencil matrix K_0^-1 K_c; two already fix the commutant for
// generic forms, more make its null space better conditioned (a sweep of
// 150 secrets on d = 16: worst Omega error 7e-9 with 3, 3e-9 with 6).
constexpr int kPencilCombos = 6;
// Pairs beyond the least that carries as many constraints as unknowns.
constexpr int kPencilExtraPairs = 2;
// Stage 2 asks for kPencilLongTenths / 10 linear measurements per unknown of
// Theta_h (d^2), counting the pairs', rounded up to whole sequences.
constexpr int kPencilLongTenths = 11;
// Query entries of stage 1 are N(0, 1); stage 2's are scaled so that the
// pairs' logits, measured in stage 1, would have this rms: large enough
// that the weights differ, small enough that none is lost to rounding.
constexpr double kPencilLogitRms = 1.4;
// A weight below this share of its row's largest is left out (its log
// would carry more rounding than signal).
constexpr double kPencilMinWeight = 1e-12;
// More pairs are asked when the pencil does not split (at most this many
// times); more sequences, one at a time, when the fit does not reproduce
// the answers.
constexpr int kPencilRetries = 3;
constexpr int kPencilRetryPairs = 4;
// Refinement steps of each block after the split (it stops earlier when a
// step no longer moves the block).
constexpr int kPencilRefineSteps = 50;
// The fit is exact when its relative squared error on the answers is below
// this, two decades under the target of 1e-8; above it stage 2 asks more
// sequences (one secret in 200 on two-head-d16's shape did, at 8e-10).
constexpr double kPencilExactRelErr = 1e-10;

struct PencilPlan {
  int pairs = 0;         // stage 1
  int long_len = 0;      // tokens per stage-2 sequence
  int long_queries = 0;  // stage 2
  uint64_t queries = 0;
  uint64_t tokens = 0;
};

// The least number of pairs whose constraints (d - 2 each: a row's d
// numbers less its two weights) cover the d^2 / 2 unknowns of the split,
// and at least d / 2 so that a combination of the rank-2 forms is
// invertible.
int MinPencilPairs(int d) {
  return std::max((d * d + 2 * (d - 2) - 1) / (2 * (d - 2)), (d + 1) / 2);
}

PencilPlan MakePencilPlan(int d, int value_dim, int max_len, int pairs,
                          int tenths) {
  PencilPlan plan;
  plan.pairs = pairs;
  plan.long_len = std::min(value_dim + 1, max_len);
  const int per_query = plan.long_len * (plan.long_len - 1);
  const int wanted = std::max(1, (tenths * (d * d - 2 * pairs) + 9) / 10);
  plan.long_queries = (wanted + per_query - 1) / per_query;
  plan.queries = static_cast<uint64_t>(d + pairs + plan.long_queries);
  plan.tokens = static_cast<uint64_t>(d + 2 * pairs) +
                static_cast<uint64_t>(plan.long_queries) * plan.long_len;
  return plan;
}

const ScalarDesign kPencilDesign{
    .learner = "heads-pencil",
    .solves =
        "two softmax heads read out at every position, whose value widths "
        "add up to d_model, from chosen queries answered with exact values",
    .float64 = true,
    .two_tokens = true,
    .full_output = true,
    .min_abs_input = 4};

// Why the spec's heads do not fit the design, or empty.
std::string PencilShapeProblem(const LayerSpec& spec) {
  if (spec.heads != 2) {
    return absl::StrCat("it has ", spec.heads,
                        " heads (spec.heads), and the pencil splits exactly "
                        "two");
  }
  if (2 * spec.value_dim != spec.d_model) {
    return "its two heads' value widths do not add up to d_model "
           "(2 spec.value_dim != spec.d_model)";
  }
  if (spec.value_dim < 2) {
    return "its heads' value width is 1 (spec.value_dim), and a line is "
           "isotropic for every form";
  }
  return "";
}

double PencilGaussian(Rng& rng, double sd, double limit) {
  return std::clamp(sd * rng.NextGaussian(), -limit, limit);
}

Matrix PencilTokens(Rng& rng, int n, int d, double sd, double limit) {
  Matrix x(n, d);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) x(i, j) = PencilGaussian(rng, sd, limit);
  }
  return x;
}

// One linear measurement of a head's Theta: weight * (x^T Theta y) = weight
// * value.
struct PencilMeasurement {
  Vector x, y;
  double value = 0;
  double weight = 0;
};

// The split of stage 1, or empty when the forms do not determine it.
// `forms` are the normalised skew forms; the result's columns are N_1 then
// N_2.
std::optional<Matrix> PencilSplit(const std::vector<Matrix>& forms, int d,
                                  int k, Rng& rng, std::string* why) {
  std::vector<Matrix> combos;
  for (int c = 0; c < kPencilCombos; ++c) {
    Matrix sum = Matrix::Zero(d, d);
    for (const Matrix& f : forms) sum += rng.NextGaussian() * f;
    combos.push_back(std::move(sum));
  }
  Eigen::PartialPivLU<Matrix> first(combos[0]);
  if (!(first.rcond() > 1e-12)) {
    *why = "a combination of the forms is singular";
    return std::nullopt;
  }
  // Z commutes with every A_c = K_0^-1 K_c: (A_c Z - Z A_c)(i, j) = 0, with
  // Z(l, j) the unknown l d + j.
  const int n = d * d;
  Matrix system = Matrix::Zero((kPencilCombos - 1) * n, n);
  for (int c = 1; c < kPencilCombos; ++c) {
    Matrix a = first.solve(combos[c]);
    a /= a.norm();
    for (int i = 0; i < d; ++i) {
      for (int j = 0; j < d; ++j) {
        const int row = (c - 1) * n + i * d + j;
        for (int l = 0; l < d; ++l) {
          system(row, l * d + j) += a(i, l);
          system(row, i * d + l) -= a(l, j);
        }
      }
    }
  }
  Eigen::BDCSVD<Matrix> svd(system, Eigen::ComputeThinV);
  const Vector& sv = svd.singularValues();
  // Two singular values at rounding's level, the third clear of them.
  if (!(sv(n - 2) <= 1e-8 * sv(0) && sv(n - 3) >= 1e-10 * sv(0) &&
        sv(n - 3) >= 1e3 * sv(n - 2))) {
    *why = absl::StrFormat(
        "the pencil's commutant is not two-dimensional (singular values "
        "%.1e, %.1e, %.1e of %.1e)",
        sv(n - 3), sv(n - 2), sv(n - 1), sv(0));
    return std::nullopt;
  }
  // The commutant is span{I, P_1}: take its direction orthogonal to I.
  const Vector n1 = svd.matrixV().col(n - 2);
  const Vector n2 = svd.matrixV().col(n - 1);
  double w1 = 0, w2 = 0;
  for (int i = 0; i < d; ++i) w1 += n1(i * d + i), w2 += n2(i * d + i);
  Vector z = w2 * n1 - w1 * n2;
  z /= z.norm();
  Matrix zm(d, d);
  for (int l = 0; l < d; ++l) {
    for (int j = 0; j < d; ++j) zm(l, j) = z(l * d + j);
  }
  Eigen::EigenSolver<Matrix> eig(zm, /*computeEigenvectors=*/false);
  std::vector<double> values(d);
  for (int i = 0; i < d; ++i) values[i] = eig.eigenvalues()(i).real();
  std::sort(values.begin(), values.end());
  const double lo = values[k - 1], hi = values[k];
  const double spread =
      std::max(values[k - 1] - values[0], values[d - 1] - values[k]);
  if (!(hi - lo > 1e4 * spread)) {
    *why = absl::StrFormat(
        "the commutant's eigenvalues do not form two groups of %d (gap "
        "%.1e, spread %.1e)",
        k, hi - lo, spread);
    return std::nullopt;
  }
  const double centre[2] = {(values[0] + values[k - 1]) / 2,
                            (values[k] + values[d - 1]) / 2};
  Matrix g(d, d);
  for (int h = 0; h < 2; ++h) {
    Eigen::JacobiSVD<Matrix> space(zm - centre[h] * Matrix::Identity(d, d),
                                   Eigen::ComputeFullV);
    g.middleCols(h * k, k) = space.matrixV().rightCols(k);
  }
  return g;
}

// Theta by weighted least squares on its measurements (over all d^2
// entries; the least-norm solution when they are fewer). PencilHead keeps
// its top head_dim singular pairs.
Matrix PencilTheta(const std::vector<PencilMeasurement>& ms, int d) {
  if (ms.empty()) return Matrix::Zero(d, d);
  Matrix design(ms.size(), d * d);
  Vector rhs(ms.size());
  for (size_t r = 0; r < ms.size(); ++r) {
    for (int a = 0; a < d; ++a) {
      design.row(r).segment(a * d, d) =
          ms[r].weight * ms[r].x(a) * ms[r].y.transpose();
    }
    rhs(r) = ms[r].weight * ms[r].value;
  }
  const Vector flat = design.completeOrthogonalDecomposition().solve(rhs);
  Matrix theta(d, d);
  for (int a = 0; a < d; ++a) theta.row(a) = flat.segment(a * d, d);
  return theta;
}

// A head from Theta (scores, score_scale included; its query and key
// factors as a scalar head's) and Omega = Wv Wo, split by the SVD.
HeadParams PencilHead(const LayerSpec& spec, const Matrix& theta,
                      const Matrix& omega) {
  HeadParams head =
      ScalarHeadFromScores(spec, theta, Vector::Zero(spec.d_model));
  Eigen::JacobiSVD<Matrix> svd(omega,
                               Eigen::ComputeThinU | Eigen::ComputeThinV);
  const int v = spec.value_dim;
  const Vector root = svd.singularValues().head(v).cwiseSqrt();
  head.wv = svd.matrixU().leftCols(v) * root.asDiagonal();
  head.wo = root.asDiagonal() * svd.matrixV().leftCols(v).transpose();
  return head;
}

}  // namespace

absl::StatusOr<LearnResult> LearnHeadsPencil(QueryOracle& oracle,
                                             const LearnOptions& options) {
  const ChallengeInfo& info = oracle.info();
  const LayerSpec& spec = info.spec;
  std::string why = ScalarChallengeProblem(info, kPencilDesign);
  if (why.empty()) why = PencilShapeProblem(spec);
  if (!why.empty()) return RefuseScalarChallenge(info, kPencilDesign, why);
  const int d = spec.d_model;
  const int k = spec.value_dim;
  const double limit = info.policy.limits.max_abs_input;
  const int max_len = info.policy.limits.max_tokens_per_sequence;
  // The default plan; a smaller budget gets the least one (no extra pairs,
  // as many measurements as unknowns), or a refusal.
  const Usage start = oracle.usage();
  PencilPlan plan = MakePencilPlan(
      d, k, max_len, MinPencilPairs(d) + kPencilExtraPairs, kPencilLongTenths);
  if (start.queries_left < plan.queries || start.tokens_left < plan.tokens) {
    plan = MakePencilPlan(d, k, max_len, MinPencilPairs(d), 10);
  }
  ATTN_RETURN_IF_ERROR(CheckDesignBudget(
      start, plan.queries, plan.tokens,
      absl::StrCat("heads-pencil needs at least ", plan.queries, " queries (",
                   plan.tokens, " tokens) for d_model ", d)));
  auto say = [&](const std::string& line) {
    SayProgress(options, "heads-pencil", line);
  };
  Rng rng(DeriveSeed(options.seed, RngStream::kLearner, kPencilDesignStream));
  LearnResult result;
  std::vector<Matrix> inputs, answers;
  auto ask = [&](const std::vector<Matrix>& seqs)
      -> absl::StatusOr<std::vector<Matrix>> {
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got,
                          QueryInBatches(oracle, seqs));
    inputs.insert(inputs.end(), seqs.begin(), seqs.end());
    answers.insert(answers.end(), got.begin(), got.end());
    return got;
  };
  auto answer_rel_err = [&](const LayerParams& hypothesis, size_t first) {
    double num = 0, den = 0;
    for (size_t i = first; i < inputs.size(); ++i) {
      num += (Forward(spec, hypothesis, inputs[i]) - answers[i]).squaredNorm();
      den += answers[i].squaredNorm();
    }
    return den > 0 ? num / den : num;
  };
  // A point's estimate: the hypothesis' relative squared error on the
  // answers from `first` on (all of them: the fit's own residual).
  auto report = [&](const std::string& what, LayerParams hypothesis,
                    CurvePoint point, size_t first = 0) {
    point.est_functional_rel_err = answer_rel_err(hypothesis, first);
    result.hypothesis = std::move(hypothesis);
    ReportCurvePoint(options, point, &result);
    say(absl::StrFormat(
        "%s: %d queries, %d tokens, relative error on the "
        "answers %.3e",
        what, point.queries, point.tokens, point.est_functional_rel_err));
    return point.est_functional_rel_err;
  };

  // Stage 0: S.
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> rows0, ask(BasisTokenQueries(d)));
  Matrix s(d, d);
  for (int j = 0; j < d; ++j) s.row(j) = rows0[j].row(0);
  Eigen::PartialPivLU<Matrix> s_lu(s);
  if (!(s_lu.rcond() > 1e-13)) {
    return absl::InternalError(absl::StrFormat(
        "heads-pencil: the heads' value maps add up to a singular matrix "
        "(reciprocal condition %.1e), so their outputs cannot be told "
        "apart; %d queries were spent",
        s_lu.rcond(), d));
  }
  const Matrix s_inv = s_lu.inverse();

  // Stage 1: pairs until the pencil splits.
  struct Pair {
    Vector a, b, ra, rb;
  };
  std::vector<Pair> pairs;
  std::vector<Matrix> forms;
  auto ask_pairs = [&](int count) -> absl::Status {
    std::vector<Matrix> seqs;
    for (int q = 0; q < count; ++q)
      seqs.push_back(PencilTokens(rng, 2, d, 1, limit));
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got, ask(seqs));
    for (int q = 0; q < count; ++q) {
      Pair p;
      p.a = seqs[q].row(0).transpose();
      p.b = seqs[q].row(1).transpose();
      const Vector base = s.transpose() * p.b;
      p.ra = s_inv.transpose() * (got[q].row(0).transpose() - base);
      p.rb = s_inv.transpose() * (got[q].row(1).transpose() - base);
      const Vector delta = p.a - p.b;
      for (const Vector* r : {&p.ra, &p.rb}) {
        Matrix form = *r * delta.transpose() - delta * r->transpose();
        const double norm = form.norm();
        if (norm > 0) forms.push_back(form / norm);
      }
      pairs.push_back(std::move(p));
    }
    return absl::OkStatus();
  };
  ATTN_RETURN_IF_ERROR(ask_pairs(plan.pairs));
  std::optional<Matrix> g;
  for (int attempt = 0;; ++attempt) {
    std::string problem;
    g = PencilSplit(forms, d, k, rng, &problem);
    if (g.has_value()) break;
    const Usage now = oracle.usage();
    const uint64_t still =
        static_cast<uint64_t>(plan.long_queries * plan.long_len);
    if (attempt >= kPencilRetries ||
        now.tokens_left < still + 2 * kPencilRetryPairs ||
        now.queries_left <
            static_cast<uint64_t>(plan.long_queries + kPencilRetryPairs)) {
      return absl::InternalError(absl::StrCat(
          "heads-pencil: the two heads could not be split: ", problem,
          ", after ", pairs.size(), " pairs; another --seed may help"));
    }
    say(absl::StrCat(problem, "; asking ", kPencilRetryPairs, " more pairs"));
    ATTN_RETURN_IF_ERROR(ask_pairs(kPencilRetryPairs));
  }
  // Refine each block on every pair's rows: with N_h's basis B, a row's
  // weight is p = (B^T delta).(B^T r) / |B^T delta|^2, and B spans the
  // least left singular space of the rows' r - p delta (zero at the
  // layer). The pencil used a few random combinations of the forms; this
  // weighs every row alike.
  double refine_change = 0;
  for (int h = 0; h < 2; ++h) {
    Matrix basis = g->middleCols(h * k, k);
    for (int it = 0; it < kPencilRefineSteps; ++it) {
      Matrix rows(d, 2 * static_cast<Eigen::Index>(pairs.size()));
      for (size_t q = 0; q < pairs.size(); ++q) {
        const Vector delta = pairs[q].a - pairs[q].b;
        const Vector bd = basis.transpose() * delta;
        for (int side = 0; side < 2; ++side) {
          const Vector& r = side == 0 ? pairs[q].ra : pairs[q].rb;
          const double w = bd.dot(basis.transpose() * r) / bd.squaredNorm();
          rows.col(2 * q + side) = r - w * delta;
        }
      }
      Eigen::JacobiSVD<Matrix> svd(rows, Eigen::ComputeFullU);
      const Matrix next = svd.matrixU().rightCols(k);
      // The change of the subspace: next's part outside basis's span.
      const double change = (next - basis * (basis.transpose() * next)).norm();
      basis = next;
      if (it == 0) refine_change = std::max(refine_change, change);
      if (change < 1e-15) break;
    }
    g->middleCols(h * k, k) = basis;
  }
  say(absl::StrFormat("split; the refinement's first step moved it by %.1e",
                      refine_change));
  Eigen::PartialPivLU<Matrix> g_lu(*g);
  const Matrix g_inv = g_lu.inverse();
  std::vector<Matrix> omega(2);
  for (int h = 0; h < 2; ++h) {
    omega[h] = g->middleCols(h * k, k) * g_inv.middleRows(h * k, k) * s;
  }

  // The pairs' weights: block h of r^T G is p_h times block h of
  // delta^T G.
  std::vector<std::vector<PencilMeasurement>> ms(2);
  double logit_sq = 0;
  int logit_count = 0;
  for (const Pair& p : pairs) {
    const Vector delta = p.a - p.b;
    const Vector xi = g->transpose() * delta;
    for (const auto& [token, r] :
         {std::pair<const Vector*, const Vector*>{&p.a, &p.ra},
          std::pair<const Vector*, const Vector*>{&p.b, &p.rb}}) {
      const Vector eta = g->transpose() * *r;
      for (int h = 0; h < 2; ++h) {
        const double norm = xi.segment(h * k, k).squaredNorm();
        if (!(norm > 0)) continue;
        const double w = eta.segment(h * k, k).dot(xi.segment(h * k, k)) / norm;
        if (!(w > 0 && w < 1)) continue;
        const double logit = std::log(w / (1 - w));
        ms[h].push_back({*token, delta, logit, w * (1 - w)});
        logit_sq += logit * logit;
        ++logit_count;
      }
    }
  }
  const double rms = logit_count > 0 ? std::sqrt(logit_sq / logit_count) : 0;
  const double long_sd =
      rms > 0 ? std::clamp(std::sqrt(kPencilLogitRms / rms), 0.25, 4.0) : 1.0;
  auto hypothesis = [&]() {
    LayerParams params;
    for (int h = 0; h < 2; ++h) {
      params.heads.push_back(PencilHead(spec, PencilTheta(ms[h], d), omega[h]));
    }
    return params;
  };
  // Stage 1's point is estimated on stage 2's answers, which its fit has
  // not seen (on its own answers the pairs' scores fit exactly).
  LayerParams first_fit = hypothesis();
  const CurvePoint first_point = SpentSince(oracle, start);
  const size_t first_unseen = inputs.size();

  // Stage 2: the long sequences.
  auto ask_long = [&](int count) -> absl::Status {
    std::vector<Matrix> seqs;
    for (int q = 0; q < count; ++q) {
      seqs.push_back(PencilTokens(rng, plan.long_len, d, long_sd, limit));
    }
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got, ask(seqs));
    const int n = plan.long_len;
    for (int q = 0; q < count; ++q) {
      const Matrix& x = seqs[q];
      const Matrix xg = x * *g;
      const Matrix ug = got[q] * s_inv * *g;
      for (int h = 0; h < 2; ++h) {
        Matrix system(k + 1, n);
        system.topRows(k) = xg.middleCols(h * k, k).transpose();
        system.row(k).setOnes();
        const auto qr = system.colPivHouseholderQr();
        for (int i = 0; i < n; ++i) {
          Vector rhs(k + 1);
          rhs.head(k) = ug.row(i).segment(h * k, k).transpose();
          rhs(k) = 1;
          const Vector a = qr.solve(rhs);
          Eigen::Index ref = 0;
          const double top = a.maxCoeff(&ref);
          if (!(top > 0)) continue;
          for (int j = 0; j < n; ++j) {
            if (j == ref || !(a(j) > kPencilMinWeight * top)) continue;
            ms[h].push_back(
                {x.row(i).transpose(), (x.row(j) - x.row(ref)).transpose(),
                 std::log(a(j) / top),
                 1 / std::sqrt(1 / (a(j) * a(j)) + 1 / (top * top))});
          }
        }
      }
    }
    return absl::OkStatus();
  };
  ATTN_RETURN_IF_ERROR(ask_long(plan.long_queries));
  report(
      "stage 1 (the split, scores from the pairs alone; estimated on "
      "stage 2's answers)",
      std::move(first_fit), first_point, first_unseen);
  double err = report("stage 2", hypothesis(), SpentSince(oracle, start));
  // Not exact: one more sequence at a time, at most as many as the plan
  // had, while the budget lasts.
  for (int more = 0; more < plan.long_queries && !(err < kPencilExactRelErr);
       ++more) {
    const Usage now = oracle.usage();
    if (now.queries_left < 1 ||
        now.tokens_left < static_cast<uint64_t>(plan.long_len)) {
      say("not exact, and the budget has no room for another sequence");
      break;
    }
    ATTN_RETURN_IF_ERROR(ask_long(1));
    err = report(absl::StrCat("not exact; stage 2 with ", more + 1,
                              " more sequence", more == 0 ? "" : "s"),
                 hypothesis(), SpentSince(oracle, start));
  }
  return result;
}

}  // namespace attnoracle
