// oracle-client: the command line over the Oracle service.
//
//   oracle-client challenges
//   oracle-client --json describe tiny-d4
//   echo '{"sequences": [[[1, 0, 0, 0]]]}' | oracle-client query tiny-d4
//
// Exit codes: 0 success, 1 the server refused or could not be reached (the
// status code's name and message on stderr), 2 usage error.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/json_codec.h"
#include "client/learners/learner.h"
#include "client/oracle_client.h"
#include "common/codec.h"
#include "common/metrics.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "Oracle server, host:port.");
ABSL_FLAG(bool, json, false,
          "Print one JSON document on stdout instead of tables.");
ABSL_FLAG(std::string, input, "",
          "query: JSON file with the sequences; empty or - reads stdin.");
ABSL_FLAG(std::string, token, "",
          "Learner token, sent as 'authorization: Bearer TOKEN' (default: "
          "$ATTNORACLE_TOKEN).");
ABSL_FLAG(double, timeout, 30, "Deadline of each call, in seconds.");
ABSL_FLAG(std::string, params, "", "submit: JSON hypothesis file.");
ABSL_FLAG(std::string, algo, "probe", "learn: the learner (probe, regress).");
ABSL_FLAG(uint64_t, seed, 1, "learn: seed of the learner's random choices.");
ABSL_FLAG(uint64_t, max_tokens, 0,
          "learn: tokens the learner may spend (0: what is left of the "
          "budget; regress spends 2000 by default).");
ABSL_FLAG(double, time_limit, 60,
          "learn: seconds the learner may optimise (regress).");
ABSL_FLAG(std::string, save, "",
          "learn: also write the hypothesis to this JSON file.");

