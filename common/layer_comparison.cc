#include "common/layer_comparison.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_join.h"
#include "common/attention.h"
#include "common/attention_grad.h"
#include "common/canonical_merge.h"
#include "common/rng.h"

namespace attnoracle {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Assignment costs are capped here so that the Hungarian potentials stay
// finite; a head this far off is simply "wrong", whatever the exact number.
constexpr double kMaxAssignmentCost = 1e100;

// num / den for relative errors, with 0 / 0 = 0 and x / 0 = infinity.
double RelativeOrInfinite(double num, double den) {
  if (den > 0) return num / den;
  return num == 0 ? 0 : kInfinity;
}

bool IsFinite(const CanonicalHead& h) {
  return h.theta.allFinite() && h.omega.allFinite() && h.key_bias.allFinite();
}

// Equal theta and key bias within rel_tol of the larger norm. Callers pass
// finite heads only; stableNorm keeps huge finite entries from overflowing.
bool SameHead(const CanonicalHead& a, const CanonicalHead& b, double rel_tol) {
  const double theta_scale =
      std::max(a.theta.stableNorm(), b.theta.stableNorm());
  if ((a.theta - b.theta).stableNorm() > rel_tol * theta_scale) return false;
  const double bias_scale =
      std::max(a.key_bias.stableNorm(), b.key_bias.stableNorm());
  return (a.key_bias - b.key_bias).stableNorm() <= rel_tol * bias_scale;
}

double AssignmentCost(ConstMatrixRef cost, const std::vector<int>& assignment) {
  double total = 0;
  for (size_t i = 0; i < assignment.size(); ++i) {
    total += cost(static_cast<Eigen::Index>(i), assignment[i]);
  }
  return total;
}

std::vector<int> BruteForceAssignment(ConstMatrixRef cost) {
  std::vector<int> perm(cost.rows());
  std::iota(perm.begin(), perm.end(), 0);
  std::vector<int> best = perm;
  double best_cost = AssignmentCost(cost, perm);
  while (std::next_permutation(perm.begin(), perm.end())) {
    const double c = AssignmentCost(cost, perm);
    if (c < best_cost) {
      best_cost = c;
      best = perm;
    }
  }
  return best;
}

bool AllFinite(std::span<const CanonicalHead> heads) {
  return std::all_of(heads.begin(), heads.end(), IsFinite);
}

// r (m + n - r): the dimension of the m x n matrices of rank r.
double RankManifoldDim(int m, int n, int r) {
  return static_cast<double>(r) * (m + n - r);
}

}  // namespace

std::vector<Matrix> DrawProbeSet(const LayerSpec& spec, uint64_t seed,
                                 int typical_length, int per_length) {
  assert(typical_length >= 1 && per_length >= 0);
  Rng rng(DeriveSeed(seed, RngStream::kProbeSet, 0));
  std::vector<Matrix> probes;
  probes.reserve(4 * static_cast<size_t>(per_length));
  for (int length : {1, 2, typical_length, 4 * typical_length}) {
    for (int s = 0; s < per_length; ++s) {
      Matrix x(length, spec.d_model);
      for (Eigen::Index i = 0; i < x.size(); ++i) {
        x.data()[i] = rng.NextGaussian();
      }
      probes.push_back(std::move(x));
    }
  }
  return probes;
}

std::vector<Matrix> ForwardAll(const LayerSpec& spec, const LayerParams& params,
                               std::span<const Matrix> probes) {
  std::vector<Matrix> out;
  out.reserve(probes.size());
  for (const Matrix& x : probes) out.push_back(Forward(spec, params, x));
  return out;
}

FunctionalError CompareFunctions(const LayerSpec& spec,
                                 const LayerParams& reference,
                                 const LayerParams& candidate,
                                 std::span<const Matrix> probes) {
  const std::vector<Matrix> reference_outputs =
      ForwardAll(spec, reference, probes);
  return CompareOutputs(spec, reference_outputs, candidate, probes);
}

FunctionalError CompareOutputs(const LayerSpec& spec,
                               std::span<const Matrix> reference_outputs,
                               const LayerParams& candidate,
                               std::span<const Matrix> probes) {
  assert(reference_outputs.size() == probes.size());
  double err_sq = 0;
  double ref_sq = 0;
  double max_abs = 0;
  bool finite = true;
  Matrix y;
  for (size_t i = 0; i < probes.size(); ++i) {
    y = Forward(spec, candidate, probes[i]);
    if (!y.allFinite()) {
      finite = false;
      break;
    }
    const Matrix& ref = reference_outputs[i];
    err_sq += (y - ref).squaredNorm();
    ref_sq += ref.squaredNorm();
    max_abs = std::max(max_abs, (y - ref).cwiseAbs().maxCoeff());
  }
  FunctionalError e;
  if (!finite || !std::isfinite(err_sq)) {
    e.rel_mse = kInfinity;
    e.max_abs_err = kInfinity;
    e.bits = -kInfinity;
    return e;
  }
  e.rel_mse = RelativeOrInfinite(err_sq, ref_sq);
  e.max_abs_err = max_abs;
  e.bits = max_abs > 0 ? std::min(kMaxBits, -std::log2(max_abs)) : kMaxBits;
  return e;
}

