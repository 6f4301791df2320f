// The probe learner: exact algebraic recovery of single-head softmax
// attention from designed queries.
//
// With one token x the softmax weight is 1, so y = x omega: d one-token
// queries s*e_i give omega row by row. A sequence of scaled basis tokens
// s*e_j plus a zero token then reveals the attention weights of each query
// position p: c = y_p omega^-1 holds s times the weight on each basis token,
// the zero token (whose value is 0) takes the rest, and since its logit is
// exactly 0, log(a_j / a_zero) / s^2 = theta_kj for the query's token e_k.
// Designs by readout and mask:
//   full, no mask:  [e_1 .. e_d, 0]                      d+1 tokens
//   full, causal:   [0, e_1 .. e_d] and [0, e_d .. e_1]   2d+2 tokens
//   last position:  [e_1 .. e_d, 0, e_k] for each k       d sequences
// Exact float64 answers need one design at s = 1. Under noise or reduced
// precision a pilot design at s = 1 sizes the scale s (larger logits shrink
// the relative error of the decoded weights until the softmax saturates).
// Under noise the design is then repeated and the answers averaged, doubling
// the repetitions (and reporting the estimated error after each doubling)
// until the budget is spent. Under rounding, repeats would round the same
// way, so the design is asked at slightly different scales instead and the
// decoded thetas averaged.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "common/layer_comparison.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

constexpr int kZeroToken = -1;
// Probes are scaled so the largest logit is about this, trading softmax
// saturation against noise in the decoded weights. Measured on
// noisy-single-head-d16 with 17k tokens: 3 -> 5.9e-4, 8 -> 4.1e-5, 12 ->
// 1.6e-5, 16 -> 1.1e-5 estimated error; on float32-single-head-d16: 2 ->
// 2.3e-10, 3 -> 4.8e-10, 5 -> 9.5e-9.
constexpr double kNoisyTargetMaxLogit = 12.0;
// Under noise the scale is lowered until the smallest attention weight of
// the design is this many noise standard deviations above zero, the noise
// being that of an average over a quarter of the repetitions the budget
// allows, so that the final decode does not see a negative weight.
constexpr double kWeightSafety = 4.0;
constexpr double kSafetyRepetitionShare = 0.25;
// Share of the token budget a noisy pilot spends.
constexpr double kPilotShare = 0.05;
constexpr double kRoundedTargetMaxLogit = 2.0;
// Designs at scales s * (1 + k / kRoundedScaleSpread), k < kRoundedDesigns.
constexpr int kRoundedDesigns = 16;
constexpr double kRoundedScaleSpread = 32;
// Sequences per length in the learner's own probe set for error estimates.
constexpr int kEstimateProbesPerLength = 8;
constexpr int kEstimateTypicalLength = 8;

// A designed sequence: basis index per token (kZeroToken for 0), one scale.
struct Design {
  std::vector<std::vector<int>> sequences;
  // Per sequence, the positions whose outputs are decoded.
  std::vector<std::vector<int>> decoded_positions;
  uint64_t tokens() const {
    uint64_t n = 0;
    for (const auto& s : sequences) n += s.size();
    return n;
  }
};

Design MakeThetaDesign(const LayerSpec& spec) {
  const int d = spec.d_model;
  std::vector<int> basis(d);
  for (int j = 0; j < d; ++j) basis[j] = j;
  Design design;
  if (spec.readout == Readout::kLast) {
    for (int k = 0; k < d; ++k) {
      std::vector<int> seq = basis;
      seq.push_back(kZeroToken);
      seq.push_back(k);
      design.decoded_positions.push_back({static_cast<int>(seq.size()) - 1});
      design.sequences.push_back(std::move(seq));
    }
  } else if (spec.mask == Mask::kCausal) {
    for (bool reversed : {false, true}) {
      std::vector<int> seq = {kZeroToken};
      if (reversed) {
        seq.insert(seq.end(), basis.rbegin(), basis.rend());
      } else {
        seq.insert(seq.end(), basis.begin(), basis.end());
      }
      std::vector<int> positions;
      for (int p = 1; p <= d; ++p) positions.push_back(p);
      design.decoded_positions.push_back(std::move(positions));
      design.sequences.push_back(std::move(seq));
    }
  } else {
    std::vector<int> seq = basis;
    seq.push_back(kZeroToken);
    std::vector<int> positions(basis);
    design.decoded_positions.push_back(std::move(positions));
    design.sequences.push_back(std::move(seq));
  }
  return design;
}