namespace attnoracle {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Context {
  std::vector<std::string> args;  // after the subcommand
  bool json = false;
  std::unique_ptr<OracleClient> client;
};

struct Command {
  const char* name;
  const char* synopsis;
  const char* help;
  size_t num_args;
  int (*run)(Context&);
};

constexpr char kGlobalFlags[] =
    "Global flags (before or after the subcommand):\n"
    "  --server HOST:PORT  oracle server (default 127.0.0.1:50051)\n"
    "  --json              one JSON document on stdout instead of tables\n"
    "  --token TOKEN       learner token (default $ATTNORACLE_TOKEN)\n"
    "  --timeout SECONDS   deadline of each call (default 30)\n";

int Fail(const absl::Status& status) {
  std::cerr << "oracle-client: " << absl::StatusCodeToString(status.code())
            << ": " << status.message() << "\n";
  return kExitFailure;
}

void PrintJson(const nlohmann::ordered_json& doc) {
  std::cout << doc.dump(2) << std::endl;
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
  std::cout << absl::StrFormat("%-26s %5s %5s %-7s %-7s %-9s %-6s %s\n", "ID",
                               "D", "HEADS", "MASK", "READOUT", "PRECISION",
                               "PHASE", "TITLE");
  for (const ChallengeInfo& i : *list) {
    std::cout << absl::StrFormat(
        "%-26s %5d %5d %-7s %-7s %-9s %-6s %s\n", i.id, i.spec.d_model,
        i.spec.heads, MaskName(i.spec.mask), ReadoutName(i.spec.readout),
        PrecisionName(i.policy.precision), PhaseName(i.phase), i.title);
  }
  return 0;
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
            << "  answers:      " << PrecisionName(p.precision);
  if (p.noise_sigma > 0)
    std::cout << ", gaussian noise sigma=" << p.noise_sigma;
  std::cout << "\n  budget:       " << p.budget.queries << " queries, "
            << p.budget.tokens << " tokens per learner\n"
            << "  limits:       |x| <= " << p.limits.max_abs_input << ", "
            << p.limits.max_tokens_per_sequence << " tokens per sequence, "
            << p.limits.max_sequences_per_request << " sequences and "
            << p.limits.max_tokens_per_request << " tokens per request\n";
  return 0;
}

void PrintUsage(const Usage& u) {
  std::cout << "usage: " << u.queries_used << " queries and " << u.tokens_used
            << " tokens used; " << u.queries_left << " queries and "
            << u.tokens_left << " tokens left\n";
}

// Reads a JSON document from `path` (stdin for "" or "-"); on failure
// prints why and returns null.
std::optional<nlohmann::ordered_json> ReadJson(const std::string& path,
                                               const char* what) {
  std::stringstream text;
  if (path.empty() || path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path);
    if (!in) {
      std::cerr << "oracle-client: cannot read " << what << " \"" << path
                << "\"\n";
      return std::nullopt;
    }
    text << in.rdbuf();
  }
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(
      text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    std::cerr << "oracle-client: the " << what << " is not valid JSON\n";
    return std::nullopt;
  }
  return doc;
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
    nlohmann::ordered_json outputs = nlohmann::ordered_json::array();
    for (const Matrix& y : answer->outputs) outputs.push_back(MatrixToJson(y));
    PrintJson({{"outputs", outputs}, {"usage", UsageToJson(answer->usage)}});
    return 0;
  }
  const Eigen::IOFormat format(Eigen::FullPrecision, 0, "  ", "\n    ", "", "");
  for (size_t i = 0; i < answer->outputs.size(); ++i) {
    const Matrix& y = answer->outputs[i];
    std::cout << "sequence " << i << " (" << (*sequences)[i].rows()
              << (((*sequences)[i].rows() == 1) ? " token) -> "
                                                : " tokens) -> ")
              << y.rows() << " x " << y.cols() << ":\n    " << y.format(format)
              << "\n";
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

void PrintScore(const Score& s) {
  std::cout << absl::StrFormat(
      "  functional_rel_err %.3e   max_abs_err %.3e   bits %.1f\n"
      "  theta_rel_err      %.3e   omega_rel_err %.3e\n"
      "  spent %d queries, %d tokens",
      s.functional_rel_err, s.max_abs_err, s.bits, s.theta_rel_err,
      s.omega_rel_err, s.queries_used, s.tokens_used);
  if (s.tokens_to_bound > 0) {
    std::cout << absl::StrFormat(" (%.2fx the counting bound in tokens)",
                                 s.tokens_to_bound);
  }
  if (s.queries_to_bound > 0) {
    std::cout << absl::StrFormat(" (%.2fx the counting bound in sequences)",
                                 s.queries_to_bound);
  }
  std::cout << "\n";
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
  if (ctx.json) {
    PrintJson({{"challenge", ctx.args[0]},
               {"submission_id", result->submission_id},
               {"score", ScoreToJson(result->score)}});
    return 0;
  }
  std::cout << "submission " << result->submission_id << " to " << ctx.args[0]
            << ":\n";
  PrintScore(result->score);
  return 0;
}

int RunLearn(Context& ctx) {
  const std::string algo = absl::GetFlag(FLAGS_algo);
  RemoteOracle oracle(ctx.client.get(), ctx.args[0]);
  if (absl::Status s = oracle.Init(); !s.ok()) return Fail(s);
  LearnOptions options;
  options.seed = absl::GetFlag(FLAGS_seed);
  options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  options.time_limit_seconds = absl::GetFlag(FLAGS_time_limit);
  options.progress = &std::cerr;
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
  if (ctx.json) {
    nlohmann::ordered_json curve = nlohmann::ordered_json::array();
    for (const CurvePoint& p : learned->curve) {
      curve.push_back({{"tokens", p.tokens},
                       {"queries", p.queries},
                       {"estimated_rel_err", p.estimated_rel_err}});
    }
    nlohmann::ordered_json doc = {
        {"challenge", ctx.args[0]},
        {"algo", algo},
        {"queries", score.queries_used},
        {"tokens", score.tokens_used},
        {"functional_rel_err", score.functional_rel_err},
        {"theta_rel_err", score.theta_rel_err},
        {"omega_rel_err", score.omega_rel_err},
        {"bits", score.bits},
        {"seconds", seconds},
        {"submission_id", result->submission_id},
        {"queries_to_bound", score.queries_to_bound},
        {"tokens_to_bound", score.tokens_to_bound}};
    if (!curve.empty()) doc["curve"] = curve;
    PrintJson(doc);
    return 0;
  }
  std::cout << algo << " on " << ctx.args[0] << " ("
            << absl::StrFormat("%.1f", seconds) << " s), submission "
            << result->submission_id << ":\n";
  PrintScore(score);
  return 0;
}

const Command kCommands[] = {
    {"challenges", "challenges", "List the challenges the server hosts.", 0,
     RunChallenges},
    {"describe", "describe CH",
     "Show a challenge's public architecture, answer precision, budget and "
     "limits.",
     1, RunDescribe},
    {"query", "query CH [--input FILE]",
     "Ask the hidden layer of challenge CH. Input (a file or stdin) is JSON:\n"
     "  {\"sequences\": [[[x11, ..., x1d], [x21, ...]], ...]}\n"
     "one array of tokens (each d_model numbers) per sequence. Output with "
     "--json:\n"
     "  {\"outputs\": [[[y...], ...], ...], \"usage\": {...}}\n"
     "one row per returned position (n rows, or 1 for last-position "
     "readout).",
     1, RunQuery},
    {"usage", "usage CH",
     "Show the queries and tokens you have used and have left on CH.", 1,
     RunUsage},
    {"submit", "submit CH --params FILE",
     "Submit a hypothesis for CH and print its score. FILE is JSON:\n"
     "  {\"heads\": [{\"wq\": M, \"wk\": M, \"wv\": M, \"wo\": M}, ...]}\n"
     "or per head {\"theta\": M, \"omega\": M} (theta = wq wk^T * "
     "score_scale,\nomega = wv wo); M is an array of rows. With biases each "
     "head also has\n\"bq\", \"bk\", \"bv\" and the document \"bo\".",
     1, RunSubmit},
    {"learn", "learn CH [--algo probe|regress]",
     "Run a reference learner against CH through the public API, submit its\n"
     "hypothesis and print the score. Progress goes to stderr. Flags:\n"
     "  --algo NAME        probe (exact, single head) or regress (any spec)\n"
     "  --seed N           seed of the learner's random choices (default 1)\n"
     "  --max_tokens N     tokens the learner may spend (0: its default)\n"
     "  --time_limit S     seconds of optimisation for regress (default 60)\n"
     "  --save FILE        also write the hypothesis as a --params file\n"
     "With --json: {challenge, algo, queries, tokens, functional_rel_err,\n"
     "theta_rel_err, omega_rel_err, bits, seconds, ...}; queries and tokens\n"
     "are what this run spent.",
     1, RunLearn},
};

const Command* FindCommand(const std::string& name) {
  for (const Command& c : kCommands) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

void PrintHelp(const Command* command) {
  if (command != nullptr) {
    std::cout << "Usage: oracle-client [global flags] " << command->synopsis
              << "\n\n"
              << command->help << "\n\n"
              << kGlobalFlags;
    return;
  }
  std::cout << "oracle-client: ask an AttnOracle server's hidden attention "
               "layers.\n\nUsage: oracle-client [global flags] COMMAND "
               "[args]\n\nCommands:\n";
  for (const Command& c : kCommands) {
    std::cout << absl::StrFormat(
        "  %-26s %s\n", c.synopsis,
        std::string(c.help).substr(0, std::string(c.help).find('\n')));
  }
  std::cout << "\n"
            << kGlobalFlags
            << "\n'oracle-client COMMAND --help' describes one command.\n";
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

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage("see oracle-client --help");
  // Help is answered before flag parsing so every subcommand has its own.
  bool help = false;
  const Command* help_command = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (IsHelp(argv[i])) help = true;
    if (help_command == nullptr) help_command = FindCommand(argv[i]);
  }
  if (help || argc == 1) {
    PrintHelp(help_command);
    return argc == 1 ? kExitUsage : 0;
  }
  if (!CheckFlagNames(argc, argv)) return kExitUsage;
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    std::cerr << "oracle-client: missing command (see oracle-client --help)\n";
    return kExitUsage;
  }
  const Command* command = FindCommand(positional[1]);
  if (command == nullptr) {
    std::cerr << "oracle-client: unknown command \"" << positional[1]
              << "\" (see oracle-client --help)\n";
    return kExitUsage;
  }
  Context ctx;
  ctx.args.assign(positional.begin() + 2, positional.end());
  if (ctx.args.size() != command->num_args) {
    std::cerr << "oracle-client: usage: oracle-client " << command->synopsis
              << "\n";
    return kExitUsage;
  }
  const double timeout = absl::GetFlag(FLAGS_timeout);
  if (!(timeout > 0)) {
    std::cerr << "oracle-client: --timeout must be > 0 seconds\n";
    return kExitUsage;
  }
  ClientOptions options;
  options.server = absl::GetFlag(FLAGS_server);
  options.deadline =
      std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000));
  options.token = absl::GetFlag(FLAGS_token);
  if (options.token.empty()) {
    if (const char* env = std::getenv("ATTNORACLE_TOKEN")) options.token = env;
  }
  ctx.json = absl::GetFlag(FLAGS_json);
  ctx.client = OracleClient::Connect(options);
  return command->run(ctx);
}

}  // namespace
}  // namespace attnoracle

int main(int argc, char** argv) { return attnoracle::Main(argc, argv); }
