#include "common/layer_params.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace attnoracle {
namespace {

std::string ShapeOf(const Matrix& m) {
  return absl::StrCat(m.rows(), "x", m.cols());
}

absl::Status CheckShape(const std::string& name, const Matrix& m, int rows,
                        int cols) {
  if (m.rows() != rows || m.cols() != cols) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " has shape ", ShapeOf(m), ", expected ", rows, "x", cols));
  }
  if (!m.allFinite()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " has a non-finite entry"));
  }
  return absl::OkStatus();
}

absl::Status CheckBias(const std::string& name, const Vector& b, bool wanted,
                       int size) {
  if (!wanted) {
    if (b.size() != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " is given but the spec has no biases"));
    }
    return absl::OkStatus();
  }
  if (b.size() != size) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " has ", b.size(), " entries, expected ", size));
  }
  if (!b.allFinite()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " has a non-finite entry"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckParams(const LayerSpec& spec, const LayerParams& p) {
  if (static_cast<int>(p.heads.size()) != spec.heads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "params have ", p.heads.size(), " heads, spec has ", spec.heads));
  }
  for (size_t h = 0; h < p.heads.size(); ++h) {
    const HeadParams& head = p.heads[h];
    const std::string at = absl::StrCat("heads[", h, "].");
    const int k = static_cast<int>(head.wq.cols());
    const int v = static_cast<int>(head.wv.cols());
    if (k == 0 || v == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, "wq and wv need at least one column"));
    }
    for (absl::Status s : {CheckShape(at + "wq", head.wq, spec.d_model, k),
                           CheckShape(at + "wk", head.wk, spec.d_model, k),
                           CheckShape(at + "wv", head.wv, spec.d_model, v),
                           CheckShape(at + "wo", head.wo, v, spec.out_dim),
                           CheckBias(at + "bq", head.bq, spec.biases, k),
                           CheckBias(at + "bk", head.bk, spec.biases, k),
                           CheckBias(at + "bv", head.bv, spec.biases, v)}) {
      if (!s.ok()) return s;
    }
  }
  return CheckBias("bo", p.bo, spec.biases, spec.out_dim);
}

Matrix Theta(const LayerSpec& spec, const HeadParams& head) {
  return head.wq * head.wk.transpose() * spec.score_scale;
}

Matrix Omega(const HeadParams& head) { return head.wv * head.wo; }

}  // namespace attnoracle
