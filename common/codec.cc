#include "common/codec.h"

#include <algorithm>
#include <climits>
#include <span>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// Wire dimensions are uint32; anything past INT_MAX is out of every range
// the domain checks, so clamp rather than wrap to a negative number.
int ToInt(uint32_t v) {
  return static_cast<int>(std::min<uint32_t>(v, INT_MAX));
}

Vector VectorFromRepeated(
    const google::protobuf::RepeatedField<double>& values) {
  return Eigen::Map<const Vector>(values.data(), values.size());
}

void VectorToRepeated(const Vector& v,
                      google::protobuf::RepeatedField<double>* out) {
  out->Assign(v.data(), v.data() + v.size());
}

absl::StatusOr<Matrix> MatrixFromProto(const pb::Matrix& m,
                                       absl::string_view name) {
  ATTN_ASSIGN_OR_RETURN(ConstMatrixMap view, MatrixView(m, name));
  return Matrix(view);
}

// `out_dim`: wo's columns in this layer (d_model below the last layer).
absl::StatusOr<HeadParams> HeadFromProto(const pb::HeadParams& p,
                                         const LayerSpec& spec, int out_dim,
                                         const std::string& at) {
  const bool factors = p.has_wq() || p.has_wk() || p.has_wv() || p.has_wo();
  const bool products = p.has_theta() || p.has_omega();
  if (factors == products) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, " must give either wq, wk, wv, wo or theta, omega"));
  }
  // Products cannot express a constraint between factors.
  if (products && spec.tie_qk) {
    return absl::InvalidArgumentError(absl::StrCat(
        at,
        " gives theta, omega but spec.tie_qk ties wk to wq: give the "
        "factors wq, wv, wo (wk may be left out)"));
  }
  if (products && KvGroupSize(spec) > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        at, " gives theta, omega but spec.kv_heads = ", spec.kv_heads,
        " shares wk and wv across heads: give the factors wq, wk, wv, wo"));
  }
  const std::pair<const char*, bool> required[] = {
      {"wq", p.has_wq()},       {"wk", p.has_wk() || spec.tie_qk},
      {"wv", p.has_wv()},       {"wo", p.has_wo()},
      {"theta", p.has_theta()}, {"omega", p.has_omega()}};
  for (const auto& [name, present] :
       std::span(required).subspan(factors ? 0 : 4, factors ? 4 : 2)) {
    if (!present) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, " has no ", name,
                       factors ? " (factors need wq, wk, wv and wo)"
                               : " (products need theta and omega)"));
    }
  }
  HeadParams h;
  if (factors) {
    ATTN_ASSIGN_OR_RETURN(h.wq, MatrixFromProto(p.wq(), at + ".wq"));
    if (spec.tie_qk && !p.has_wk()) {
      h.wk = h.wq;  // tied: wk may be left out
    } else {
      ATTN_ASSIGN_OR_RETURN(h.wk, MatrixFromProto(p.wk(), at + ".wk"));
    }
    ATTN_ASSIGN_OR_RETURN(h.wv, MatrixFromProto(p.wv(), at + ".wv"));
    ATTN_ASSIGN_OR_RETURN(h.wo, MatrixFromProto(p.wo(), at + ".wo"));
  } else {
    // The identity factors below are as wide as theta and omega: their
    // shapes are checked first, or a 1 x n product in a message of 8n bytes
    // would allocate an n x n identity (terabytes for a 4 MB request).
    for (const auto& [name, m, rows, cols] :
         {std::tuple{"theta", &p.theta(), spec.d_model, spec.d_model},
          std::tuple{"omega", &p.omega(), spec.d_model, out_dim}}) {
      if (m->rows() != static_cast<uint32_t>(rows) ||
          m->cols() != static_cast<uint32_t>(cols)) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ".", name, " has shape ", m->rows(), "x",
                         m->cols(), ", expected ", rows, "x", cols));
      }
    }
    ATTN_ASSIGN_OR_RETURN(Matrix theta,
                          MatrixFromProto(p.theta(), at + ".theta"));
    ATTN_ASSIGN_OR_RETURN(h.wv, MatrixFromProto(p.omega(), at + ".omega"));
    h.wq = theta / spec.score_scale;
    h.wk = Matrix::Identity(theta.cols(), theta.cols());
    h.wo = Matrix::Identity(h.wv.cols(), h.wv.cols());
  }
  h.bq = VectorFromRepeated(p.bq());
  h.bk = VectorFromRepeated(p.bk());
  if (spec.tie_qk && p.bk_size() == 0) h.bk = h.bq;
  h.bv = VectorFromRepeated(p.bv());
  return h;
}