std::vector<CanonicalHead> Canonicalize(const LayerSpec& spec,
                                        const LayerParams& params,
                                        double rel_tol) {
  std::vector<CanonicalHead> heads;
  for (const HeadParams& head : params.heads) {
    CanonicalHead h{Theta(spec, head), Omega(head), Vector()};
    if (spec.biases) h.key_bias = spec.score_scale * (head.wk * head.bq);
    heads.push_back(std::move(h));
  }
  return MergeAndPrune(
      std::move(heads), rel_tol,
      [&](const CanonicalHead& a, const CanonicalHead& b) {
        return SameHead(a, b, rel_tol);
      },
      [](CanonicalHead& h) -> Matrix& { return h.omega; },
      [](const CanonicalHead& h) { return IsFinite(h); });
}

ParameterError CompareParameters(const LayerSpec& spec,
                                 const LayerParams& reference,
                                 const LayerParams& candidate) {
  const std::vector<CanonicalHead> ref = Canonicalize(spec, reference);
  const std::vector<CanonicalHead> cand = Canonicalize(spec, candidate);
  return CompareCanonical(ref, cand);
}

ParameterError CompareCanonical(std::span<const CanonicalHead> reference,
                                std::span<const CanonicalHead> candidate) {
  if (!AllFinite(candidate)) return ParameterError{kInfinity, kInfinity};
  double theta_total = 0;
  double omega_total = 0;
  for (const CanonicalHead& h : reference) {
    theta_total += h.theta.squaredNorm();
    omega_total += h.omega.squaredNorm();
  }
  const size_t n = std::max(reference.size(), candidate.size());
  // Squared differences per pair; an index past the end of a list is an
  // empty head, so the other side counts with its whole norm.
  Matrix dtheta(n, n), domega(n, n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const CanonicalHead* r = i < reference.size() ? &reference[i] : nullptr;
      const CanonicalHead* c = j < candidate.size() ? &candidate[j] : nullptr;
      if (r != nullptr && c != nullptr) {
        dtheta(i, j) = (r->theta - c->theta).squaredNorm();
        domega(i, j) = (r->omega - c->omega).squaredNorm();
      } else if (r != nullptr) {
        dtheta(i, j) = r->theta.squaredNorm();
        domega(i, j) = r->omega.squaredNorm();
      } else if (c != nullptr) {
        dtheta(i, j) = c->theta.squaredNorm();
        domega(i, j) = c->omega.squaredNorm();
      } else {
        dtheta(i, j) = 0;
        domega(i, j) = 0;
      }
    }
  }
  const double theta_norm = theta_total > 0 ? theta_total : 1;
  const double omega_norm = omega_total > 0 ? omega_total : 1;
  Matrix cost = dtheta / theta_norm + domega / omega_norm;
  cost = cost.unaryExpr([](double c) {
    return std::isfinite(c) ? std::min(c, kMaxAssignmentCost)
                            : kMaxAssignmentCost;
  });
  const std::vector<int> assignment = MinCostAssignment(cost);
  double theta_err = 0;
  double omega_err = 0;
  for (size_t i = 0; i < n; ++i) {
    theta_err += dtheta(i, assignment[i]);
    omega_err += domega(i, assignment[i]);
  }
  return ParameterError{std::sqrt(RelativeOrInfinite(theta_err, theta_total)),
                        std::sqrt(RelativeOrInfinite(omega_err, omega_total))};
}

