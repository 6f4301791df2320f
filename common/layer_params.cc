#include "common/layer_params.h"

#include <algorithm>
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

template <typename M>
absl::Status CheckSame(const std::string& name, const M& a,
                       const std::string& other, const M& b,
                       const std::string& why) {
  if (a.rows() != b.rows() || a.cols() != b.cols() || a != b) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must equal ", other, " (", why, ")"));
  }
  return absl::OkStatus();
}

// One attention layer: `prefix` is "" for the original one-layer form, else
// "layers[l].".
absl::Status CheckLayer(const LayerSpec& spec,
                        const std::vector<HeadParams>& heads, const Vector& bo,
                        int out_dim, const std::string& prefix) {
  if (static_cast<int>(heads.size()) != spec.heads) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "heads: params have ", heads.size(),
                     " heads, spec has ", spec.heads));
  }
  for (size_t h = 0; h < heads.size(); ++h) {
    const HeadParams& head = heads[h];
    const std::string at = absl::StrCat(prefix, "heads[", h, "].");
    const int k = static_cast<int>(head.wq.cols());
    const int v = static_cast<int>(head.wv.cols());
    if (k == 0 || v == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, "wq and wv need at least one column"));
    }
    for (absl::Status s : {CheckShape(at + "wq", head.wq, spec.d_model, k),
                           CheckShape(at + "wk", head.wk, spec.d_model, k),
                           CheckShape(at + "wv", head.wv, spec.d_model, v),
                           CheckShape(at + "wo", head.wo, v, out_dim),
                           CheckBias(at + "bq", head.bq, spec.biases, k),
                           CheckBias(at + "bk", head.bk, spec.biases, k),
                           CheckBias(at + "bv", head.bv, spec.biases, v)}) {
      if (!s.ok()) return s;
    }
    if (spec.tie_qk) {
      const std::string why = "spec.tie_qk: a head's keys are its queries";
      for (absl::Status s :
           {CheckSame(at + "wk", head.wk, at + "wq", head.wq, why),
            CheckSame(at + "bk", head.bk, at + "bq", head.bq, why)}) {
        if (!s.ok()) return s;
      }
    }
    const int first = KvGroupStart(spec, static_cast<int>(h));
    if (first != static_cast<int>(h)) {
      const HeadParams& lead = heads[first];
      const std::string lead_at = absl::StrCat(prefix, "heads[", first, "].");
      const std::string why = absl::StrCat(
          "spec.kv_heads = ", spec.kv_heads, ": heads ", first, "..",
          first + KvGroupSize(spec) - 1, " share keys and values");
      for (absl::Status s :
           {CheckSame(at + "wk", head.wk, lead_at + "wk", lead.wk, why),
            CheckSame(at + "wv", head.wv, lead_at + "wv", lead.wv, why),
            CheckSame(at + "bk", head.bk, lead_at + "bk", lead.bk, why),
            CheckSame(at + "bv", head.bv, lead_at + "bv", lead.bv, why)}) {
        if (!s.ok()) return s;
      }
    }
  }
  return CheckBias(prefix + "bo", bo, spec.biases, out_dim);
}

absl::Status CheckFfn(const LayerSpec& spec, const FfnParams& f) {
  if (!spec.has_ffn) {
    if (f.w1.size() != 0 || f.w2.size() != 0 || f.b1.size() != 0 ||
        f.b2.size() != 0) {
      return absl::InvalidArgumentError(
          "ffn is given but the spec has no FFN block");
    }
    return absl::OkStatus();
  }
  for (absl::Status s :
       {CheckShape("ffn.w1", f.w1, spec.out_dim, spec.ffn.hidden),
        CheckBias("ffn.b1", f.b1, spec.ffn.biases, spec.ffn.hidden),
        CheckShape("ffn.w2", f.w2, spec.ffn.hidden, spec.ffn.out_dim),
        CheckBias("ffn.b2", f.b2, spec.ffn.biases, spec.ffn.out_dim)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckParams(const LayerSpec& spec, const LayerParams& p) {
  const int layers = std::max(spec.layers, 1);
  if (static_cast<int>(p.lower_layers.size()) != layers - 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("layers: params have ", p.lower_layers.size() + 1,
                     " layers, spec has ", layers));
  }
  for (size_t l = 0; l < p.lower_layers.size(); ++l) {
    const AttentionLayerParams& layer = p.lower_layers[l];
    if (absl::Status s = CheckLayer(spec, layer.heads, layer.bo, spec.d_model,
                                    absl::StrCat("layers[", l, "]."));
        !s.ok()) {
      return s;
    }
  }
  const std::string top =
      layers > 1 ? absl::StrCat("layers[", layers - 1, "].") : "";
  if (absl::Status s = CheckLayer(spec, p.heads, p.bo, spec.out_dim, top);
      !s.ok()) {
    return s;
  }
  return CheckFfn(spec, p.ffn);
}

Matrix Theta(const LayerSpec& spec, const HeadParams& head) {
  return head.wq * head.wk.transpose() * spec.score_scale;
}

Matrix Omega(const HeadParams& head) { return head.wv * head.wo; }

}  // namespace attnoracle
