#include "common/ffn_comparison.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "common/canonical_merge.h"

namespace attnoracle {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// As in CompareCanonical: assignment costs stay finite so the Hungarian
// potentials do; a pair this far off is simply "wrong".
constexpr double kMaxAssignmentCost = 1e100;

double Capped(double cost) {
  return std::isfinite(cost) ? std::min(cost, kMaxAssignmentCost)
                             : kMaxAssignmentCost;
}

bool IsFinite(const CanonicalFfnUnit& u) {
  return u.input.allFinite() && u.output.allFinite();
}

double SquaredNorm(const CanonicalFfnUnit& u) {
  return u.input.squaredNorm() + u.output.squaredNorm();
}

// Squared distance between two canonical heads' theta and key bias; a null
// head is an empty one (so the other counts with its whole norm).
double HeadDistance(const CanonicalHead* a, const CanonicalHead* b) {
  if (a == nullptr && b == nullptr) return 0;
  if (a == nullptr) std::swap(a, b);
  if (b == nullptr) return a->theta.squaredNorm() + a->key_bias.squaredNorm();
  double d = (a->theta - b->theta).squaredNorm();
  if (a->key_bias.size() == b->key_bias.size()) {
    d += (a->key_bias - b->key_bias).squaredNorm();
  }
  return d;
}

// The same for units, inputs and outputs together.
double UnitDistance(const CanonicalFfnUnit* a, const CanonicalFfnUnit* b) {
  if (a == nullptr && b == nullptr) return 0;
  if (a == nullptr) std::swap(a, b);
  if (b == nullptr) return SquaredNorm(*a);
  return (a->input - b->input).squaredNorm() +
         (a->output - b->output).squaredNorm();
}

// The composed input side of every unit, one column per unit: per slot the
// slot head's omega w1 (d_model rows, zeros for an empty slot), then beta
// where the class has biases.
Matrix UnitInputs(const LayerSpec& spec, const LayerParams& params,
                  std::span<const CanonicalHead> heads,
                  std::span<const int> slot_heads) {
  const Eigen::Index d = spec.d_model;
  const Eigen::Index slots = static_cast<Eigen::Index>(slot_heads.size());
  const bool biased = spec.biases || spec.ffn.biases;
  const Matrix& w1 = params.ffn.w1;
  Matrix input = Matrix::Zero(slots * d + (biased ? 1 : 0), w1.cols());
  for (Eigen::Index i = 0; i < slots; ++i) {
    const int h = slot_heads[static_cast<size_t>(i)];
    if (h >= 0) input.middleRows(i * d, d) = heads[h].omega * w1;
  }
  if (biased) {
    // The constant every attention output row carries: softmax rows sum to
    // 1, so bv_h reaches the output as bv_h wo_h.
    RowVector constant = RowVector::Zero(spec.out_dim);
    if (spec.biases) {
      for (const HeadParams& head : params.heads) {
        constant += head.bv.transpose() * head.wo;
      }
      constant += params.bo.transpose();
    }
    RowVector beta = constant * w1;
    if (spec.ffn.biases) beta += params.ffn.b1.transpose();
    input.row(input.rows() - 1) = beta;
  }
  return input;
}

}  // namespace

std::vector<CanonicalFfnUnit> CanonicalizeFfn(
    const LayerSpec& spec, const LayerParams& params,
    std::span<const CanonicalHead> heads, std::span<const int> slot_heads,
    bool unit_output_scale, double rel_tol) {
  assert(spec.has_ffn);
  const Matrix input = UnitInputs(spec, params, heads, slot_heads);
  const Eigen::Index weight_rows =
      static_cast<Eigen::Index>(slot_heads.size()) * spec.d_model;
  // A unit that overflowed is kept as it is (MergeAndPrune neither merges
  // nor drops it), so that CompareFfn sees it and scores it.
  std::vector<CanonicalFfnUnit> units;
  for (Eigen::Index j = 0; j < input.cols(); ++j) {
    const Vector u = input.col(j);
    const Vector w2 = params.ffn.w2.row(j).transpose();
    const double norm = u.stableNorm();
    if (!std::isfinite(norm) || !w2.allFinite()) {
      units.push_back({u, w2});
      continue;
    }
    if (!(u.head(weight_rows).stableNorm() > rel_tol * norm)) continue;
    units.push_back({u / norm, w2 * norm});
  }
  std::vector<CanonicalFfnUnit> out = MergeAndPrune(
      std::move(units), rel_tol,
      [&](const CanonicalFfnUnit& a, const CanonicalFfnUnit& b) {
        return (a.input - b.input).stableNorm() <= rel_tol;
      },
      [](CanonicalFfnUnit& m) -> Vector& { return m.output; },
      [](const CanonicalFfnUnit& m) { return IsFinite(m); });
  if (unit_output_scale) {
    double sq = 0;
    for (const CanonicalFfnUnit& m : out) sq += m.output.squaredNorm();
    const double c = std::sqrt(sq);
    if (c > 0 && std::isfinite(c)) {
      for (CanonicalFfnUnit& m : out) m.output /= c;
    }
  }
  return out;
}

double CompareFfn(const LayerSpec& spec, const LayerParams& reference,
                  const LayerParams& candidate, bool unit_output_scale) {
  const std::vector<CanonicalHead> ref_heads = Canonicalize(spec, reference);
  const std::vector<CanonicalHead> cand_heads = Canonicalize(spec, candidate);
  const size_t slots = std::max(ref_heads.size(), cand_heads.size());
  Matrix head_cost(slots, slots);
  for (size_t i = 0; i < slots; ++i) {
    for (size_t j = 0; j < slots; ++j) {
      head_cost(i, j) = Capped(
          HeadDistance(i < ref_heads.size() ? &ref_heads[i] : nullptr,
                       j < cand_heads.size() ? &cand_heads[j] : nullptr));
    }
  }
  const std::vector<int> head_match = MinCostAssignment(head_cost);
  std::vector<int> ref_slots(slots, -1), cand_slots(slots, -1);
  for (size_t i = 0; i < slots; ++i) {
    if (i < ref_heads.size()) ref_slots[i] = static_cast<int>(i);
    if (static_cast<size_t>(head_match[i]) < cand_heads.size()) {
      cand_slots[i] = head_match[i];
    }
  }
  const std::vector<CanonicalFfnUnit> ref =
      CanonicalizeFfn(spec, reference, ref_heads, ref_slots, unit_output_scale);
  const std::vector<CanonicalFfnUnit> cand = CanonicalizeFfn(
      spec, candidate, cand_heads, cand_slots, unit_output_scale);
  if (!std::all_of(cand.begin(), cand.end(), IsFinite)) return kInfinity;

  const size_t n = std::max(ref.size(), cand.size());
  Matrix dist(n, n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      dist(i, j) = UnitDistance(i < ref.size() ? &ref[i] : nullptr,
                                j < cand.size() ? &cand[j] : nullptr);
    }
  }
  const std::vector<int> match =
      MinCostAssignment(dist.unaryExpr([](double c) { return Capped(c); }));
  double err = 0;
  for (size_t i = 0; i < n; ++i) err += dist(i, match[i]);
  double total = 0;
  for (const CanonicalFfnUnit& u : ref) total += SquaredNorm(u);
  if (total > 0) return std::sqrt(err / total);
  return err == 0 ? 0 : kInfinity;
}

}  // namespace attnoracle