absl::StatusOr<std::vector<HeadParams>> HeadsFromProto(
    const google::protobuf::RepeatedPtrField<pb::HeadParams>& heads,
    const LayerSpec& spec, int out_dim, const std::string& prefix) {
  std::vector<HeadParams> out;
  for (int i = 0; i < heads.size(); ++i) {
    ATTN_ASSIGN_OR_RETURN(
        HeadParams h, HeadFromProto(heads[i], spec, out_dim,
                                    absl::StrCat(prefix, "heads[", i, "]")));
    out.push_back(std::move(h));
  }
  return out;
}

void HeadsToProto(const std::vector<HeadParams>& heads,
                  google::protobuf::RepeatedPtrField<pb::HeadParams>* out) {
  for (const HeadParams& h : heads) {
    pb::HeadParams* head = out->Add();
    MatrixToProto(h.wq, head->mutable_wq());
    MatrixToProto(h.wk, head->mutable_wk());
    MatrixToProto(h.wv, head->mutable_wv());
    MatrixToProto(h.wo, head->mutable_wo());
    VectorToRepeated(h.bq, head->mutable_bq());
    VectorToRepeated(h.bk, head->mutable_bk());
    VectorToRepeated(h.bv, head->mutable_bv());
  }
}

}  // namespace

absl::StatusOr<LayerParams> ParamsFromProto(const pb::LayerParams& p,
                                            const LayerSpec& spec) {
  LayerParams params;
  if (p.layers_size() > 0) {
    if (p.heads_size() > 0 || p.bo_size() > 0) {
      return absl::InvalidArgumentError(
          "give either heads and bo (one layer) or layers, not both");
    }
    const int layers = std::max(spec.layers, 1);
    if (p.layers_size() != layers) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layers has ", p.layers_size(), " entries, spec has ", layers));
    }
    for (int l = 0; l < p.layers_size(); ++l) {
      const std::string prefix = absl::StrCat("layers[", l, "].");
      const bool last = l + 1 == p.layers_size();
      ATTN_ASSIGN_OR_RETURN(
          std::vector<HeadParams> heads,
          HeadsFromProto(p.layers(l).heads(), spec,
                         last ? spec.out_dim : spec.d_model, prefix));
      Vector bo = VectorFromRepeated(p.layers(l).bo());
      if (!last) {
        params.lower_layers.push_back({std::move(heads), std::move(bo)});
      } else {
        params.heads = std::move(heads);
        params.bo = std::move(bo);
      }
    }
  } else {
    ATTN_ASSIGN_OR_RETURN(params.heads,
                          HeadsFromProto(p.heads(), spec, spec.out_dim, ""));
    params.bo = VectorFromRepeated(p.bo());
  }
  if (p.has_ffn()) {
    const pb::FfnParams& f = p.ffn();
    if (!spec.has_ffn) {
      return absl::InvalidArgumentError(
          "ffn is given but the spec has no FFN block");
    }
    ATTN_ASSIGN_OR_RETURN(params.ffn.w1, MatrixFromProto(f.w1(), "ffn.w1"));
    ATTN_ASSIGN_OR_RETURN(params.ffn.w2, MatrixFromProto(f.w2(), "ffn.w2"));
    params.ffn.b1 = VectorFromRepeated(f.b1());
    params.ffn.b2 = VectorFromRepeated(f.b2());
  } else if (spec.has_ffn) {
    return absl::InvalidArgumentError(
        "ffn is missing: the spec has an FFN block (w1, w2)");
  }
  ATTN_RETURN_IF_ERROR(CheckParams(spec, params));
  return params;
}

void ParamsToProto(const LayerParams& params, pb::LayerParams* out) {
  out->Clear();
  if (params.lower_layers.empty()) {
    HeadsToProto(params.heads, out->mutable_heads());
    VectorToRepeated(params.bo, out->mutable_bo());
  } else {
    for (const AttentionLayerParams& layer : params.lower_layers) {
      pb::AttentionLayerParams* l = out->add_layers();
      HeadsToProto(layer.heads, l->mutable_heads());
      VectorToRepeated(layer.bo, l->mutable_bo());
    }
    pb::AttentionLayerParams* top = out->add_layers();
    HeadsToProto(params.heads, top->mutable_heads());
    VectorToRepeated(params.bo, top->mutable_bo());
  }
  if (params.ffn.w1.size() > 0) {
    pb::FfnParams* f = out->mutable_ffn();
    MatrixToProto(params.ffn.w1, f->mutable_w1());
    VectorToRepeated(params.ffn.b1, f->mutable_b1());
    MatrixToProto(params.ffn.w2, f->mutable_w2());
    VectorToRepeated(params.ffn.b2, f->mutable_b2());
  }
}

