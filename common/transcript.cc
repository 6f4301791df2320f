#include "common/transcript.h"

#include <bit>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/hashing.h"

namespace attnoracle {
namespace {

// Little-endian, whatever the host's byte order.
void PutLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetLe(absl::string_view bytes, size_t pos, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) {
    v |= uint64_t{static_cast<unsigned char>(bytes[pos + i])} << (8 * i);
  }
  return v;
}

void PutU32(std::string& out, uint32_t v) { PutLe(out, v, 4); }

void PutMatrix(std::string& out, const double* data, Eigen::Index rows,
               Eigen::Index cols) {
  PutU32(out, static_cast<uint32_t>(rows));
  PutU32(out, static_cast<uint32_t>(cols));
  const size_t count = static_cast<size_t>(rows * cols);
  if constexpr (std::endian::native == std::endian::little) {
    // The host's doubles already are the canonical bytes.
    out.append(reinterpret_cast<const char*>(data), count * sizeof(double));
  } else {
    for (size_t i = 0; i < count; ++i) {
      uint64_t bits;
      std::memcpy(&bits, &data[i], 8);
      PutLe(out, bits, 8);
    }
  }
}

template <typename M>
std::string Encode(std::span<const M> matrices) {
  size_t size = 4;
  for (const auto& m : matrices) {
    size += 8 + static_cast<size_t>(m.size()) * sizeof(double);
  }
  std::string out;
  out.reserve(size);
  PutU32(out, static_cast<uint32_t>(matrices.size()));
  for (const auto& m : matrices) PutMatrix(out, m.data(), m.rows(), m.cols());
  return out;
}

}  // namespace

std::string EncodeMatrices(std::span<const Matrix> matrices) {
  return Encode(matrices);
}

std::string EncodeMatrices(std::span<const ConstMatrixMap> matrices) {
  return Encode(matrices);
}

absl::StatusOr<std::vector<Matrix>> DecodeMatrices(absl::string_view bytes) {
  size_t pos = 0;
  auto need = [&](size_t n) { return bytes.size() - pos >= n; };
  auto u32 = [&] {
    const auto v = static_cast<uint32_t>(GetLe(bytes, pos, 4));
    pos += 4;
    return v;
  };
  if (!need(4)) return absl::InvalidArgumentError("matrix list is truncated");
  const uint32_t count = u32();
  std::vector<Matrix> out;
  for (uint32_t k = 0; k < count; ++k) {
    if (!need(8)) return absl::InvalidArgumentError("matrix list is truncated");
    const uint32_t rows = u32();
    const uint32_t cols = u32();
    const uint64_t n = uint64_t{rows} * cols;
    if ((bytes.size() - pos) / 8 < n) {
      return absl::InvalidArgumentError(
          absl::StrCat("matrix ", k, " is truncated"));
    }
    Matrix m(rows, cols);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t bits = GetLe(bytes, pos, 8);
      std::memcpy(&m.data()[i], &bits, 8);
      pos += 8;
    }
    out.push_back(std::move(m));
  }
  if (pos != bytes.size()) {
    return absl::InvalidArgumentError("trailing bytes after the matrix list");
  }
  return out;
}

std::string EncodeSampleRequest(std::span<const Matrix> inputs) {
  std::string out;
  PutU32(out, 0);
  out += EncodeMatrices(inputs);
  return out;
}

absl::StatusOr<DecodedRequest> DecodeRequest(absl::string_view bytes) {
  DecodedRequest out;
  if (bytes.size() >= 4 && GetLe(bytes, 0, 4) == 0) {
    out.sample = true;
    bytes.remove_prefix(4);
  }
  absl::StatusOr<std::vector<Matrix>> m = DecodeMatrices(bytes);
  if (!m.ok()) return m.status();
  out.sequences = *std::move(m);
  return out;
}

std::string EncodeParams(const LayerParams& params) {
  std::string out;
  auto vec = [&](const Vector& v) {
    PutMatrix(out, v.data(), v.size() > 0 ? 1 : 0, v.size());
  };
  auto layer = [&](const std::vector<HeadParams>& heads, const Vector& bo) {
    PutU32(out, static_cast<uint32_t>(heads.size()));
    for (const HeadParams& h : heads) {
      for (const Matrix* m : {&h.wq, &h.wk, &h.wv, &h.wo}) {
        PutMatrix(out, m->data(), m->rows(), m->cols());
      }
      vec(h.bq);
      vec(h.bk);
      vec(h.bv);
    }
    vec(bo);
  };
  // First layer first; the last layer is `heads`/`bo`. One layer without an
  // FFN block gives the original bytes.
  for (const AttentionLayerParams& l : params.lower_layers) {
    layer(l.heads, l.bo);
  }
  layer(params.heads, params.bo);
  if (params.ffn.w1.size() > 0) {
    const FfnParams& f = params.ffn;
    PutMatrix(out, f.w1.data(), f.w1.rows(), f.w1.cols());
    vec(f.b1);
    PutMatrix(out, f.w2.data(), f.w2.rows(), f.w2.cols());
    vec(f.b2);
  }
  return out;
}

std::string Commitment(const LayerParams& secret, absl::string_view nonce) {
  return Sha256({EncodeParams(secret), nonce});
}

std::string RequestDigest(uint64_t first_query_index,
                          absl::string_view request) {
  std::string index;
  PutLe(index, first_query_index, 8);
  return Sha256({index, request});
}

std::string ChainHash(absl::string_view previous,
                      absl::string_view request_digest,
                      absl::string_view response_digest) {
  return Sha256({previous, request_digest, response_digest});
}

}  // namespace attnoracle
