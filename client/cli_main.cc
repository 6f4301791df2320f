// oracle-client: the command line over the Oracle service.
//
//   oracle-client challenges
//   oracle-client --json describe tiny-d4
//   echo '{"sequences": [[[1, 0, 0, 0]]]}' | oracle-client query tiny-d4
//   oracle-client admin register alice        (cli_admin.cc)
//   oracle-client verify tiny-d4              (cli_verify.cc)
//   oracle-client reveal tiny-d4              (cli_reveal.cc)
//
// Exit codes: 0 success, 1 the server refused or could not be reached, or a
// verification failed (the status code's name and message on stderr), 2
// usage error.
#include <algorithm>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli_admin.h"
#include "client/cli_common.h"
#include "client/cli_reveal.h"
#include "client/cli_verify.h"
#include "client/health_check.h"
#include "client/json_codec.h"
#include "client/learners/learner.h"
#include "client/oracle_client.h"
#include "common/challenge_config.h"
#include "common/codec.h"
#include "common/flag_help.h"
#include "common/flag_names.h"
#include "common/hashing.h"
#include "common/layer_comparison.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051",
          "Oracle server, host:port; several replicas as "
          "ipv4:HOST:PORT,HOST:PORT (calls spread round robin).");
ABSL_FLAG(bool, json, false,
          "Print one JSON document on stdout instead of tables.");
ABSL_FLAG(std::string, input, "",
          "query: JSON file with the sequences; empty or - reads stdin.");
ABSL_FLAG(std::string, token, "",
          "Token, sent as 'authorization: Bearer TOKEN' (default: "
          "$ATTNORACLE_TOKEN, else $ATTNORACLE_ADMIN_TOKEN; admin commands "
          "try $ATTNORACLE_ADMIN_TOKEN first).");
ABSL_FLAG(std::string, learner, "",
          "Learner name to go by on an open-mode server started with "
          "--open_learner_ids (default: $ATTNORACLE_LEARNER); with the admin "
          "token, reveal shows this learner's secret. 1 to 64 of "
          "[a-z0-9._-].");
ABSL_FLAG(double, timeout, 30, "Deadline of each call, in seconds.");
ABSL_FLAG(std::string, tls_ca, "",
          "Connect over TLS, trusting the CA certificates in this PEM file "
          "to sign the server's certificate (default: plaintext).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for servers that demand mutual TLS (with "
          "--tls-key).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name checked against the server's certificate (default: the host "
          "of --server).");
ABSL_FLAG(std::string, params, "", "submit: JSON hypothesis file.");
ABSL_FLAG(uint32_t, count, 1,
          "sample: how many random examples to draw (1 to the challenge's "
          "max_sequences_per_request).");
ABSL_FLAG(std::string, algo, "probe",
          "learn: the learner (`oracle-client learn --help` lists them).");
ABSL_FLAG(uint64_t, seed, 1, "learn: seed of the learner's random choices.");
ABSL_FLAG(uint64_t, max_tokens, 0,
          "learn: tokens the learner may spend (0: its default: probe what "
          "its design needs, or under noise all that is left; regress "
          "2000, or 3 answered numbers per free parameter where that is "
          "more). More than is left is capped to what is left, with a line "
          "on stderr and \"budget_capped\": true in --json.");
ABSL_FLAG(uint64_t, max_queries, 0,
          "learn: queries (sequences) the learner may spend in this run (0: "
          "no cap of its own). A request past it, or past --max_tokens, is "
          "refused before it is sent.");
ABSL_FLAG(bool, curve, false,
          "learn: print a line on stdout after each round of queries: what "
          "this run has spent and the learner's own error estimate.");
ABSL_FLAG(double, time_limit, 60,
          "learn: seconds the learner may optimise (regress).");
ABSL_FLAG(std::string, save, "",
          "learn: also write the hypothesis to this JSON file (a --params "
          "file for submit).");

