#include "client/learners/scalar_head_reader.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/attention.h"

namespace attnoracle {
namespace {

// The u_k are redrawn until |v.u_k| >= kMinValueAlignment |v| |u_k|, so the
// decoded weight p is never a ratio of two tiny differences.
constexpr double kMinValueAlignment = 0.2;
// Root mean square logit u_k^T W e_j aimed at: well inside the sigmoid's
// sensitive range (p between 0.1 and 0.9 for most queries).
constexpr double kTargetRmsLogit = 1.0;

// d directions (columns) u_k of norm `scale`, each with |v.u_k| >=
// kMinValueAlignment |v| |u_k|, linearly independent.
Matrix DrawDirections(const Vector& v, double scale, Rng& rng) {
  const int d = static_cast<int>(v.size());
  Matrix u(d, d);
  for (;;) {
    for (int k = 0; k < d; ++k) {
      Vector r(d);
      do {
        for (int i = 0; i < d; ++i) r(i) = rng.NextGaussian();
      } while (std::abs(v.dot(r)) < kMinValueAlignment * v.norm() * r.norm());
      u.col(k) = r * (scale / r.norm());
    }
    // Gaussian draws are independent almost surely; the check costs nothing
    // against a wasted column.
    const Eigen::JacobiSVD<Matrix> svd(u);
    const Vector sv = svd.singularValues();
    if (sv(d - 1) > 1e-3 * sv(0)) return u;
  }
}

}  // namespace

double PredictTwoToken(const Matrix& w, const Vector& v, const Vector& x1,
                       const Vector& x2) {
  const double logit = (x1 - x2).dot(w * x2);
  const double p = 1 / (1 + std::exp(-logit));
  return v.dot(x2) + p * (v.dot(x1) - v.dot(x2));
}

absl::StatusOr<ScoreReadout> ReadScoreMatrix(const Vector& v, double max_scale,
                                             Rng& rng,
                                             const ScalarHeadAnswers& answer,
                                             const ScoreReaderHooks& hooks) {
  const int d = static_cast<int>(v.size());
  ScoreReadout out;
  out.w = Matrix::Zero(d, d);
  Matrix& w = out.w;
  double column_norm_sum = 0;
  struct Asked {
    Vector x1, x2;
    double f;
  };
  std::vector<Asked> asked;
  for (int j = 0; j < d; ++j) {
    // Logits u^T W e_j have root mean square |u| |W e_j| / sqrt(d) for
    // random directions; the columns read so far stand in for |W e_j|.
    double scale = 1;
    if (j > 0 && column_norm_sum > 0) {
      scale = kTargetRmsLogit * std::sqrt(static_cast<double>(d)) /
              (column_norm_sum / j);
    }
    scale = std::min(scale, max_scale);
    const Matrix u =
        DrawDirections(v.norm() > 0 ? v : Vector::Ones(d).eval(), scale, rng);
    const Vector x2 = Vector::Unit(d, j);
    std::vector<Matrix> sequences;
    for (int k = 0; k < d; ++k) {
      Matrix x(2, d);
      x.row(0) = (x2 + u.col(k)).transpose();
      x.row(1) = x2.transpose();
      sequences.push_back(std::move(x));
    }
    if (hooks.before_column) hooks.before_column(j);
    absl::StatusOr<std::vector<double>> answers = answer(sequences);
    if (!answers.ok()) return answers.status();
    // The hypothesis so far (W's unread columns 0) predicts this round's
    // answers before they are decoded: a held-out estimate of its error.
    double residual = 0, total = 0;
    Vector logits(d);
    for (int k = 0; k < d; ++k) {
      const Vector x1 = x2 + u.col(k);
      const double f = (*answers)[k];
      asked.push_back({x1, x2, f});
      const double r = f - PredictTwoToken(w, v, x1, x2);
      residual += r * r;
      total += f * f;
      if (v.norm() == 0) {
        logits(k) = 0;
        continue;
      }
      // p = (f - v.x2) / (v.x1 - v.x2), 1 - p = (v.x1 - f) / (v.x1 - v.x2),
      // each a difference with a known value, so a p near 1 keeps its
      // relative precision.
      const double above = f - v.dot(x2);
      const double below = v.dot(x1) - f;
      if (!(above / (above + below) > 0) || !(below / (above + below) > 0)) {
        return absl::InternalError(absl::StrCat(
            "a two-token answer fell outside the segment its tokens' values "
            "span (column ",
            j, ", direction ", k,
            "): the answers are not those of the scalar last-token model"));
      }
      logits(k) = std::log(above / below);
    }
    w.col(j) = u.transpose().colPivHouseholderQr().solve(logits);
    column_norm_sum += w.col(j).norm();
    if (hooks.after_column) {
      hooks.after_column(j, scale, total > 0 ? residual / total : 0);
    }
  }
  double residual = 0, total = 0;
  for (const Asked& a : asked) {
    const double r = a.f - PredictTwoToken(w, v, a.x1, a.x2);
    residual += r * r;
    total += a.f * a.f;
  }
  out.fit_rel_err = total > 0 ? residual / total : 0;
  return out;
}

ScoreReaderHooks CurveReportingHooks(
    std::function<CurvePoint()> spent, const LearnOptions& options,
    LearnResult* result,
    std::function<void(int column, double scale, double heldout_rel_err)>
        say_column) {
  auto before = std::make_shared<CurvePoint>();
  ScoreReaderHooks hooks;
  hooks.before_column = [before, spent = std::move(spent)](int) {
    *before = spent();
  };
  hooks.after_column = [before, &options, result,
                        say_column = std::move(say_column)](int j, double scale,
                                                            double heldout) {
    CurvePoint point = *before;
    point.est_functional_rel_err = heldout;
    point.heldout_answer_rel_err = heldout;
    ReportCurvePoint(options, point, result);
    say_column(j, scale, heldout);
  };
  return hooks;
}

std::vector<Matrix> BasisTokenQueries(int d) {
  std::vector<Matrix> queries;
  for (int j = 0; j < d; ++j) {
    queries.push_back(Matrix::Zero(1, d));
    queries.back()(0, j) = 1;
  }
  return queries;
}

HeadParams ScalarHeadFromScores(const LayerSpec& spec, const Matrix& theta,
                                const Vector& v) {
  const int k = std::min(spec.head_dim, spec.d_model);
  Eigen::JacobiSVD<Matrix> svd(theta,
                               Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Vector root = svd.singularValues().head(k).cwiseSqrt();
  HeadParams head;
  head.wq = Matrix::Zero(spec.d_model, spec.head_dim);
  head.wk = Matrix::Zero(spec.d_model, spec.head_dim);
  head.wq.leftCols(k) =
      svd.matrixU().leftCols(k) * root.asDiagonal() / spec.score_scale;
  head.wk.leftCols(k) = svd.matrixV().leftCols(k) * root.asDiagonal();
  head.wv = Matrix::Zero(spec.d_model, spec.value_dim);
  head.wv.col(0) = v;
  head.wo = Matrix::Zero(spec.value_dim, spec.out_dim);
  head.wo(0, 0) = 1;
  return head;
}

double ScalarAnswerRelErr(const LayerSpec& spec, const LayerParams& hypothesis,
                          const std::vector<Matrix>& inputs,
                          const std::vector<double>& answers) {
  double num = 0, den = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const double pred = Forward(spec, hypothesis, inputs[i])(0, 0);
    num += (pred - answers[i]) * (pred - answers[i]);
    den += answers[i] * answers[i];
  }
  return den > 0 ? num / den : num;
}

}  // namespace attnoracle