Matrix TokensOf(const std::vector<int>& tokens, int d, double scale) {
  Matrix x = Matrix::Zero(static_cast<Eigen::Index>(tokens.size()), d);
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] != kZeroToken) x(t, tokens[t]) = scale;
  }
  return x;
}

// The largest power of two not above x, so scaling and unscaling are exact.
double PowerOfTwoAtMost(double x) {
  return std::exp2(std::floor(std::log2(x)));
}

LayerParams FromProducts(const LayerSpec& spec, const Matrix& theta,
                         const Matrix& omega) {
  HeadParams head;
  head.wq = theta / spec.score_scale;
  head.wk = Matrix::Identity(spec.d_model, spec.d_model);
  head.wv = omega;
  head.wo = Matrix::Identity(spec.out_dim, spec.out_dim);
  LayerParams params;
  params.heads.push_back(std::move(head));
  return params;
}

// Theta from the (averaged) answers to a design at scale s, given omega.
absl::StatusOr<Matrix> DecodeTheta(const LayerSpec& spec, const Design& design,
                                   const std::vector<Matrix>& answers,
                                   const Matrix& omega, double s) {
  const int d = spec.d_model;
  const Eigen::ColPivHouseholderQR<Matrix> omega_t(omega.transpose());
  Matrix sum = Matrix::Zero(d, d);
  Matrix count = Matrix::Zero(d, d);
  for (size_t i = 0; i < design.sequences.size(); ++i) {
    const std::vector<int>& tokens = design.sequences[i];
    for (int p : design.decoded_positions[i]) {
      const int k = tokens[p];
      const int visible =
          spec.mask == Mask::kCausal ? p + 1 : static_cast<int>(tokens.size());
      std::vector<int> copies(d, 0);
      int zeros = 0;
      for (int q = 0; q < visible; ++q) {
        if (tokens[q] == kZeroToken) {
          ++zeros;
        } else {
          ++copies[tokens[q]];
        }
      }
      const int row = spec.readout == Readout::kLast ? 0 : p;
      const Vector c = omega_t.solve(answers[i].row(row).transpose().eval());
      double basis_weight = 0;
      for (int j = 0; j < d; ++j) {
        if (copies[j] > 0) basis_weight += c(j) / s;
      }
      const double zero_weight = (1.0 - basis_weight) / zeros;
      for (int j = 0; j < d; ++j) {
        if (copies[j] == 0) continue;
        const double weight = c(j) / (s * copies[j]);
        if (!(weight > 0) || !(zero_weight > 0)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "decoded a non-positive attention weight (token ", j,
              " from query token ", k,
              "): the answers are too noisy for this probe scale"));
        }
        sum(k, j) += std::log(weight / zero_weight) / (s * s);
        count(k, j) += 1;
      }
    }
  }
  if ((count.array() == 0).any()) {
    return absl::InternalError("the probe design left theta entries unseen");
  }
  return Matrix(sum.array() / count.array());
}

// The scale for `repetitions` noisy probes: as large as kNoisyTargetMaxLogit
// allows, lowered while the design's smallest weight (predicted from a pilot
// theta) is not kWeightSafety noise deviations above zero. The noise of a
// decoded weight averaged over r repetitions is sigma ||omega^-1|| / (s sqrt
// r).
double ChooseNoisyScale(const Matrix& theta, const Matrix& omega, double sigma,
                        double repetitions, double max_scale) {
  const double averaged_sigma =
      sigma / std::sqrt(std::max(1.0, kSafetyRepetitionShare * repetitions));
  const double inverse_norm =
      1 / Eigen::JacobiSVD<Matrix>(omega).singularValues().minCoeff();
  const double max_theta = theta.cwiseAbs().maxCoeff();
  double s = max_theta > 0 ? std::sqrt(kNoisyTargetMaxLogit / max_theta) : 1;
  for (s = std::min(s, max_scale); s > 1; s /= 1.25) {
    const Matrix weights = (theta * s * s).array().exp().matrix();
    // Each row's weights against the zero token, whose logit is 0.
    const Vector normaliser = weights.rowwise().sum().array() + 1;
    const double smallest =
        (weights.array().colwise() / normaliser.array()).minCoeff();
    if (smallest > kWeightSafety * averaged_sigma * inverse_norm / s) return s;
  }
  return std::min(1.0, max_scale);
}

