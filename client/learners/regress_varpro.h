// Variable projection and gauge balancing for regress's fit of one softmax
// attention layer with full-sequence output.
//
//   if (OutputProjection::Applies(spec)) {
//     OutputProjection projection(spec, inputs, targets);
//     Vector r;
//     projection.Solve(&flat, &r);        // writes the best Wo into flat
//     projection.ProjectJacobian(&jac);   // Kaufman's Jacobian on the rest
//   }
//   BalanceGauge(spec, kImbalance, &flat);
//
// The output Y = sum_h A_h X Wv_h Wo_h is linear in the stacked output
// projections Wo = [Wo_1; ...; Wo_H]: Y = Z Wo with Z = [A_1 X Wv_1 | ...].
// Variable projection (Golub & Pereyra) solves Wo by least squares inside
// the objective, so the optimiser moves only the query, key and value
// weights (three quarters of two-head-d16's parameters) and the valley
// direction along which Wv_h and Wo_h grow against each other is gone.
// Kaufman's approximation of the projected Jacobian is (I - Q Q^T) J_theta
// per output column, Q an orthonormal basis of Z's columns.
//
// Each factor pair is defined up to an invertible map: Wq_h Wk_h^T and
// Wv_h Wo_h are unchanged by (Wq G, Wk G^-T). BalanceGauge picks the G that
// gives both factors the same Gram matrix (the balanced SVD factorisation),
// which changes no output and keeps a damped Gauss-Newton step from
// chasing one factor's growth with the other's shrinkage.
//
// Thread safety: OutputProjection is not safe for concurrent use (it keeps
// the last solve's basis); the free functions are pure.
#ifndef ATTNORACLE_CLIENT_LEARNERS_REGRESS_VARPRO_H_
#define ATTNORACLE_CLIENT_LEARNERS_REGRESS_VARPRO_H_

#include <span>
#include <vector>

#include "common/layer_spec.h"
#include "common/tensor.h"

namespace attnoracle {

class OutputProjection {
 public:
  // inputs[i]: n_i x d_model; targets[i]: n_i x out_dim (every row answered).
  // The spans must outlive the object.
  OutputProjection(const LayerSpec& spec, std::span<const Matrix> inputs,
                   std::span<const Matrix> targets);

  // One softmax layer whose heads own every block, no biases, residual, FFN
  // or tied weights, and every position read out.
  static bool Applies(const LayerSpec& spec);

  // Indices of the flat layout (attention_grad.h) that are not output
  // projections, ascending: the variables the optimiser moves.
  const std::vector<Eigen::Index>& free_columns() const { return free_; }

  // Replaces the output projections in `flat` (ParamCount(spec) entries) by
  // the least-squares solution for the other weights, and sets `r` to the
  // residuals (predictions - targets, by sequence then row-major); returns
  // 0.5 ||r||^2. Keeps Z's column basis for ProjectJacobian.
  double Solve(Vector* flat, Vector* r);

  // `jac`: the Jacobian of the residuals on the whole flat layout at the
  // last Solve's point. Replaced by Kaufman's projected Jacobian on
  // free_columns() only.
  void ProjectJacobian(Matrix* jac) const;

  // flat_out = flat + step scattered onto free_columns().
  void AddStep(const Vector& flat, const Vector& step, Vector* flat_out) const;

 private:
  LayerSpec spec_;
  std::span<const Matrix> inputs_, targets_;
  Eigen::Index tokens_ = 0;
  Matrix stacked_targets_;  // tokens x out_dim
  Matrix z_;                // tokens x heads * value_dim
  Matrix basis_;            // tokens x rank(Z), orthonormal columns
  std::vector<Eigen::Index> free_;
};

// Rebalances every head's (Wq, Wk) and (Wv, Wo^T) pair whose imbalance
// ||A^T A - B^T B||_F / (||A||_F^2 + ||B||_F^2) exceeds `max_imbalance`
// (0 balances every pair; 1 none). The layer's function is unchanged up to
// rounding. Returns the number of pairs rebalanced. Same preconditions on
// `spec` as OutputProjection::Applies.
int BalanceGauge(const LayerSpec& spec, double max_imbalance, Vector* flat);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_REGRESS_VARPRO_H_