absl::StatusOr<ConstMatrixMap> MatrixView(const pb::Matrix& m,
                                          absl::string_view name) {
  if (m.rows() == 0 || m.cols() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " is empty (rows=", m.rows(), ", cols=", m.cols(), ")"));
  }
  const uint64_t expected = uint64_t{m.rows()} * uint64_t{m.cols()};
  if (static_cast<uint64_t>(m.values_size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " declares ", m.rows(), "x", m.cols(), " = ",
                     expected, " values but carries ", m.values_size()));
  }
  return ConstMatrixMap(m.values().data(), m.rows(), m.cols());
}

void MatrixToProto(ConstMatrixRef m, pb::Matrix* out) {
  MutableMatrixProto(static_cast<int>(m.rows()), static_cast<int>(m.cols()),
                     out) = m;
}

MatrixMap MutableMatrixProto(int rows, int cols, pb::Matrix* out) {
  out->set_rows(rows);
  out->set_cols(cols);
  out->mutable_values()->Resize(rows * cols, 0.0);
  return MatrixMap(out->mutable_values()->mutable_data(), rows, cols);
}

void TopKToProto(ConstMatrixRef pairs, pb::TopKAnswer* out) {
  const Eigen::Index k = pairs.cols() / 2;
  out->set_rows(static_cast<uint32_t>(pairs.rows()));
  out->set_k(static_cast<uint32_t>(k));
  out->mutable_indices()->Reserve(static_cast<int>(pairs.rows() * k));
  out->mutable_values()->Reserve(static_cast<int>(pairs.rows() * k));
  for (Eigen::Index r = 0; r < pairs.rows(); ++r) {
    for (Eigen::Index i = 0; i < k; ++i) {
      out->add_indices(static_cast<uint32_t>(pairs(r, 2 * i)));
      out->add_values(pairs(r, 2 * i + 1));
    }
  }
}

absl::StatusOr<Matrix> TopKFromProto(const pb::TopKAnswer& p,
                                     absl::string_view name) {
  const uint64_t n = uint64_t{p.rows()} * p.k();
  if (p.k() < 1 || static_cast<uint64_t>(p.indices_size()) != n ||
      static_cast<uint64_t>(p.values_size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", p.rows(), " rows of top ", p.k(), " need ", n,
                     " indices and values, not ", p.indices_size(), " and ",
                     p.values_size()));
  }
  Matrix pairs(p.rows(), 2 * Eigen::Index{p.k()});
  for (uint32_t r = 0; r < p.rows(); ++r) {
    for (uint32_t i = 0; i < p.k(); ++i) {
      const int at = static_cast<int>(r * p.k() + i);
      pairs(r, 2 * i) = p.indices(at);
      pairs(r, 2 * i + 1) = p.values(at);
    }
  }
  return pairs;
}

LayerSpec SpecFromProto(const pb::LayerSpec& p) {
  LayerSpec s;
  s.d_model = ToInt(p.d_model());
  s.heads = ToInt(p.heads());
  s.head_dim = ToInt(p.head_dim());
  s.value_dim = ToInt(p.value_dim());
  s.out_dim = ToInt(p.out_dim());
  s.mask = p.mask() == pb::MASK_CAUSAL ? Mask::kCausal : Mask::kNone;
  s.readout = p.readout() == pb::READOUT_LAST ? Readout::kLast : Readout::kAll;
  s.score_scale = p.score_scale();
  s.biases = p.biases();
  s.kv_heads = ToInt(p.kv_heads());
  s.attention = p.attention() == pb::ATTENTION_LINEAR ? Attention::kLinear
                                                      : Attention::kSoftmax;
  s.layers = ToInt(p.layers());
  s.residual = p.residual();
  s.tie_qk = p.tie_qk();
  s.has_ffn = p.has_ffn();
  if (s.has_ffn) {
    s.ffn.hidden = ToInt(p.ffn().hidden());
    s.ffn.out_dim = ToInt(p.ffn().out_dim());
    s.ffn.biases = p.ffn().biases();
    s.ffn.residual = p.ffn().residual();
  }
  return s;
}