absl::Status CheckSolvable(const ChallengeInfo& info) {
  const LayerSpec& spec = info.spec;
  const AccessPolicy& policy = info.policy;
  std::string why;
  if (!AllowsQueries(policy)) {
    why =
        "it answers random examples only (policy.access ACCESS_EXAMPLES), "
        "and probe needs inputs of its choosing";
  } else if (policy.answers != Answers::kValues) {
    why = absl::StrCat("it answers in the form ", AnswersName(policy.answers),
                       ", and probe decodes whole answered values");
  } else if (spec.heads != 1) {
    why = absl::StrCat("it has ", spec.heads, " heads");
  } else if (spec.biases) {
    why = "it has biases";
  } else if (spec.value_dim < spec.d_model || spec.out_dim < spec.d_model) {
    why = "its omega = wv wo cannot have full rank d_model";
  } else if (spec.layers > 1) {
    why = absl::StrCat("it stacks ", spec.layers, " layers");
  } else if (spec.residual) {
    why = "its layer adds a residual";
  } else if (spec.has_ffn) {
    why = "it has a feed-forward block";
  } else if (spec.attention == Attention::kLinear) {
    why = "its attention is linear (no softmax normaliser to probe)";
  } else if (spec.tie_qk) {
    why = "it ties wk to wq (the probe's theta has no such factors)";
  }
  if (why.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the probe learner solves one single-head softmax layer without "
      "biases, residual or FFN block whose omega has full rank, from chosen "
      "queries answered with values; "
      "challenge \"",
      info.id, "\" does not qualify: ", why,
      policy.answers == Answers::kSign
          ? ". No published learner takes sign answers yet; nothing was spent."
          : ". Use --algo regress."));
}

class Prober {
 public:
  Prober(QueryOracle& oracle, const LearnOptions& options)
      : oracle_(oracle),
        options_(options),
        spec_(oracle.info().spec),
        start_(oracle.usage()) {}

  absl::StatusOr<LearnResult> Run();

 private:
  void Say(const std::string& line) { SayProgress(options_, "probe", line); }
  uint64_t TokensLeft() const {
    const uint64_t spent = oracle_.usage().tokens_used - start_.tokens_used;
    const uint64_t left = oracle_.usage().tokens_left;
    if (options_.max_tokens == 0) return left;
    return std::min(
        left, options_.max_tokens > spent ? options_.max_tokens - spent : 0);
  }
  // Answers to `design` at scale s, `repeats` times, summed per sequence.
  absl::Status Accumulate(const Design& design, double s, int repeats,
                          std::vector<Matrix>& sums_even,
                          std::vector<Matrix>& sums_odd, int& done);
  absl::StatusOr<Matrix> LearnOmega(double s);
  absl::StatusOr<Matrix> VaryScales(const Design& design, const Matrix& omega,
                                    double s);
  absl::StatusOr<Matrix> RepeatUnderNoise(const Design& design,
                                          const Matrix& omega, double s,
                                          LearnResult& result);

  QueryOracle& oracle_;
  const LearnOptions& options_;
  const LayerSpec& spec_;
  const Usage start_;
};

absl::StatusOr<Matrix> Prober::LearnOmega(double s) {
  std::vector<Matrix> sequences;
  for (int i = 0; i < spec_.d_model; ++i) {
    sequences.push_back(TokensOf({i}, spec_.d_model, s));
  }
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> answers,
                        QueryInBatches(oracle_, sequences));
  Matrix omega(spec_.d_model, spec_.out_dim);
  for (int i = 0; i < spec_.d_model; ++i) omega.row(i) = answers[i].row(0) / s;
  Say(absl::StrCat("omega from ", spec_.d_model, " one-token queries at scale ",
                   s));
  return omega;
}