// Potentials (Kuhn-Munkres), 1-based internally: row_of[j] is the row
// matched to column j, column 0 a sentinel.
std::vector<int> HungarianAssignment(ConstMatrixRef cost) {
  const int n = static_cast<int>(cost.rows());
  std::vector<double> u(n + 1, 0), v(n + 1, 0);
  std::vector<int> row_of(n + 1, 0), way(n + 1, 0);
  for (int i = 1; i <= n; ++i) {
    row_of[0] = i;
    int j0 = 0;
    std::vector<double> min_v(n + 1, kInfinity);
    std::vector<bool> used(n + 1, false);
    do {
      used[j0] = true;
      const int i0 = row_of[j0];
      double delta = kInfinity;
      int j1 = 0;
      for (int j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < min_v[j]) {
          min_v[j] = cur;
          way[j] = j0;
        }
        if (min_v[j] < delta) {
          delta = min_v[j];
          j1 = j;
        }
      }
      assert(j1 != 0);
      for (int j = 0; j <= n; ++j) {
        if (used[j]) {
          u[row_of[j]] += delta;
          v[j] -= delta;
        } else {
          min_v[j] -= delta;
        }
      }
      j0 = j1;
    } while (row_of[j0] != 0);
    do {
      const int j1 = way[j0];
      row_of[j0] = row_of[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> assignment(n);
  for (int j = 1; j <= n; ++j) assignment[row_of[j] - 1] = j - 1;
  return assignment;
}

std::vector<int> MinCostAssignment(ConstMatrixRef cost) {
  assert(cost.rows() == cost.cols());
  if (cost.rows() <= kMaxBruteForceHeads) return BruteForceAssignment(cost);
  return HungarianAssignment(cost);
}

ParameterIdentifiability IdentifiabilityOf(const LayerSpec& spec) {
  ParameterIdentifiability out;
  std::vector<std::string> notes;
  if (spec.layers > 1) {
    out.theta = out.omega = false;
    notes.push_back(
        "stacked layers: no canonical form of a stack's parameters is "
        "known, so only the functional error is reported");
  } else if (spec.attention == Attention::kLinear) {
    out.theta = out.omega = false;
    notes.push_back(
        "linear attention: (c theta, omega / c) computes the same function "
        "for every c != 0, so only the functional error is reported");
  } else if (spec.has_ffn) {
    out.omega = false;
    notes.push_back(
        "FFN block: only omega w1 is identifiable (an invertible map "
        "between omega and w1 cancels), so omega is not compared");
  }
  if (!spec.has_ffn) {
    notes.push_back("no FFN block, so ffn_rel_err does not apply");
  } else if (spec.layers > 1 || spec.attention == Attention::kLinear) {
    notes.push_back(
        "FFN units are compared only after one softmax layer, so "
        "ffn_rel_err is omitted");
  } else if (spec.ffn.residual) {
    notes.push_back(
        "residual FFN block: relu(-a) = relu(a) - a lets a unit flip its "
        "sign while omega absorbs the linear difference through the "
        "residual, so units are not identifiable up to positive rescaling "
        "and ffn_rel_err is omitted");
  } else {
    out.ffn = true;
  }
  out.note = absl::StrJoin(notes, "; ");
  return out;
}

void MarkOmitted(const ParameterIdentifiability& which, Score* score) {
  score->theta_omitted = !which.theta;
  score->omega_omitted = !which.omega;
  score->ffn_omitted = !which.ffn;
  if (!which.theta) score->theta_rel_err = 0;
  if (!which.omega) score->omega_rel_err = 0;
  if (!which.ffn) score->ffn_rel_err = 0;
  score->parameter_note = which.note;
}

CountingBound CountingBoundOf(const LayerSpec& spec) {
  const int d = spec.d_model;
  const int theta_rank = std::min(spec.head_dim, d);
  const int omega_rank = std::min({spec.value_dim, d, spec.out_dim});
  double per_head = RankManifoldDim(d, d, theta_rank) +
                    RankManifoldDim(d, spec.out_dim, omega_rank);
  if (spec.biases) per_head += theta_rank;
  CountingBound bound;
  bound.identifiable_params = spec.heads * per_head;
  if (spec.biases) bound.identifiable_params += spec.out_dim;
  if (!IsSingleSoftmaxLayer(spec)) {
    // No closed form of the identifiable dimension is known here for
    // stacks, linear attention or an FFN block: the free numbers, an upper
    // bound (gauges not removed).
    bound.identifiable_params = ParamCount(spec);
  }
  bound.per_sequence = spec.readout == Readout::kLast;
  bound.units = bound.identifiable_params / OutputDim(spec);
  return bound;
}

void SetCost(const LayerSpec& spec, uint64_t queries, uint64_t tokens,
             Score* score) {
  score->queries_used = queries;
  score->tokens_used = tokens;
  score->queries_to_bound = 0;
  score->tokens_to_bound = 0;
  const CountingBound bound = CountingBoundOf(spec);
  if (bound.units <= 0) return;
  if (bound.per_sequence) {
    score->queries_to_bound = static_cast<double>(queries) / bound.units;
  } else {
    score->tokens_to_bound = static_cast<double>(tokens) / bound.units;
  }
}

}  // namespace attnoracle