void SpecToProto(const LayerSpec& s, pb::LayerSpec* out) {
  out->set_d_model(s.d_model);
  out->set_heads(s.heads);
  out->set_head_dim(s.head_dim);
  out->set_value_dim(s.value_dim);
  out->set_out_dim(s.out_dim);
  out->set_mask(s.mask == Mask::kCausal ? pb::MASK_CAUSAL : pb::MASK_NONE);
  out->set_readout(s.readout == Readout::kLast ? pb::READOUT_LAST
                                               : pb::READOUT_ALL);
  out->set_score_scale(s.score_scale);
  out->set_biases(s.biases);
  out->set_kv_heads(s.kv_heads);
  out->set_attention(s.attention == Attention::kLinear ? pb::ATTENTION_LINEAR
                                                       : pb::ATTENTION_SOFTMAX);
  out->set_layers(s.layers);
  out->set_residual(s.residual);
  out->set_tie_qk(s.tie_qk);
  if (s.has_ffn) {
    pb::FfnSpec* f = out->mutable_ffn();
    f->set_hidden(s.ffn.hidden);
    f->set_out_dim(s.ffn.out_dim);
    f->set_biases(s.ffn.biases);
    f->set_residual(s.ffn.residual);
  } else {
    out->clear_ffn();
  }
}

AccessPolicy PolicyFromProto(const pb::AccessPolicy& p) {
  AccessPolicy a;
  a.precision = p.precision() == pb::PRECISION_FLOAT32 ? Precision::kFloat32
                                                       : Precision::kFloat64;
  a.noise_sigma = p.noise_sigma();
  a.budget.queries = p.budget().queries();
  a.budget.tokens = p.budget().tokens();
  a.limits.max_abs_input = p.limits().max_abs_input();
  a.limits.max_tokens_per_sequence =
      ToInt(p.limits().max_tokens_per_sequence());
  a.limits.max_sequences_per_request =
      ToInt(p.limits().max_sequences_per_request());
  a.limits.max_tokens_per_request = ToInt(p.limits().max_tokens_per_request());
  a.limits.max_requests_per_second = p.limits().max_requests_per_second();
  a.limits.request_burst = ToInt(p.limits().request_burst());
  switch (p.access()) {
    case pb::ACCESS_EXAMPLES:
      a.access = Access::kExamples;
      break;
    case pb::ACCESS_BOTH:
      a.access = Access::kBoth;
      break;
    default:
      a.access = Access::kQueries;
  }
  a.examples.inputs = p.examples().inputs() == pb::INPUTS_GAUSSIAN
                          ? InputDistribution::kGaussian
                          : InputDistribution::kSigns;
  a.examples.tokens = ToInt(p.examples().tokens());
  if (p.examples().has_scale()) a.examples.scale = p.examples().scale();
  switch (p.answers()) {
    case pb::ANSWERS_SIGN:
      a.answers = Answers::kSign;
      break;
    case pb::ANSWERS_TOP_K:
      a.answers = Answers::kTopK;
      break;
    case pb::ANSWERS_QUANTIZED:
      a.answers = Answers::kQuantized;
      break;
    default:
      a.answers = Answers::kValues;
  }
  a.top_k = ToInt(p.top_k());
  a.quantize_step = p.quantize_step();
  a.limits.max_submissions_per_minute = p.limits().max_submissions_per_minute();
  a.limits.submission_burst = ToInt(p.limits().submission_burst());
  return a;
}