absl::Status Prober::Accumulate(const Design& design, double s, int repeats,
                                std::vector<Matrix>& sums_even,
                                std::vector<Matrix>& sums_odd, int& done) {
  std::vector<Matrix> sequences;
  for (int r = 0; r < repeats; ++r) {
    for (const auto& tokens : design.sequences) {
      sequences.push_back(TokensOf(tokens, spec_.d_model, s));
    }
  }
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> answers,
                        QueryInBatches(oracle_, sequences));
  const size_t per = design.sequences.size();
  for (int r = 0; r < repeats; ++r, ++done) {
    std::vector<Matrix>& sums = done % 2 == 0 ? sums_even : sums_odd;
    for (size_t i = 0; i < per; ++i) {
      if (sums.size() < per) sums.resize(per);
      Matrix& y = answers[r * per + i];
      if (sums[i].size() == 0) {
        sums[i] = y;
      } else {
        sums[i] += y;
      }
    }
  }
  return absl::OkStatus();
}

std::vector<Matrix> Mean(const std::vector<Matrix>& a,
                         const std::vector<Matrix>& b, int count) {
  std::vector<Matrix> out;
  for (size_t i = 0; i < a.size(); ++i) {
    out.push_back((b.empty() ? a[i] : (a[i] + b[i])) / count);
  }
  return out;
}

absl::StatusOr<LearnResult> Prober::Run() {
  ATTN_RETURN_IF_ERROR(CheckSolvable(oracle_.info()));
  const AccessPolicy& policy = oracle_.info().policy;
  const double max_scale = PowerOfTwoAtMost(policy.limits.max_abs_input);
  const bool noisy = policy.noise_sigma > 0;
  const bool exact = !noisy && policy.precision == Precision::kFloat64;
  // Omega: the larger the scale, the smaller the noise relative to the
  // answer; with exact answers any power of two is exact.
  ATTN_ASSIGN_OR_RETURN(Matrix omega, LearnOmega(exact ? 1.0 : max_scale));

  const Design design = MakeThetaDesign(spec_);
  double s = std::min(1.0, max_scale);
  // Under noise the pilot averages a small share of the budget, so that the
  // scale it chooses does not follow one noisy answer.
  const int pilot_repetitions =
      noisy ? static_cast<int>(std::max<uint64_t>(
                  1, static_cast<uint64_t>(kPilotShare * TokensLeft() /
                                           design.tokens())))
            : 1;
  std::vector<Matrix> even, odd;
  int done = 0;
  ATTN_RETURN_IF_ERROR(
      Accumulate(design, s, pilot_repetitions, even, odd, done));
  ATTN_ASSIGN_OR_RETURN(
      Matrix theta,
      DecodeTheta(spec_, design, Mean(even, odd, done), omega, s));
  Say(absl::StrCat("theta from ", design.sequences.size(),
                   " designed sequences (", design.tokens(), " tokens) x ",
                   pilot_repetitions, " at scale ", s));
  LearnResult result;
  if (!exact) {
    const double max_theta = theta.cwiseAbs().maxCoeff();
    if (noisy) {
      const double repetitions =
          static_cast<double>(TokensLeft()) / design.tokens();
      s = ChooseNoisyScale(theta, omega, policy.noise_sigma, repetitions,
                           max_scale);
      // No scale above 1 keeps the design's smallest weight clear of the
      // noise. At s = 1 the decoded weights stay so noisy that the log of
      // their ratio is far from linear in the noise: the error then falls
      // much slower than the repetitions grow (measured at sigma 1e-2,
      // d 8: 0.19 functional error at 12.5k tokens, the learner's own
      // estimate flat from 1k to 12.5k tokens).
      if (s <= 1 && max_theta > 0) {
        Say(absl::StrFormat(
            "warning: at noise sigma %.3g no probe scale above 1 keeps the "
            "decoded attention weights clear of the noise with this budget; "
            "the log decode is then biased and the error falls slowly with "
            "more tokens (--algo regress fits noisy answers without that "
            "bias)",
            policy.noise_sigma));
      }
    } else if (max_theta > 0) {
      s = std::min(max_scale, std::sqrt(kRoundedTargetMaxLogit / max_theta));
    }
    Say(absl::StrFormat("pilot: max |theta| ~ %.3g, probing at scale %.3g",
                        max_theta, s));
    if (noisy) {
      ATTN_ASSIGN_OR_RETURN(theta, RepeatUnderNoise(design, omega, s, result));
    } else {
      ATTN_ASSIGN_OR_RETURN(theta, VaryScales(design, omega, s));
    }
  }
  result.hypothesis = FromProducts(spec_, theta, omega);
  return result;
}

