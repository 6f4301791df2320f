// MergeAndPrune: the last step of putting heads (common/layer_comparison.cc)
// and FFN units (common/ffn_comparison.cc) in canonical form. Parts equal up
// to a tolerance act as one, with their outputs added; a part whose output
// is negligible beside the largest is invisible and dropped.
//
//   std::vector<Head> out = MergeAndPrune(std::move(heads), rel_tol,
//       SameHeadFn, [](Head& h) -> Matrix& { return h.omega; }, IsFinite);
//
// A part that is not finite is kept as it is, neither merged nor dropped, so
// the comparison that follows sees it and scores it. Internal to common/.
#ifndef ATTNORACLE_COMMON_CANONICAL_MERGE_H_
#define ATTNORACLE_COMMON_CANONICAL_MERGE_H_

#include <algorithm>
#include <utility>
#include <vector>

namespace attnoracle {

// same(a, b): a and b are one part up to rel_tol (both finite). output(p):
// a reference to p's output (an Eigen vector or matrix). finite(p): every
// number of p is finite.
template <typename Part, typename SameFn, typename OutputFn, typename FiniteFn>
std::vector<Part> MergeAndPrune(std::vector<Part> parts, double rel_tol,
                                SameFn same, OutputFn output, FiniteFn finite) {
  std::vector<Part> merged;
  for (Part& p : parts) {
    const bool p_finite = finite(p);
    auto it = std::find_if(merged.begin(), merged.end(), [&](const Part& m) {
      return p_finite && finite(m) && same(m, p);
    });
    if (it != merged.end()) {
      output(*it) += output(p);
    } else {
      merged.push_back(std::move(p));
    }
  }
  double max_output = 0;
  for (Part& m : merged) {
    if (finite(m)) max_output = std::max(max_output, output(m).stableNorm());
  }
  std::vector<Part> out;
  for (Part& m : merged) {
    if (!finite(m) || output(m).stableNorm() > rel_tol * max_output) {
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_CANONICAL_MERGE_H_
