// Helpers shared by the tests: random inputs, matrix comparisons, status
// messages, and gtest printers for the domain types.
//
//   Rng rng(7);
//   Matrix x = RandomMatrix(rng, 3, 4);
//   EXPECT_TRUE(MatricesNear(Forward(spec, params, x), expected, 1e-12));
#ifndef ATTNORACLE_TESTS_TEST_UTIL_H_
#define ATTNORACLE_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "common/access_policy.h"
#include "common/layer_spec.h"
#include "common/rng.h"
#include "common/tensor.h"

namespace attnoracle {

// Readable failure output for the domain types tests compare with EXPECT_EQ
// (gtest would print their bytes).
inline void PrintTo(const Usage& u, std::ostream* os) {
  *os << "{used " << u.queries_used << " queries, " << u.tokens_used
      << " tokens; left " << u.queries_left << " queries, " << u.tokens_left
      << " tokens}";
}
inline void PrintTo(const Budget& b, std::ostream* os) {
  *os << "{" << b.queries << " queries, " << b.tokens << " tokens}";
}
inline void PrintTo(const Limits& l, std::ostream* os) {
  *os << "{max_abs_input " << l.max_abs_input << ", per sequence "
      << l.max_tokens_per_sequence << " tokens, per request "
      << l.max_sequences_per_request << " sequences and "
      << l.max_tokens_per_request << " tokens}";
}
inline void PrintTo(const AccessPolicy& p, std::ostream* os) {
  *os << "{" << PrecisionName(p.precision) << ", noise " << p.noise_sigma
      << ", budget ";
  PrintTo(p.budget, os);
  *os << ", limits ";
  PrintTo(p.limits, os);
  *os << "}";
}
inline void PrintTo(const LayerSpec& s, std::ostream* os) {
  *os << "{d_model " << s.d_model << ", heads " << s.heads << ", head_dim "
      << s.head_dim << ", value_dim " << s.value_dim << ", out_dim "
      << s.out_dim << ", mask " << MaskName(s.mask) << ", readout "
      << ReadoutName(s.readout) << ", score_scale " << s.score_scale
      << ", biases " << s.biases << "}";
}

}  // namespace attnoracle

namespace attnoracle::test {

// The message as std::string, for HasSubstr: gtest prints Debian's
// absl::string_view as an array of characters.
inline std::string MessageOf(const absl::Status& status) {
  return std::string(status.message());
}

// An integer uniform on [lo, hi].
inline int UniformInt(Rng& rng, int lo, int hi) {
  return lo +
         static_cast<int>(rng.NextU64() % static_cast<uint64_t>(hi - lo + 1));
}

// rows x cols, every entry uniform on [-scale, scale).
inline Matrix RandomMatrix(Rng& rng, int rows, int cols, double scale = 1.0) {
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    m.data()[i] = scale * (2.0 * rng.NextUniform() - 1.0);
  }
  return m;
}

inline Vector RandomVector(Rng& rng, int size, double scale = 1.0) {
  return RandomMatrix(rng, size, 1, scale).col(0);
}

// Succeeds when the shapes agree and the largest absolute difference is at
// most rel_tol times the largest absolute entry of `expected`.
inline ::testing::AssertionResult MatricesNear(ConstMatrixRef actual,
                                               ConstMatrixRef expected,
                                               double rel_tol) {
  if (actual.rows() != expected.rows() || actual.cols() != expected.cols()) {
    return ::testing::AssertionFailure()
           << "shape " << actual.rows() << "x" << actual.cols() << ", expected "
           << expected.rows() << "x" << expected.cols();
  }
  const double diff = (actual - expected).cwiseAbs().maxCoeff();
  const double size = std::max(expected.cwiseAbs().maxCoeff(), 1e-300);
  if (diff > rel_tol * size) {
    return ::testing::AssertionFailure()
           << "max abs difference " << diff << " is " << diff / size
           << " relative, above " << rel_tol << "\nactual:\n"
           << actual << "\nexpected:\n"
           << expected;
  }
  return ::testing::AssertionSuccess();
}

// Same shape and the same bits in every entry.
template <typename A, typename B>
bool BitwiseEqual(const A& a, const B& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 ||
          std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
}

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_TEST_UTIL_H_