void PolicyToProto(const AccessPolicy& a, pb::AccessPolicy* out) {
  out->set_precision(a.precision == Precision::kFloat32
                         ? pb::PRECISION_FLOAT32
                         : pb::PRECISION_FLOAT64);
  out->set_noise_sigma(a.noise_sigma);
  out->mutable_budget()->set_queries(a.budget.queries);
  out->mutable_budget()->set_tokens(a.budget.tokens);
  pb::Limits* l = out->mutable_limits();
  l->set_max_abs_input(a.limits.max_abs_input);
  l->set_max_tokens_per_sequence(a.limits.max_tokens_per_sequence);
  l->set_max_sequences_per_request(a.limits.max_sequences_per_request);
  l->set_max_tokens_per_request(a.limits.max_tokens_per_request);
  l->set_max_requests_per_second(a.limits.max_requests_per_second);
  l->set_request_burst(static_cast<uint32_t>(a.limits.request_burst));
  switch (a.access) {
    case Access::kQueries:
      out->set_access(pb::ACCESS_QUERIES);
      break;
    case Access::kExamples:
      out->set_access(pb::ACCESS_EXAMPLES);
      break;
    case Access::kBoth:
      out->set_access(pb::ACCESS_BOTH);
      break;
  }
  // Only where Sample is offered: a queries-only policy has no examples.
  if (AllowsExamples(a)) {
    pb::ExampleDistribution* e = out->mutable_examples();
    e->set_inputs(a.examples.inputs == InputDistribution::kGaussian
                      ? pb::INPUTS_GAUSSIAN
                      : pb::INPUTS_SIGNS);
    e->set_tokens(static_cast<uint32_t>(a.examples.tokens));
    if (a.examples.scale.has_value()) e->set_scale(*a.examples.scale);
  }
  switch (a.answers) {
    case Answers::kValues:
      out->set_answers(pb::ANSWERS_VALUES);
      break;
    case Answers::kSign:
      out->set_answers(pb::ANSWERS_SIGN);
      break;
    case Answers::kTopK:
      out->set_answers(pb::ANSWERS_TOP_K);
      break;
    case Answers::kQuantized:
      out->set_answers(pb::ANSWERS_QUANTIZED);
      break;
  }
  out->set_top_k(static_cast<uint32_t>(a.top_k));
  out->set_quantize_step(a.quantize_step);
  l->set_max_submissions_per_minute(a.limits.max_submissions_per_minute);
  l->set_submission_burst(static_cast<uint32_t>(a.limits.submission_burst));
}

namespace {

Feedback FeedbackFromProto(pb::Feedback f) {
  switch (f) {
    case pb::FEEDBACK_ROUNDED:
      return Feedback::kRounded;
    case pb::FEEDBACK_PASS_FAIL:
      return Feedback::kPassFail;
    default:
      return Feedback::kFull;
  }
}

pb::Feedback FeedbackToProto(Feedback f) {
  switch (f) {
    case Feedback::kRounded:
      return pb::FEEDBACK_ROUNDED;
    case Feedback::kPassFail:
      return pb::FEEDBACK_PASS_FAIL;
    case Feedback::kFull:
      break;
  }
  return pb::FEEDBACK_FULL;
}

Scoring ScoringFromProto(const pb::Scoring& p) {
  return Scoring{ToInt(p.max_submissions()), FeedbackFromProto(p.feedback()),
                 p.pass_threshold()};
}

void ScoringToProto(const Scoring& s, pb::Scoring* out) {
  out->set_max_submissions(s.max_submissions);
  out->set_feedback(FeedbackToProto(s.feedback));
  out->set_pass_threshold(s.pass_threshold);
}

}  // namespace

ChallengeConfig ConfigFromProto(const pb::ChallengeConfig& p) {
  ChallengeConfig c;
  c.id = p.id();
  c.title = p.title();
  c.description = p.description();
  c.spec = SpecFromProto(p.spec());
  c.prior.scale = p.prior().scale();
  c.prior.seed = p.prior().seed();
  c.policy = PolicyFromProto(p.policy());
  c.scoring = ScoringFromProto(p.scoring());
  c.per_learner_secrets = p.per_learner_secrets();
  return c;
}

void ConfigToProto(const ChallengeConfig& c, pb::ChallengeConfig* out) {
  out->set_id(c.id);
  out->set_title(c.title);
  out->set_description(c.description);
  SpecToProto(c.spec, out->mutable_spec());
  out->mutable_prior()->set_kind(pb::PRIOR_GAUSSIAN);
  out->mutable_prior()->set_scale(c.prior.scale);
  out->mutable_prior()->set_seed(c.prior.seed);
  PolicyToProto(c.policy, out->mutable_policy());
  ScoringToProto(c.scoring, out->mutable_scoring());
  out->set_per_learner_secrets(c.per_learner_secrets);
}

ChallengeInfo InfoFromProto(const pb::ChallengeInfo& p) {
  ChallengeInfo i;
  i.id = p.id();
  i.title = p.title();
  i.description = p.description();
  i.spec = SpecFromProto(p.spec());
  i.policy = PolicyFromProto(p.policy());
  switch (p.phase()) {
    case pb::PHASE_CLOSED:
      i.phase = Phase::kClosed;
      break;
    case pb::PHASE_REVEALED:
      i.phase = Phase::kRevealed;
      break;
    default:
      i.phase = Phase::kOpen;
  }
  i.commitment = p.commitment();
  i.scoring = ScoringFromProto(p.scoring());
  i.per_learner_secrets = p.per_learner_secrets();
  return i;
}

