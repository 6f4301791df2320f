#include "common/layer_spec.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace attnoracle {
namespace {

absl::Status CheckDim(const char* name, int value, int max) {
  if (value < 0 || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.", name, " = ", value, " is out of range [0, ", max, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LayerSpec> ResolveSpec(const LayerSpec& raw) {
  LayerSpec spec = raw;
  for (auto [name, value] : {std::pair{"d_model", spec.d_model},
                             std::pair{"head_dim", spec.head_dim},
                             std::pair{"value_dim", spec.value_dim},
                             std::pair{"out_dim", spec.out_dim}}) {
    if (absl::Status s = CheckDim(name, value, kMaxModelDim); !s.ok()) return s;
  }
  if (spec.d_model == 0) {
    return absl::InvalidArgumentError("spec.d_model must be set (> 0)");
  }
  if (spec.heads == 0) spec.heads = 1;
  if (spec.heads < 0 || spec.heads > kMaxHeads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.heads = ", spec.heads, " is out of range [1, ", kMaxHeads, "]"));
  }
  if (spec.head_dim == 0) {
    if (spec.d_model % spec.heads != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.heads = ", spec.heads, " does not divide spec.d_model = ",
          spec.d_model, "; set spec.head_dim explicitly"));
    }
    spec.head_dim = spec.d_model / spec.heads;
  }
  if (spec.value_dim == 0) spec.value_dim = spec.head_dim;
  if (spec.out_dim == 0) spec.out_dim = spec.d_model;
  if (!std::isfinite(spec.score_scale) || spec.score_scale < 0) {
    return absl::InvalidArgumentError(
        "spec.score_scale must be finite and >= 0 (0 means 1/sqrt(head_dim))");
  }
  if (spec.score_scale == 0) spec.score_scale = 1.0 / std::sqrt(spec.head_dim);
  if (spec.kv_heads < 0 || spec.kv_heads > spec.heads) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.kv_heads = ", spec.kv_heads,
                     " is out of range [0, heads = ", spec.heads, "]"));
  }
  if (spec.kv_heads == 0) spec.kv_heads = spec.heads;
  if (spec.heads % spec.kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.kv_heads = ", spec.kv_heads,
                     " does not divide spec.heads = ", spec.heads));
  }
  if (spec.layers < 0 || spec.layers > kMaxLayers) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.layers = ", spec.layers, " is out of range [0, ",
                     kMaxLayers, "]"));
  }
  if (spec.layers == 0) spec.layers = 1;
  if (spec.residual && spec.out_dim != spec.d_model) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.residual needs out_dim = d_model (the layer adds its input); "
        "out_dim = ",
        spec.out_dim, ", d_model = ", spec.d_model));
  }
  if (spec.tie_qk && spec.kv_heads != spec.heads) {
    return absl::InvalidArgumentError(
        "spec.tie_qk needs kv_heads = heads: a head's wk is its own wq, so "
        "keys cannot also be shared across heads");
  }
  if (spec.has_ffn) {
    for (auto [name, value] : {std::pair{"ffn.hidden", spec.ffn.hidden},
                               std::pair{"ffn.out_dim", spec.ffn.out_dim}}) {
      if (absl::Status s = CheckDim(name, value, kMaxModelDim); !s.ok()) {
        return s;
      }
    }
    if (spec.ffn.hidden == 0) {
      return absl::InvalidArgumentError(
          "spec.ffn.hidden must be set (> 0) when spec.ffn is present");
    }
    if (spec.ffn.out_dim == 0) spec.ffn.out_dim = spec.out_dim;
    if (spec.ffn.residual && spec.ffn.out_dim != spec.out_dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.ffn.residual needs ffn.out_dim = out_dim; ffn.out_dim = ",
          spec.ffn.out_dim, ", out_dim = ", spec.out_dim));
    }
  } else {
    spec.ffn = FfnSpec{};
  }
  // The bound counts every head's own copy of shared or tied weights: that
  // is what a LayerParams stores.
  const int64_t per_head =
      int64_t{2} * spec.d_model * spec.head_dim +
      int64_t{spec.d_model} * spec.value_dim +
      int64_t{spec.value_dim} * spec.out_dim +
      (spec.biases ? int64_t{2} * spec.head_dim + spec.value_dim : 0);
  // Layers below the last map d_model to d_model.
  const int64_t lower_per_head =
      per_head - int64_t{spec.value_dim} * (spec.out_dim - spec.d_model);
  int64_t parameters = per_head * spec.heads + (spec.biases ? spec.out_dim : 0);
  parameters += int64_t{spec.layers - 1} * (lower_per_head * spec.heads +
                                            (spec.biases ? spec.d_model : 0));
  if (spec.has_ffn) {
    parameters += int64_t{spec.out_dim} * spec.ffn.hidden +
                  int64_t{spec.ffn.hidden} * spec.ffn.out_dim +
                  (spec.ffn.biases ? spec.ffn.hidden + spec.ffn.out_dim : 0);
  }
  if (parameters > kMaxParameters) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec: the layer would have ", parameters, " parameters; at most ",
        kMaxParameters, " are allowed (fewer heads or smaller dimensions)"));
  }
  return spec;
}

const char* MaskName(Mask mask) {
  return mask == Mask::kCausal ? "causal" : "none";
}

const char* ReadoutName(Readout readout) {
  return readout == Readout::kLast ? "last" : "all";
}

const char* AttentionName(Attention attention) {
  return attention == Attention::kLinear ? "linear" : "softmax";
}

}  // namespace attnoracle