absl::StatusOr<Matrix> Prober::VaryScales(const Design& design,
                                          const Matrix& omega, double s) {
  Matrix sum = Matrix::Zero(spec_.d_model, spec_.d_model);
  for (int k = 0; k < kRoundedDesigns; ++k) {
    const double scale = s * (1 + k / kRoundedScaleSpread);
    std::vector<Matrix> answers, unused;
    int done = 0;
    ATTN_RETURN_IF_ERROR(Accumulate(design, scale, 1, answers, unused, done));
    ATTN_ASSIGN_OR_RETURN(Matrix theta,
                          DecodeTheta(spec_, design, answers, omega, scale));
    sum += theta;
  }
  Say(absl::StrCat("averaged theta over ", kRoundedDesigns,
                   " designs at scales ", s, " to ",
                   s * (1 + (kRoundedDesigns - 1) / kRoundedScaleSpread)));
  return Matrix(sum / kRoundedDesigns);
}

absl::StatusOr<Matrix> Prober::RepeatUnderNoise(const Design& design,
                                                const Matrix& omega, double s,
                                                LearnResult& result) {
  const std::vector<Matrix> probes = DrawProbeSet(
      spec_, options_.seed, kEstimateTypicalLength, kEstimateProbesPerLength);
  std::vector<Matrix> even, odd;
  int done = 0;
  Matrix theta;
  absl::Status decoded;
  // Rounds of 1, 1, 2, 4, ... repetitions (doubling the total), then one
  // last round with whatever the budget still covers.
  for (int round = 0;; ++round) {
    const uint64_t affordable =
        std::min(TokensLeft() / design.tokens(),
                 oracle_.usage().queries_left / design.sequences.size());
    const uint64_t wanted = round == 0 ? 1 : static_cast<uint64_t>(done);
    const int repeats = static_cast<int>(std::min(wanted, affordable));
    if (repeats == 0) break;
    ATTN_RETURN_IF_ERROR(Accumulate(design, s, repeats, even, odd, done));
    // A decode can fail on few, very noisy repetitions; more averaging
    // fixes it, so only the final one must succeed.
    absl::StatusOr<Matrix> full =
        DecodeTheta(spec_, design, Mean(even, odd, done), omega, s);
    decoded = full.status();
    if (!full.ok()) continue;
    theta = *std::move(full);
    if (done < 2) continue;
    // Two independent half-estimates A and B: the error of their average
    // is about ||A - B||^2 / 4.
    absl::StatusOr<Matrix> theta_a =
        DecodeTheta(spec_, design, Mean(even, {}, (done + 1) / 2), omega, s);
    absl::StatusOr<Matrix> theta_b =
        DecodeTheta(spec_, design, Mean(odd, {}, done / 2), omega, s);
    if (!theta_a.ok() || !theta_b.ok()) continue;
    const Usage now = oracle_.usage();
    CurvePoint point;
    point.tokens = now.tokens_used - start_.tokens_used;
    point.queries = now.queries_used - start_.queries_used;
    point.est_functional_rel_err =
        CompareFunctions(spec_, FromProducts(spec_, *theta_a, omega),
                         FromProducts(spec_, *theta_b, omega), probes)
            .rel_mse /
        4;
    ReportCurvePoint(options_, point, &result);
    Say(absl::StrFormat(
        "%d repetitions, %d tokens spent, estimated functional error %.3g",
        done, point.tokens, point.est_functional_rel_err));
  }
  if (!decoded.ok()) return decoded;
  return theta;
}

}  // namespace

absl::StatusOr<LearnResult> LearnProbe(QueryOracle& oracle,
                                       const LearnOptions& options) {
  return Prober(oracle, options).Run();
}

}  // namespace attnoracle
