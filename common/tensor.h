// Eigen aliases for the whole project, defined once. Row-major, because
// protobuf's repeated double buffers are row-major and are read in place.
//
//   attnoracle::Matrix x(n, d);
//   attnoracle::ConstMatrixMap view(buffer, n, d);
#ifndef ATTNORACLE_COMMON_TENSOR_H_
#define ATTNORACLE_COMMON_TENSOR_H_

#include <Eigen/Dense>

namespace attnoracle {

using Matrix =
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
using RowVector = Eigen::RowVectorXd;
using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;
using MatrixRef = Eigen::Ref<Matrix>;
using ConstMatrixRef = Eigen::Ref<const Matrix>;

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_TENSOR_H_
