#include "client/learners/regress_varpro.h"

#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <limits>

#include "common/attention.h"

namespace attnoracle {
namespace {

// Offsets of one head's blocks in the flat layout (per head wq, wk, wv, wo,
// row-major; attention_grad.h).
struct HeadBlocks {
  Eigen::Index wq, wk, wv, wo, end;
};

HeadBlocks BlocksOf(const LayerSpec& spec, int h) {
  const Eigen::Index d = spec.d_model, k = spec.head_dim, v = spec.value_dim,
                     out = spec.out_dim;
  const Eigen::Index per_head = 2 * d * k + d * v + v * out;
  HeadBlocks b;
  b.wq = h * per_head;
  b.wk = b.wq + d * k;
  b.wv = b.wk + d * k;
  b.wo = b.wv + d * v;
  b.end = b.wo + v * out;
  return b;
}

using ConstMap = Eigen::Map<const Matrix>;
using Map = Eigen::Map<Matrix>;

// A B^T unchanged, A^T A = B^T B afterwards: with A = Qa Ra, B = Qb Rb and
// Ra Rb^T = U S V^T, A = Qa U S^1/2 and B = Qb V S^1/2. Needs as many rows
// as columns in both; otherwise only their scales are balanced.
void Balance(Map a, Map b) {
  const Eigen::Index r = a.cols();
  if (a.rows() < r || b.rows() < r) {
    const double na = a.norm(), nb = b.norm();
    if (na > 0 && nb > 0) {
      const double c = std::sqrt(nb / na);
      a *= c;
      b /= c;
    }
    return;
  }
  const Eigen::HouseholderQR<Matrix> qa(a), qb(b);
  const Matrix ra = qa.matrixQR().topRows(r).triangularView<Eigen::Upper>();
  const Matrix rb = qb.matrixQR().topRows(r).triangularView<Eigen::Upper>();
  const Eigen::JacobiSVD<Matrix> svd(ra * rb.transpose(),
                                     Eigen::ComputeFullU | Eigen::ComputeFullV);
  const Vector root = svd.singularValues().cwiseSqrt();
  const Matrix q_a = qa.householderQ() * Matrix::Identity(a.rows(), r);
  const Matrix q_b = qb.householderQ() * Matrix::Identity(b.rows(), r);
  a = q_a * svd.matrixU() * root.asDiagonal();
  b = q_b * svd.matrixV() * root.asDiagonal();
}

double Imbalance(const Matrix& a, const Matrix& b) {
  const double total = a.squaredNorm() + b.squaredNorm();
  if (!(total > 0)) return 0;
  return (a.transpose() * a - b.transpose() * b).norm() / total;
}

}  // namespace

OutputProjection::OutputProjection(const LayerSpec& spec,
                                   std::span<const Matrix> inputs,
                                   std::span<const Matrix> targets)
    : spec_(spec), inputs_(inputs), targets_(targets) {
  for (const Matrix& x : inputs_) tokens_ += x.rows();
  stacked_targets_.resize(tokens_, spec_.out_dim);
  Eigen::Index at = 0;
  for (const Matrix& t : targets_) {
    stacked_targets_.middleRows(at, t.rows()) = t;
    at += t.rows();
  }
  for (int h = 0; h < spec_.heads; ++h) {
    const HeadBlocks b = BlocksOf(spec_, h);
    for (Eigen::Index c = b.wq; c < b.wo; ++c) free_.push_back(c);
  }
}

bool OutputProjection::Applies(const LayerSpec& spec) {
  return std::max(spec.layers, 1) == 1 && !spec.biases && !spec.residual &&
         !spec.has_ffn && !spec.tie_qk &&
         spec.attention == Attention::kSoftmax && KvGroupSize(spec) == 1 &&
         spec.readout == Readout::kAll;
}

double OutputProjection::Solve(Vector* flat, Vector* r) {
  const Eigen::Index d = spec_.d_model, k = spec_.head_dim, v = spec_.value_dim,
                     out = spec_.out_dim;
  z_.resize(tokens_, spec_.heads * v);
  Matrix logits;
  Eigen::Index row = 0;
  for (const Matrix& x : inputs_) {
    const Eigen::Index n = x.rows();
    for (int h = 0; h < spec_.heads; ++h) {
      const HeadBlocks b = BlocksOf(spec_, h);
      const ConstMap wq(flat->data() + b.wq, d, k),
          wk(flat->data() + b.wk, d, k), wv(flat->data() + b.wv, d, v);
      logits.noalias() = (x * wq) * (x * wk).transpose();
      logits *= spec_.score_scale;
      if (spec_.mask == Mask::kCausal) {
        for (Eigen::Index i = 0; i < n; ++i) {
          logits.row(i).tail(n - 1 - i).setConstant(
              -std::numeric_limits<double>::infinity());
        }
      }
      SoftmaxRows(logits);
      z_.block(row, h * v, n, v).noalias() = logits * (x * wv);
    }
    row += n;
  }
  const Eigen::ColPivHouseholderQR<Matrix> qr(z_);
  const Matrix wo = qr.solve(stacked_targets_);
  for (int h = 0; h < spec_.heads; ++h) {
    Map(flat->data() + BlocksOf(spec_, h).wo, v, out) = wo.middleRows(h * v, v);
  }
  const Eigen::Index rank = qr.rank();
  basis_ = qr.householderQ() * Matrix::Identity(tokens_, rank);
  const Matrix residual = z_ * wo - stacked_targets_;
  *r = Eigen::Map<const Vector>(residual.data(), residual.size());
  return 0.5 * r->squaredNorm();
}

void OutputProjection::ProjectJacobian(Matrix* jac) const {
  const Eigen::Index cols = static_cast<Eigen::Index>(free_.size());
  const Eigen::Index out = spec_.out_dim;
  Matrix projected(jac->rows(), cols);
  for (Eigen::Index j = 0; j < cols; ++j) {
    projected.col(j) = jac->col(free_[j]);
  }
  // Rows t * out + o hold output column o of token t: per o, a tokens x cols
  // matrix with a row stride of out rows.
  Matrix coef;
  for (Eigen::Index o = 0; o < out; ++o) {
    Eigen::Map<Matrix, 0, Eigen::OuterStride<>> block(
        projected.data() + o * cols, tokens_, cols,
        Eigen::OuterStride<>(out * cols));
    coef.noalias() = basis_.transpose() * block;
    block.noalias() -= basis_ * coef;
  }
  jac->swap(projected);
}

void OutputProjection::AddStep(const Vector& flat, const Vector& step,
                               Vector* flat_out) const {
  *flat_out = flat;
  for (size_t j = 0; j < free_.size(); ++j) {
    (*flat_out)(free_[j]) += step(static_cast<Eigen::Index>(j));
  }
}

int BalanceGauge(const LayerSpec& spec, double max_imbalance, Vector* flat) {
  const Eigen::Index d = spec.d_model, k = spec.head_dim, v = spec.value_dim,
                     out = spec.out_dim;
  int balanced = 0;
  for (int h = 0; h < spec.heads; ++h) {
    const HeadBlocks b = BlocksOf(spec, h);
    Map wq(flat->data() + b.wq, d, k), wk(flat->data() + b.wk, d, k);
    if (Imbalance(wq, wk) > max_imbalance) {
      Balance(wq, wk);
      ++balanced;
    }
    // Wv Wo = Wv (Wo^T)^T: balance Wv against Wo^T.
    Map wv(flat->data() + b.wv, d, v);
    Matrix wo_t = Map(flat->data() + b.wo, v, out).transpose();
    if (Imbalance(wv, wo_t) > max_imbalance) {
      Balance(wv, Map(wo_t.data(), out, v));
      Map(flat->data() + b.wo, v, out) = wo_t.transpose();
      ++balanced;
    }
  }
  return balanced;
}

}  // namespace attnoracle