namespace attnoracle::cli {
namespace {

constexpr FlagDoc kGlobalFlags[] = {
    {"server", "HOST:PORT"},    {"json", ""},
    {"token", "TOKEN"},         {"learner", "NAME"},
    {"timeout", "SECONDS"},     {"tls_ca", "FILE"},
    {"tls_cert", "FILE"},       {"tls_key", "FILE"},
    {"tls_server_name", "NAME"}};

void PrintGlobalFlags() {
  std::cout << "Global flags (before or after the command):\n";
  PrintFlags(std::cout, kGlobalFlags);
  std::cout << "Any --tls-* flag selects TLS (without --tls-ca, trusting "
               "gRPC's default roots).\nFlags may be spelled with dashes or "
               "underscores (--max-tokens, --max_tokens).\n";
}

int RunChallenges(Context& ctx) {
  absl::StatusOr<std::vector<ChallengeInfo>> list =
      ctx.client->ListChallenges();
  if (!list.ok()) return Fail(list.status());
  if (ctx.json) {
    nlohmann::ordered_json doc = {
        {"challenges", nlohmann::ordered_json::array()}};
    for (const ChallengeInfo& info : *list) {
      doc["challenges"].push_back(InfoToJson(info));
    }
    PrintJson(doc);
    return 0;
  }
  // As wide as the longest id, and as the longest phase name whatever the
  // phases listed, so the columns line up as challenges move on.
  size_t id_width = std::string("ID").size();
  for (const ChallengeInfo& i : *list)
    id_width = std::max(id_width, i.id.size());
  size_t phase_width = std::string("PHASE").size();
  for (Phase phase : {Phase::kOpen, Phase::kClosed, Phase::kRevealed}) {
    phase_width = std::max(phase_width, std::string(PhaseName(phase)).size());
  }
  const auto row = [&](absl::string_view id, absl::string_view d,
                       absl::string_view heads, absl::string_view mask,
                       absl::string_view readout, absl::string_view precision,
                       absl::string_view phase, absl::string_view title) {
    std::cout << absl::StrFormat("%-*s %5s %5s %-7s %-7s %-9s %-*s %s\n",
                                 id_width, id, d, heads, mask, readout,
                                 precision, phase_width, phase, title);
  };
  row("ID", "D", "HEADS", "MASK", "READOUT", "PRECISION", "PHASE", "TITLE");
  for (const ChallengeInfo& i : *list) {
    row(i.id, absl::StrCat(i.spec.d_model), absl::StrCat(i.spec.heads),
        MaskName(i.spec.mask), ReadoutName(i.spec.readout),
        PrecisionName(i.policy.precision), PhaseName(i.phase), i.title);
  }
  return 0;
}

void PrintScoring(const Scoring& s) {
  std::cout << "  submissions:  ";
  if (s.max_submissions > 0) {
    std::cout << "at most " << s.max_submissions << " per learner";
  } else {
    std::cout << "unlimited";
  }
  std::cout << "; feedback ";
  switch (s.feedback) {
    case Feedback::kFull:
      std::cout << "full (every metric)";
      break;
    case Feedback::kRounded:
      std::cout << "rounded (errors to 2 significant digits)";
      break;
    case Feedback::kPassFail:
      std::cout << "pass/fail (passed when functional_rel_err <= "
                << s.pass_threshold << ")";
      break;
  }
  std::cout << "\n";
}

int RunDescribe(Context& ctx) {
  absl::StatusOr<ChallengeInfo> info = ctx.client->Describe(ctx.args[0]);
  if (!info.ok()) return Fail(info.status());
  if (ctx.json) {
    PrintJson(InfoToJson(*info));
    return 0;
  }
  const LayerSpec& s = info->spec;
  const AccessPolicy& p = info->policy;
  std::cout << info->id << ": " << info->title << "\n"
            << "  " << info->description << "\n"
            << "  phase:        " << PhaseName(info->phase) << "\n"
            << "  layer:        d_model=" << s.d_model << " heads=" << s.heads
            << " head_dim=" << s.head_dim << " value_dim=" << s.value_dim
            << " out_dim=" << s.out_dim << "\n"
            << "                mask=" << MaskName(s.mask)
            << " readout=" << ReadoutName(s.readout)
            << " score_scale=" << s.score_scale
            << " biases=" << (s.biases ? "yes" : "no") << "\n"
            << "                attention=" << AttentionName(s.attention)
            << " kv_heads=" << s.kv_heads << " layers=" << s.layers
            << " residual=" << (s.residual ? "yes" : "no")
            << " tie_qk=" << (s.tie_qk ? "yes" : "no") << "\n"
            << "  ffn:          ";
  if (s.has_ffn) {
    std::cout << "hidden=" << s.ffn.hidden << " out_dim=" << s.ffn.out_dim
              << " biases=" << (s.ffn.biases ? "yes" : "no")
              << " residual=" << (s.ffn.residual ? "yes" : "no") << "\n";
  } else {
    std::cout << "none\n";
  }
  std::cout << "  answers:      " << PrecisionName(p.precision);
  if (p.noise_sigma > 0)
    std::cout << ", gaussian noise sigma=" << p.noise_sigma;
  switch (p.answers) {
    case Answers::kValues:
      std::cout << ", values (" << AnswersName(p.answers) << ")";
      break;
    case Answers::kSign:
      std::cout << ", signs only: +1 where >= 0, else -1 ("
                << AnswersName(p.answers) << ")";
      break;
    case Answers::kTopK:
      std::cout << ", the top " << p.top_k
                << " (index, value) pairs of each row ("
                << AnswersName(p.answers) << ")";
      break;
    case Answers::kQuantized:
      std::cout << ", rounded to multiples of " << p.quantize_step << " ("
                << AnswersName(p.answers) << ")";
      break;
  }
  std::cout << "\n  access:       ";
  switch (p.access) {
    case Access::kQueries:
      std::cout << "chosen queries (query) ";
      break;
    case Access::kExamples:
      std::cout << "random examples only (sample) ";
      break;
    case Access::kBoth:
      std::cout << "chosen queries (query) and random examples (sample) ";
      break;
  }
  std::cout << "(" << AccessName(p.access) << ")";
  if (AllowsExamples(p)) {
    std::cout << "\n  examples:     "
              << Counted(p.examples.tokens, "token", "tokens") << " of "
              << (p.examples.inputs == InputDistribution::kSigns
                      ? absl::StrCat("entries +-", p.examples.scale.value_or(1))
                      : absl::StrCat("entries N(0, ",
                                     p.examples.scale.value_or(1), "^2)"))
              << " (" << InputDistributionName(p.examples.inputs) << ")";
  }
  std::cout << "\n  budget:       "
            << Counted(p.budget.queries, "query", "queries") << ", "
            << Counted(p.budget.tokens, "token", "tokens") << " per learner\n"
            << "  limits:       |x| <= " << p.limits.max_abs_input << ", "
            << Counted(p.limits.max_tokens_per_sequence, "token", "tokens")
            << " per sequence, "
            << Counted(p.limits.max_sequences_per_request, "sequence",
                       "sequences")
            << " and "
            << Counted(p.limits.max_tokens_per_request, "token", "tokens")
            << " per request\n";
  if (p.limits.max_requests_per_second > 0) {
    std::cout << "  rate:         " << p.limits.max_requests_per_second
              << " requests per second per learner";
    if (p.limits.request_burst > 0)
      std::cout << ", bursts of " << p.limits.request_burst;
    std::cout << "\n";
  }
  PrintScoring(info->scoring);
  std::cout << "  secrets:      "
            << (info->per_learner_secrets
                    ? "one per learner, drawn from the same prior"
                    : "one, shared by every learner")
            << "\n  commitment:   "
            << (!info->commitment.empty() ? HexEncode(info->commitment)
                : info->per_learner_secrets
                    ? std::string("one per learner (each sees its own)")
                    : std::string("(not published)"))
            << "\n";
  if (!info->commitment.empty()) {
    std::cout << "                SHA-256 of "
              << (info->per_learner_secrets ? "your" : "the")
              << " secret and a nonce; keep it for 'verify --commitment'\n";
  }
  return 0;
}

void PrintUsage(const Usage& u) {
  std::cout << "usage: " << Counted(u.queries_used, "query", "queries")
            << " and " << Counted(u.tokens_used, "token", "tokens") << " used; "
            << Counted(u.queries_left, "query", "queries") << " and "
            << Counted(u.tokens_left, "token", "tokens") << " left\n";
}

// One answer as text: its matrix, or under top-k its (index, value) pairs
// row by row.
void PrintAnswer(absl::string_view what, size_t i, Eigen::Index tokens,
                 const Matrix& y, bool top_k) {
  const Eigen::IOFormat format(Eigen::FullPrecision, 0, "  ", "\n    ", "", "");
  std::cout << what << " " << i << " (" << tokens
            << (tokens == 1 ? " token) -> " : " tokens) -> ");
  if (!top_k) {
    std::cout << y.rows() << " x " << y.cols() << ":\n    " << y.format(format)
              << "\n";
    return;
  }
  std::cout << y.rows() << " rows of top " << y.cols() / 2
            << " (index: value):\n";
  for (Eigen::Index r = 0; r < y.rows(); ++r) {
    std::cout << "   ";
    for (Eigen::Index k = 0; k + 1 < y.cols(); k += 2) {
      std::cout << " " << static_cast<uint64_t>(y(r, k)) << ": "
                << absl::StrFormat("%.17g", y(r, k + 1));
    }
    std::cout << "\n";
  }
}

int RunQuery(Context& ctx) {
  std::optional<nlohmann::ordered_json> doc =
      ReadJson(absl::GetFlag(FLAGS_input), "query input");
  if (!doc) return kExitUsage;
  absl::StatusOr<std::vector<Matrix>> sequences = SequencesFromJson(*doc);
  if (!sequences.ok()) {
    std::cerr << "oracle-client: bad query input: "
              << sequences.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<QueryAnswer> answer =
      ctx.client->Query(ctx.args[0], *sequences);
  if (!answer.ok()) return Fail(answer.status());
  if (ctx.json) {
    PrintJson({{answer->top_k ? "top_k" : "outputs",
                AnswersToJson(answer->outputs, answer->top_k)},
               {"usage", UsageToJson(answer->usage)}});
    return 0;
  }
  for (size_t i = 0; i < answer->outputs.size(); ++i) {
    PrintAnswer("sequence", i, (*sequences)[i].rows(), answer->outputs[i],
                answer->top_k);
  }
  PrintUsage(answer->usage);
  return 0;
}

int RunSample(Context& ctx) {
  absl::StatusOr<SampleAnswer> answer =
      ctx.client->Sample(ctx.args[0], absl::GetFlag(FLAGS_count));
  if (!answer.ok()) return Fail(answer.status());
  if (ctx.json) {
    nlohmann::ordered_json inputs = nlohmann::ordered_json::array();
    for (const Matrix& x : answer->inputs) inputs.push_back(MatrixToJson(x));
    PrintJson({{"inputs", inputs},
               {answer->top_k ? "top_k" : "outputs",
                AnswersToJson(answer->outputs, answer->top_k)},
               {"usage", UsageToJson(answer->usage)}});
    return 0;
  }
  const Eigen::IOFormat format(Eigen::FullPrecision, 0, "  ", "\n    ", "", "");
  for (size_t i = 0; i < answer->inputs.size(); ++i) {
    const Matrix& x = answer->inputs[i];
    std::cout << "example " << i << " (sequence index "
              << answer->first_query_index + i << "), input " << x.rows()
              << " x " << x.cols() << ":\n    " << x.format(format) << "\n";
    PrintAnswer("example", i, x.rows(), answer->outputs[i], answer->top_k);
  }
  PrintUsage(answer->usage);
  return 0;
}

int RunUsage(Context& ctx) {
  absl::StatusOr<Usage> usage = ctx.client->GetUsage(ctx.args[0]);
  if (!usage.ok()) return Fail(usage.status());
  if (ctx.json) {
    PrintJson({{"usage", UsageToJson(*usage)}});
  } else {
    PrintUsage(*usage);
  }
  return 0;
}

// The score as the challenge's feedback setting shows it, and the
// submissions left where they are limited (`max_submissions` > 0).
void PrintScore(const Score& s, Headline headline, uint32_t submissions_left,
                int max_submissions) {
  if (s.feedback == Feedback::kPassFail) {
    std::cout << "  " << (s.passed ? "PASS" : "FAIL")
              << " (this challenge shows only pass or fail)\n";
  } else {
    // The headline first: what the leaderboard ranks by.
    if (headline == Headline::kSignDisagreement) {
      std::cout << absl::StrFormat(
          "  sign_disagreement  %.3e   (the headline: share of probe outputs "
          "whose sign differs; errors below at unit output scale)\n",
          s.sign_disagreement);
    }
    std::cout << absl::StrFormat(
        "  functional_rel_err %.3e   max_abs_err %.3e   bits %.1f\n"
        "  theta_rel_err      %.3e   omega_rel_err %.3e\n",
        s.functional_rel_err, s.max_abs_err, s.bits, s.theta_rel_err,
        s.omega_rel_err);
    if (!s.ffn_omitted) {
      std::cout << absl::StrFormat(
          "  ffn_rel_err        %.3e   (FFN units up to permutation and "
          "positive rescaling)\n",
          s.ffn_rel_err);
    }
    if (!s.parameter_note.empty()) {
      std::vector<std::string> omitted;
      if (s.theta_omitted) omitted.push_back("theta");
      if (s.omega_omitted) omitted.push_back("omega");
      if (s.ffn_omitted) omitted.push_back("ffn");
      std::cout << "  (" << absl::StrJoin(omitted, ", ")
                << " omitted: " << s.parameter_note << ")\n";
    }
    if (s.feedback == Feedback::kRounded) {
      std::cout << "  (errors rounded to 2 significant digits)\n";
    }
  }
  std::cout << "  spent " << Counted(s.queries_used, "query", "queries") << ", "
            << Counted(s.tokens_used, "token", "tokens");
  if (s.tokens_to_bound > 0) {
    std::cout << absl::StrFormat(" (%.2fx the counting bound in tokens)",
                                 s.tokens_to_bound);
  }
  if (s.queries_to_bound > 0) {
    std::cout << absl::StrFormat(" (%.2fx the counting bound in sequences)",
                                 s.queries_to_bound);
  }
  std::cout << "\n";
  if (max_submissions > 0) {
    std::cout << "  " << submissions_left << " of " << max_submissions
              << " submissions left\n";
  }
}

int RunSubmit(Context& ctx) {
  const std::string path = absl::GetFlag(FLAGS_params);
  if (path.empty()) {
    std::cerr << "oracle-client: submit needs --params FILE\n";
    return kExitUsage;
  }
  std::optional<nlohmann::ordered_json> doc = ReadJson(path, "--params file");
  if (!doc) return kExitUsage;
  absl::StatusOr<v1::LayerParams> proto = HypothesisFromJson(*doc);
  if (!proto.ok()) {
    std::cerr << "oracle-client: bad hypothesis file: "
              << proto.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<ChallengeInfo> info = ctx.client->Describe(ctx.args[0]);
  if (!info.ok()) return Fail(info.status());
  absl::StatusOr<LayerParams> params = ParamsFromProto(*proto, info->spec);
  if (!params.ok()) return Fail(params.status());
  absl::StatusOr<SubmitResult> result =
      ctx.client->Submit(ctx.args[0], *params);
  if (!result.ok()) return Fail(result.status());
  const int max_submissions = info->scoring.max_submissions;
  if (ctx.json) {
    nlohmann::ordered_json doc = {
        {"challenge", ctx.args[0]},
        {"submission_id", result->submission_id},
        {"score", ScoreToJson(result->score, HeadlineOf(info->policy))}};
    if (max_submissions > 0) doc["submissions_left"] = result->submissions_left;
    PrintJson(doc);
    return 0;
  }
  std::cout << "submission " << result->submission_id << " to " << ctx.args[0]
            << ":\n";
  PrintScore(result->score, HeadlineOf(info->policy), result->submissions_left,
             max_submissions);
  return 0;
}

int RunLearn(Context& ctx) {
  const std::string algo = absl::GetFlag(FLAGS_algo);
  if (FindLearner(algo) == nullptr) {
    return UsageError(
        absl::StrCat("unknown learner \"", algo,
                     "\" for --algo; known: ", LearnerNameList()));
  }
  RemoteOracle oracle(ctx.client.get(), ctx.args[0]);
  if (absl::Status s = oracle.Init(); !s.ok()) return Fail(s);
  LearnOptions options;
  options.seed = absl::GetFlag(FLAGS_seed);
  options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  options.max_queries = absl::GetFlag(FLAGS_max_queries);
  options.time_limit_seconds = absl::GetFlag(FLAGS_time_limit);
  options.progress = &std::cerr;
  // With --json the points go into the document's "curve" instead.
  if (absl::GetFlag(FLAGS_curve) && !ctx.json) {
    options.curve_sink = [](const CurvePoint& p) {
      std::cout << absl::StrFormat(
          "curve: queries %d tokens %d est_functional_rel_err %.3e", p.queries,
          p.tokens, p.est_functional_rel_err);
      if (p.heldout_answer_rel_err) {
        std::cout << absl::StrFormat(" heldout_answer_rel_err %.3e",
                                     *p.heldout_answer_rel_err);
      }
      std::cout << std::endl;
    };
  } else if (absl::GetFlag(FLAGS_curve)) {
    // A sink all the same, so learners that spend in rounds only when asked
    // for a curve (regress) do; the points reach the document's "curve".
    options.curve_sink = [](const CurvePoint&) {};
  }
  const Usage before = oracle.usage();
  const absl::Time start = absl::Now();
  absl::StatusOr<LearnResult> learned = RunLearner(algo, oracle, options);
  if (!learned.ok()) return Fail(learned.status());
  absl::StatusOr<SubmitResult> result =
      ctx.client->Submit(ctx.args[0], learned->hypothesis);
  if (!result.ok()) return Fail(result.status());
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (const std::string save = absl::GetFlag(FLAGS_save); !save.empty()) {
    std::ofstream out(save);
    out << HypothesisToJson(learned->hypothesis).dump(1) << "\n";
    if (!out) {
      std::cerr << "oracle-client: cannot write --save \"" << save << "\"\n";
      return kExitFailure;
    }
  }
  // The server scores the learner's whole spend on the challenge; report
  // what this run spent, so runs on one challenge can be compared.
  Score score = result->score;
  SetCost(oracle.info().spec, oracle.usage().queries_used - before.queries_used,
          oracle.usage().tokens_used - before.tokens_used, &score);
  const int max_submissions = oracle.info().scoring.max_submissions;
  if (ctx.json) {
    nlohmann::ordered_json curve = nlohmann::ordered_json::array();
    for (const CurvePoint& p : learned->curve) {
      nlohmann::ordered_json point = {
          {"tokens", p.tokens},
          {"queries", p.queries},
          {"est_functional_rel_err", p.est_functional_rel_err}};
      if (p.heldout_answer_rel_err) {
        point["heldout_answer_rel_err"] = *p.heldout_answer_rel_err;
      }
      curve.push_back(std::move(point));
    }
    nlohmann::ordered_json doc = {{"challenge", ctx.args[0]},
                                  {"algo", algo},
                                  {"queries", score.queries_used},
                                  {"tokens", score.tokens_used},
                                  {"budget_capped", learned->budget_capped}};
    // Under pass/fail feedback the server sends no errors, only zeros.
    if (score.feedback != Feedback::kPassFail) {
      doc["functional_rel_err"] = score.functional_rel_err;
      doc["theta_rel_err"] = score.theta_omitted
                                 ? nlohmann::ordered_json(nullptr)
                                 : nlohmann::ordered_json(score.theta_rel_err);
      doc["omega_rel_err"] = score.omega_omitted
                                 ? nlohmann::ordered_json(nullptr)
                                 : nlohmann::ordered_json(score.omega_rel_err);
      doc["ffn_rel_err"] = score.ffn_omitted
                               ? nlohmann::ordered_json(nullptr)
                               : nlohmann::ordered_json(score.ffn_rel_err);
      if (!score.parameter_note.empty()) {
        doc["parameter_note"] = score.parameter_note;
      }
      doc["bits"] = score.bits;
      if (oracle.info().policy.answers == Answers::kSign) {
        doc["sign_disagreement"] = score.sign_disagreement;
      }
      doc["headline"] = HeadlineName(HeadlineOf(oracle.info().policy));
    }
    doc["seconds"] = seconds;
    doc["submission_id"] = result->submission_id;
    doc["queries_to_bound"] = score.queries_to_bound;
    doc["tokens_to_bound"] = score.tokens_to_bound;
    doc["feedback"] = FeedbackName(score.feedback);
    doc["passed"] = score.passed;
    if (max_submissions > 0) doc["submissions_left"] = result->submissions_left;
    if (!curve.empty()) doc["curve"] = curve;
    PrintJson(doc);
    return 0;
  }
  std::cout << algo << " on " << ctx.args[0] << " ("
            << absl::StrFormat("%.1f", seconds) << " s), submission "
            << result->submission_id << ":\n";
  PrintScore(score, HeadlineOf(oracle.info().policy), result->submissions_left,
             max_submissions);
  return 0;
}

int RunLeaderboard(Context& ctx) {
  absl::StatusOr<std::vector<LeaderboardEntry>> board =
      ctx.client->GetLeaderboard(ctx.args[0]);
  if (!board.ok()) return Fail(board.status());
  absl::StatusOr<ChallengeInfo> info = ctx.client->Describe(ctx.args[0]);
  if (!info.ok()) return Fail(info.status());
  const Headline headline = HeadlineOf(info->policy);
  if (ctx.json) {
    nlohmann::ordered_json entries = nlohmann::ordered_json::array();
    for (const LeaderboardEntry& e : *board) {
      entries.push_back(LeaderboardEntryToJson(e, headline));
    }
    PrintJson({{"challenge", ctx.args[0]}, {"entries", entries}});
    return 0;
  }
  if (board->empty()) {
    std::cout << "no submissions on " << ctx.args[0] << " yet\n";
    return 0;
  }
  std::cout << absl::StrFormat(
      "%4s  %-20s %10s %6s %9s %8s %5s  %s\n", "RANK", "LEARNER",
      headline == Headline::kSignDisagreement ? "SIGN_DIS" : "FUNC_ERR", "BITS",
      "TOKENS", "QUERIES", "SUBS", "SUBMITTED (UTC)");
  bool rounded = false;
  for (const LeaderboardEntry& e : *board) {
    const Score& s = e.score;
    const bool pass_fail = s.feedback == Feedback::kPassFail;
    const std::string error =
        pass_fail ? std::string(s.passed ? "PASS" : "FAIL")
                  : absl::StrFormat("%.3e", HeadlineValue(s, headline));
    const std::string bits =
        pass_fail ? std::string("-") : absl::StrFormat("%.1f", s.bits);
    rounded = rounded || s.feedback == Feedback::kRounded;
    std::cout << absl::StrFormat("%4d  %-20s %10s %6s %9d %8d %5d  %s\n",
                                 e.rank, e.learner, error, bits, s.tokens_used,
                                 s.queries_used, e.submissions,
                                 FormatUnixMs(e.submitted_unix_ms));
  }
  if (rounded) std::cout << "(errors rounded to 2 significant digits)\n";
  return 0;
}

// Exit 0 when the server answers SERVING, 1 otherwise: container
// healthchecks run this.
int RunHealth(Context& ctx) {
  const absl::Status status =
      CheckHealth(NewChannel(ctx.options), ctx.options, "");
  if (!status.ok()) return Fail(status);
  if (ctx.json) {
    PrintJson(nlohmann::ordered_json{{"status", "SERVING"}});
  } else {
    std::cout << ctx.options.server << ": SERVING\n";
  }
  return 0;
}

constexpr FlagDoc kQueryFlags[] = {{"input", "FILE"}};
constexpr FlagDoc kSubmitFlags[] = {{"params", "FILE"}};
constexpr FlagDoc kSampleFlags[] = {{"count", "N"}};
constexpr FlagDoc kLearnFlags[] = {
    {"algo", "NAME"},     {"seed", "N"}, {"max_tokens", "N"},
    {"max_queries", "N"}, {"curve", ""}, {"time_limit", "SECONDS"},
    {"save", "FILE"}};

const Command kCommands[] = {
    {"challenges", "challenges", "List the challenges the server hosts.", 0,
     RunChallenges},
    {"describe", "describe CH",
     "Show everything public about a challenge.\n"
     "Its architecture, answer precision and noise, budget and limits,\n"
     "submission limit and feedback, whether secrets are per learner, and\n"
     "the commitment to the secret (SHA-256 of the secret and a nonce,\n"
     "published before any query; record it for 'verify --commitment').",
     1, RunDescribe},
    {"query",
     "query CH [--input FILE]",
     "Ask the hidden layer of challenge CH. Input (a file or stdin) is JSON:\n"
     "  {\"sequences\": [[[x11, ..., x1d], [x21, ...]], ...]}\n"
     "one array of tokens (each d_model numbers) per sequence. Output with "
     "--json:\n"
     "  {\"outputs\": [[[y...], ...], ...], \"usage\": {...}}\n"
     "one row per returned position (n rows, or 1 for last-position "
     "readout);\n"
     "under top-k answers \"top_k\": [[[[index, value], ...] per row] per\n"
     "sequence] in place of \"outputs\".",
     1,
     RunQuery,
     {},
     false,
     kQueryFlags},
    {"sample",
     "sample CH [--count N]",
     "Draw your next N random examples of CH (challenges whose access\n"
     "allows examples): inputs the server draws from the challenge's\n"
     "distribution, with their answers, charged like N queries. With "
     "--json:\n"
     "  {\"inputs\": [[[x...], ...], ...], \"outputs\": [...], "
     "\"usage\": {...}}\n"
     "in the shapes 'query' uses (\"top_k\" in place of \"outputs\" under\n"
     "top-k answers).",
     1,
     RunSample,
     {},
     false,
     kSampleFlags},
    {"usage", "usage CH",
     "Show the queries and tokens you have used and have left on CH.", 1,
     RunUsage},
    {"submit",
     "submit CH --params FILE",
     "Submit a hypothesis for CH and print its score. FILE is JSON:\n"
     "  {\"heads\": [{\"wq\": M, \"wk\": M, \"wv\": M, \"wo\": M}, ...]}\n"
     "or per head {\"theta\": M, \"omega\": M} (theta = wq wk^T * "
     "score_scale,\nomega = wv wo); M is an array of rows. With biases each "
     "head also has\n\"bq\", \"bk\", \"bv\" and the document \"bo\".",
     1,
     RunSubmit,
     {},
     false,
     kSubmitFlags},
    {"learn",
     "learn CH [--algo NAME]",
     "Run a reference learner against CH and submit its hypothesis.\n"
     "The learner works through the public API; the score is printed and\n"
     "progress goes to stderr. With --json: {challenge, algo, queries,\n"
     "tokens, budget_capped, functional_rel_err, theta_rel_err,\n"
     "omega_rel_err, ffn_rel_err, bits, seconds, ..., curve: [{tokens,\n"
     "queries, est_functional_rel_err, heldout_answer_rel_err}]}; queries,\n"
     "tokens and the curve count what this run spent. --curve prints each\n"
     "point on stdout as it is reached: 'curve: queries Q tokens T\n"
     "est_functional_rel_err E [heldout_answer_rel_err H]'.",
     1,
     RunLearn,
     {},
     false,
     kLearnFlags},
    {"leaderboard", "leaderboard CH",
     "Show the leaderboard of CH: each learner's best submission.\n"
     "Columns: rank, functional error (PASS/FAIL where the challenge shows\n"
     "only that), bits, tokens and queries spent, submissions, and when.\n"
     "Ranked by error, then tokens, then time. With --json:\n"
     "  {challenge, entries: [{rank, learner, score, submission_id,\n"
     "   submitted_unix_ms, submissions}]}",
     1, RunLeaderboard},
    {"health", "health",
     "Ask the server's grpc.health.v1 service whether it serves.\n"
     "Exit 0 when it answers SERVING, 1 when it answers otherwise or\n"
     "cannot be reached within --timeout (container healthchecks and load\n"
     "balancers ask the same). Needs no token. With --json: {status}.",
     0, RunHealth},
    VerifyCommand(),
    RevealCommand(),
    {"admin", "admin SUBCOMMAND ...",
     "Organiser commands: register, register-class, revoke, grant, create,\n"
     "phase, export.\n"
     "They call the Admin service with the admin token (--token or\n"
     "$ATTNORACLE_ADMIN_TOKEN).",
     0, nullptr, AdminCommands(), true},
};

const Command* FindCommand(std::span<const Command> commands,
                           const std::string& name) {
  for (const Command& c : commands) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

// The command a help request is about: the first argument naming a
// command, then within a group the first later one naming a subcommand.
const Command* HelpTarget(int argc, char** argv) {
  const Command* found = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (found == nullptr) {
      found = FindCommand(kCommands, argv[i]);
    } else if (const Command* sub = FindCommand(found->subcommands, argv[i])) {
      return sub;
    }
  }
  return found;
}

// Longer synopses get a line of their own in command lists.
constexpr int kSynopsisWidth = 28;

void PrintCommandList(std::span<const Command> commands) {
  for (const Command& c : commands) {
    const std::string help = c.help;
    // The first sentence of the first line.
    std::string summary = help.substr(0, help.find('\n'));
    if (const size_t end = summary.find(". "); end != std::string::npos) {
      summary.resize(end + 1);
    }
    if (std::string(c.synopsis).size() > kSynopsisWidth) {
      std::cout << "  " << c.synopsis << "\n"
                << std::string(kSynopsisWidth + 3, ' ') << summary << "\n";
    } else {
      std::cout << absl::StrFormat("  %-*s %s\n", kSynopsisWidth, c.synopsis,
                                   summary);
    }
  }
}

void PrintHelp(const Command* command) {
  if (command != nullptr) {
    std::cout << "Usage: oracle-client [global flags] " << command->synopsis
              << "\n\n"
              << command->help << "\n\n";
    if (!command->flags.empty()) {
      std::cout << "Flags:\n";
      PrintFlags(std::cout, command->flags);
      std::cout << "\n";
    }
    if (command->run == RunLearn) {
      std::cout << "Learners (--algo):\n";
      for (const LearnerEntry& e : Learners()) {
        PrintTwoColumns(std::cout, absl::StrCat("  ", e.name),
                        std::vector<std::string>(
                            absl::StrSplit(e.summary, ' ', absl::SkipEmpty())));
      }
      std::cout << "\n";
    }
    if (!command->subcommands.empty()) {
      std::cout << "Subcommands:\n";
      PrintCommandList(command->subcommands);
      std::cout << "\n'oracle-client " << command->name
                << " SUBCOMMAND --help' describes one.\n\n";
    }
    PrintGlobalFlags();
    return;
  }
  std::cout << "oracle-client: ask an AttnOracle server's hidden attention "
               "layers.\n\nUsage: oracle-client [global flags] COMMAND "
               "[args]\n\nCommands:\n";
  PrintCommandList(kCommands);
  std::cout << "\n";
  PrintGlobalFlags();
  std::cout << "\n'oracle-client COMMAND --help' describes one command.\n";
}

bool IsHelp(const std::string& arg) {
  return arg == "--help" || arg == "-h" || arg == "-help" || arg == "help";
}

// absl exits with status 1 on an unknown flag; the CLI promises 2 for usage
// errors, so flags are checked first.
bool CheckFlagNames(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    name = name.substr(0, name.find('='));
    if (absl::FindCommandLineFlag(name) == nullptr &&
        !(absl::StartsWith(name, "no") &&
          absl::FindCommandLineFlag(name.substr(2)) != nullptr)) {
      std::cerr << "oracle-client: unknown flag --" << name
                << " (see oracle-client --help)\n";
      return false;
    }
  }
  return true;
}

// "--out -" becomes "--out=-": absl would take the "-" but warn that it
// looks like a mistake. Bool flags take no separate value and are left alone.
void JoinDashValues(std::vector<char*>& args,
                    std::deque<std::string>& storage) {
  for (size_t i = 1; i + 1 < args.size(); ++i) {
    const std::string arg = args[i];
    if (arg == "--") break;
    if (std::string(args[i + 1]) != "-" || arg.size() < 3 ||
        arg.substr(0, 2) != "--" || arg.find('=') != std::string::npos) {
      continue;
    }
    const absl::CommandLineFlag* flag =
        absl::FindCommandLineFlag(arg.substr(2));
    if (flag == nullptr || flag->IsOfType<bool>()) continue;
    storage.push_back(arg + "=-");  // a deque: earlier elements stay put
    args[i] = storage.back().data();
    args.erase(args.begin() + i + 1);
  }
}

int Main(int raw_argc, char** raw_argv) {
  absl::SetProgramUsageMessage("see oracle-client --help");
  SetFlagsUsageConfigFor(__FILE__, "client/cli_main.cc");
  // --max-tokens is accepted as well as --max_tokens.
  std::vector<std::string> storage;
  std::vector<char*> normalized =
      NormalizeFlagNames(raw_argc, raw_argv, storage);
  std::deque<std::string> joined;
  JoinDashValues(normalized, joined);
  const int argc = static_cast<int>(normalized.size());
  char** argv = normalized.data();
  // Help is answered before flag parsing so every subcommand has its own.
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    if (IsHelp(argv[i])) help = true;
  }
  if (help || argc == 1) {
    PrintHelp(HelpTarget(argc, argv));
    return argc == 1 ? kExitUsage : kExitOk;
  }
  if (!CheckFlagNames(argc, argv)) return kExitUsage;
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    return UsageError("missing command (see oracle-client --help)");
  }
  const Command* command = FindCommand(kCommands, positional[1]);
  if (command == nullptr) {
    return UsageError(absl::StrCat("unknown command \"", positional[1],
                                   "\" (see oracle-client --help)"));
  }
  size_t first_arg = 2;
  if (!command->subcommands.empty()) {
    const Command* group = command;
    command = positional.size() > 2
                  ? FindCommand(group->subcommands, positional[2])
                  : nullptr;
    if (command == nullptr) {
      return UsageError(absl::StrCat(
          positional.size() > 2
              ? absl::StrCat("unknown ", group->name, " subcommand \"",
                             positional[2], "\"")
              : absl::StrCat("missing ", group->name, " subcommand"),
          " (see oracle-client ", group->name, " --help)"));
    }
    first_arg = 3;
  }
  Context ctx;
  ctx.args.assign(positional.begin() + first_arg, positional.end());
  if (ctx.args.size() != command->num_args) {
    return UsageError(absl::StrCat("usage: oracle-client ", command->synopsis));
  }
  const double timeout = absl::GetFlag(FLAGS_timeout);
  if (!(timeout > 0)) return UsageError("--timeout must be > 0 seconds");
  ctx.options.server = absl::GetFlag(FLAGS_server);
  if (absl::Status target = CheckServerTarget(ctx.options.server);
      !target.ok()) {
    return UsageError(target.message());
  }
  ctx.options.deadline =
      std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000));
  ctx.token_flag = absl::GetFlag(FLAGS_token);
  ctx.options.token = ResolveToken(ctx.token_flag, command->admin);
  ctx.options.learner = absl::GetFlag(FLAGS_learner);
  if (const char* env = std::getenv("ATTNORACLE_LEARNER");
      ctx.options.learner.empty() && env != nullptr) {
    ctx.options.learner = env;
  }
  // Checked here too: gRPC aborts the client on metadata that is not
  // printable ASCII, before the server could refuse it.
  if (!ctx.options.learner.empty() &&
      (!ValidName(ctx.options.learner) || ctx.options.learner == "anonymous")) {
    return UsageError(
        "--learner (or ATTNORACLE_LEARNER) must be 1 to 64 characters of "
        "[a-z0-9._-] and not \"anonymous\"");
  }
  ctx.json = absl::GetFlag(FLAGS_json);
  absl::StatusOr<ClientTlsOptions> tls =
      ReadClientTls({.ca_path = absl::GetFlag(FLAGS_tls_ca),
                     .cert_path = absl::GetFlag(FLAGS_tls_cert),
                     .key_path = absl::GetFlag(FLAGS_tls_key),
                     .server_name = absl::GetFlag(FLAGS_tls_server_name)});
  if (!tls.ok()) return UsageError(tls.status().message());
  ctx.options.tls = *std::move(tls);
  ctx.client = OracleClient::Connect(ctx.options);
  return command->run(ctx);
}

}  // namespace
}  // namespace attnoracle::cli

int main(int argc, char** argv) { return attnoracle::cli::Main(argc, argv); }