void InfoToProto(const ChallengeInfo& i, pb::ChallengeInfo* out) {
  out->set_id(i.id);
  out->set_title(i.title);
  out->set_description(i.description);
  SpecToProto(i.spec, out->mutable_spec());
  PolicyToProto(i.policy, out->mutable_policy());
  switch (i.phase) {
    case Phase::kOpen:
      out->set_phase(pb::PHASE_OPEN);
      break;
    case Phase::kClosed:
      out->set_phase(pb::PHASE_CLOSED);
      break;
    case Phase::kRevealed:
      out->set_phase(pb::PHASE_REVEALED);
      break;
  }
  out->set_commitment(i.commitment);
  ScoringToProto(i.scoring, out->mutable_scoring());
  out->set_per_learner_secrets(i.per_learner_secrets);
}

void QueryErrorToProto(const absl::Status& status, pb::QueryError* out) {
  out->set_code(static_cast<int>(status.code()));
  out->set_message(std::string(status.message()));
}

absl::Status StatusFromProto(const pb::QueryError& error) {
  return absl::Status(static_cast<absl::StatusCode>(error.code()),
                      error.message());
}

Usage UsageFromProto(const pb::Usage& p) {
  return Usage{p.queries_used(), p.tokens_used(), p.queries_left(),
               p.tokens_left()};
}

void UsageToProto(const Usage& u, pb::Usage* out) {
  out->set_queries_used(u.queries_used);
  out->set_tokens_used(u.tokens_used);
  out->set_queries_left(u.queries_left);
  out->set_tokens_left(u.tokens_left);
}

// ---- Scores (Submit) ------------------------------------------------------

void ScoreToProto(const Score& s, pb::Score* out) {
  out->set_functional_rel_err(s.functional_rel_err);
  out->set_max_abs_err(s.max_abs_err);
  out->set_bits(s.bits);
  out->set_theta_rel_err(s.theta_rel_err);
  out->set_omega_rel_err(s.omega_rel_err);
  out->set_queries_used(s.queries_used);
  out->set_tokens_used(s.tokens_used);
  out->set_queries_to_bound(s.queries_to_bound);
  out->set_tokens_to_bound(s.tokens_to_bound);
  out->set_feedback(FeedbackToProto(s.feedback));
  out->set_passed(s.passed);
  out->set_theta_omitted(s.theta_omitted);
  out->set_omega_omitted(s.omega_omitted);
  out->set_ffn_omitted(s.ffn_omitted);
  out->set_parameter_note(s.parameter_note);
  out->set_sign_disagreement(s.sign_disagreement);
  out->set_ffn_rel_err(s.ffn_rel_err);
}

Score ScoreFromProto(const pb::Score& p) {
  Score s;
  s.functional_rel_err = p.functional_rel_err();
  s.max_abs_err = p.max_abs_err();
  s.bits = p.bits();
  s.theta_rel_err = p.theta_rel_err();
  s.omega_rel_err = p.omega_rel_err();
  s.queries_used = p.queries_used();
  s.tokens_used = p.tokens_used();
  s.queries_to_bound = p.queries_to_bound();
  s.tokens_to_bound = p.tokens_to_bound();
  s.feedback = FeedbackFromProto(p.feedback());
  s.passed = p.passed();
  s.theta_omitted = p.theta_omitted();
  s.omega_omitted = p.omega_omitted();
  s.ffn_omitted = p.ffn_omitted();
  s.parameter_note = p.parameter_note();
  s.sign_disagreement = p.sign_disagreement();
  s.ffn_rel_err = p.ffn_rel_err();
  return s;
}

TranscriptEntry TranscriptEntryFromProto(const pb::TranscriptEntry& p) {
  return TranscriptEntry{"",
                         p.learner(),
                         p.index(),
                         p.first_query_index(),
                         p.request(),
                         p.response(),
                         p.request_digest(),
                         p.response_digest(),
                         p.chain_hash(),
                         p.answered_unix_ms()};
}

void TranscriptEntryToProto(const TranscriptEntry& e,
                            pb::TranscriptEntry* out) {
  out->set_index(e.index);
  out->set_request_digest(e.request_digest);
  out->set_response_digest(e.response_digest);
  out->set_chain_hash(e.chain_hash);
  out->set_first_query_index(e.first_query_index);
  out->set_request(e.request);
  out->set_response(e.response);
  out->set_learner(e.learner);
  out->set_answered_unix_ms(e.answered_unix_ms);
}

}  // namespace attnoracle
