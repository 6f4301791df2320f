// oracle-bench: how fast the oracle answers over loopback TCP, measured
// against a bare gRPC echo of the same bytes in the same run.
//
//   build/bin/oracle-bench                       # every workload, a table
//   build/bin/oracle-bench --json --seconds 5    # one JSON document
//   build/bin/oracle-bench --workloads small --in_flight 1,64 --ledger sqlite
//   build/bin/oracle-bench --server HOST:PORT    # an oracle-server started
//                                                # with configs/bench.textproto
//   build/bin/oracle-bench --workloads none --soak_seconds 300
//   build/bin/oracle-bench --workloads small --ledger memory --floor
//
// Each measurement alternates short rounds against the oracle and the echo
// service and sums them, so both see the same machine state. Besides rates
// and latencies, each row gives this process's CPU time and context
// switches per query, for the service and for echo (for the service only
// when its server runs in this process): the cost behind the rate.
// Progress goes to stderr.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "attnoracle/bench/echo.grpc.pb.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "bench/answer_fields.h"
#include "bench/bench_challenges.h"
#include "bench/echo_service.h"
#include "bench/floor_service.h"
#include "bench/gemm_peak.h"
#include "bench/load_driver.h"
#include "common/challenge_config.h"
#include "common/codec.h"
#include "common/prior.h"
#include "common/rng.h"
#include "nlohmann/json.hpp"
#include "server/core/sqlite_store.h"
#include "server/service/oracle_server.h"
#include "server/serving_process.h"

ABSL_FLAG(double, seconds, 2,
          "Seconds of load per measurement and per side (the oracle and the "
          "echo baseline each get this long, in alternating rounds).");
ABSL_FLAG(double, round_seconds, 0.5,
          "Length of one round; a measurement alternates oracle and echo "
          "rounds of this length.");
ABSL_FLAG(std::string, workloads, "small,batched,streaming,large,learner",
          "Comma-separated workloads to run: small (d=16, 8 tokens, 1 "
          "sequence per unary request), batched (64 sequences per request), "
          "streaming (small over QueryStream), large (d=256, 256 tokens, 4 "
          "heads), large_grouped (large with 2 kv heads), large_ffn (large "
          "and a ReLU block of width 1024), large_stack (2 residual layers "
          "of large), learner (the learners' requests: learner-regress-d16 and "
          "-d64, 220 sequences of 9 tokens; learner-probe-d16 and -d64, d "
          "one-token sequences and one of 2d + 1 tokens; each also by its "
          "own name), or none.");
ABSL_FLAG(std::string, in_flight, "1,64",
          "Comma-separated numbers of requests kept in flight.");
ABSL_FLAG(std::string, ledger, "memory,sqlite",
          "Comma-separated ledgers for the in-process server: memory (no "
          "database: a MemoryStore) and/or sqlite (a durable temporary "
          "file).");
ABSL_FLAG(std::string, server, "",
          "Measure this oracle-server (HOST:PORT, started with "
          "--config configs/bench.textproto) instead of an in-process one.");
ABSL_FLAG(std::string, token, "",
          "Learner token for --server in competition mode.");
ABSL_FLAG(int, streams, 4,
          "Streaming workload: the in-flight requests are spread over this "
          "many QueryStreams (fewer when fewer are in flight).");
ABSL_FLAG(int, forward_threads, 0,
          "The in-process server's --forward_threads: threads one large "
          "forward pass may use (1: each on its query's thread alone, as "
          "before the helper pool; 0: one per core).");
ABSL_FLAG(double, gemm_seconds, 1,
          "Seconds spent measuring the one-thread Eigen GEMM peak.");
ABSL_FLAG(double, soak_seconds, 0,
          "If > 0: after the measurements, run the small workload at 64 in "
          "flight for this long against a durable-ledger server and report "
          "the process RSS (client and server) after warm-up and at the end.");
ABSL_FLAG(bool, json, false, "Print one JSON document instead of a table.");
ABSL_FLAG(bool, floor, false,
          "Also measure the small workload's required-work floor: an "
          "in-process service doing only what every answer needs, in five "
          "steps (shape the messages, + the forward pass, + the transcript "
          "digests, + keeping the transcript bytes in memory, or instead "
          "on disk, synced in group commits; bench/floor_service.h), each "
          "against the echo baseline like the oracle, at every --in_flight. "
          "Needs small in --workloads.");

namespace attnoracle {
namespace {

constexpr int kMaxMessageBytes = 256 << 20;
constexpr uint64_t kInputSeed = 20240606;
constexpr double kWarmupSeconds = 0.1;
// Soak: warm-up before the first RSS reading, and how often RSS is sampled.
constexpr double kSoakWarmupFraction = 0.1;
constexpr int kSoakSamples = 10;
constexpr int kSoakInFlight = 64;

struct Workload {
  std::string name;
  std::string challenge_id;
  int d_model;
  int heads;
  int tokens;     // per sequence
  int sequences;  // per request
  bool streaming;
  // The layer classes of the large workloads (LayerSpec's fields).
  int kv_heads = 0;    // 0: one per head
  int layers = 1;      // attention layers
  int ffn_hidden = 0;  // width of the ReLU block; 0: none
  // When > 0, the last sequence of each request has this many tokens
  // instead (the probe's 2d + 1 token query after d one-token ones).
  int last_tokens = 0;
};

// Selected together by --workloads=learner.
constexpr char kLearnerPrefix[] = "learner-";
constexpr int kRegressSequences = 220;
constexpr int kRegressTokens = 9;

const std::vector<Workload>& AllWorkloads() {
  static const auto* kAll = new std::vector<Workload>{
      {"small", "bench-d16", 16, 1, 8, 1, false},
      {"batched", "bench-d16", 16, 1, 8, 64, false},
      {"streaming", "bench-d16", 16, 1, 8, 1, true},
      {"large", "bench-d256-h4", 256, 4, 256, 1, false},
      {"large_grouped", "bench-d256-h4-kv2", 256, 4, 256, 1, false, 2},
      {"large_ffn", "bench-d256-h4-ffn", 256, 4, 256, 1, false, 0, 1, 1024},
      {"large_stack", "bench-d256-h4-l2", 256, 4, 256, 1, false, 0, 2},
      {"learner-regress-d16", "bench-d16", 16, 1, kRegressTokens,
       kRegressSequences, false},
      {"learner-regress-d64", "bench-d64", 64, 1, kRegressTokens,
       kRegressSequences, false},
      {"learner-probe-d16", "bench-d16", 16, 1, 1, 16 + 1, false, 0, 1, 0,
       2 * 16 + 1},
      {"learner-probe-d64", "bench-d64", 64, 1, 1, 64 + 1, false, 0, 1, 0,
       2 * 64 + 1},
  };
  return *kAll;
}

// Multiply-adds count 2 FLOPs. Per head: the Q projection, scores, the
// weighted sum of values and the output projection; per kv head (one per
// head unless grouped): the K and V projections (head_dim = value_dim =
// d / heads, out_dim = d, all positions read out); times the layers; plus
// the FFN block's two products.
double FlopsPerSequence(const Workload& w) {
  const double n = w.tokens, d = w.d_model, hd = d / w.heads;
  const double kv_heads = w.kv_heads > 0 ? w.kv_heads : w.heads;
  const double per_head = 2 * n * d * hd + 2 * n * n * hd * 2 + 2 * n * hd * d;
  const double per_kv_head = 2 * n * d * hd * 2;
  const double ffn = 2 * n * d * w.ffn_hidden * 2;
  return (per_head * w.heads + per_kv_head * kv_heads) * w.layers + ffn;
}

int TokensOf(const Workload& w, int sequence) {
  return w.last_tokens > 0 && sequence == w.sequences - 1 ? w.last_tokens
                                                          : w.tokens;
}

double TokensPerRequest(const Workload& w) {
  double tokens = 0;
  for (int s = 0; s < w.sequences; ++s) tokens += TokensOf(w, s);
  return tokens;
}

v1::QueryRequest BuildRequest(const Workload& w) {
  v1::QueryRequest request;
  request.set_challenge_id(w.challenge_id);
  Rng rng(DeriveSeed(kInputSeed, RngStream::kLearner, 0));
  for (int s = 0; s < w.sequences; ++s) {
    MatrixMap x =
        MutableMatrixProto(TokensOf(w, s), w.d_model, request.add_sequences());
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      x.data()[i] = rng.NextGaussian();
    }
  }
  return request;
}

// What the oracle answers for `w`, byte for byte in size: one tokens x d
// matrix per sequence, the usage, indices and a chain head.
v1::QueryResponse BuildEchoResponse(const Workload& w) {
  v1::QueryResponse response;
  Rng rng(DeriveSeed(kInputSeed, RngStream::kLearner, 1));
  for (int s = 0; s < w.sequences; ++s) {
    MatrixMap y =
        MutableMatrixProto(TokensOf(w, s), w.d_model, response.add_outputs());
    for (Eigen::Index i = 0; i < y.size(); ++i) {
      y.data()[i] = rng.NextGaussian();
    }
  }
  SetAnswerFields(&response);
  return response;
}

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

long ResidentKilobytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// A temporary file (a SQLite database, the floor's durable file), removed
// on destruction with the WAL files a database may have beside it.
class TempFile {
 public:
  TempFile() {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(dir != nullptr ? dir : "/tmp", "/oracle-bench-XXXXXX");
    const int fd = mkstemp(pattern.data());
    if (fd >= 0) close(fd);
    path_ = pattern;
  }
  ~TempFile() {
    for (const std::string& file : SqliteStore::FilesOf(path_)) {
      std::remove(file.c_str());
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The bench's challenge set, written where the server can load it.
class TempConfig {
 public:
  TempConfig() {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(dir != nullptr ? dir : "/tmp",
                                       "/oracle-bench-config-XXXXXX");
    const int fd = mkstemp(pattern.data());
    if (fd >= 0) {
      const absl::string_view text = BenchChallengeSetText();
      ssize_t written = write(fd, text.data(), text.size());
      (void)written;
      close(fd);
    }
    path_ = pattern;
  }
  ~TempConfig() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One of the bench's own services (the echo baseline, the floor) alone in
// a gRPC server on loopback. `service` must outlive it.
class LoopbackServer {
 public:
  explicit LoopbackServer(grpc::Service* service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
  }
  ~LoopbackServer() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  bool ok() const { return server_ != nullptr && port_ != 0; }

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// The floor serves the layer of the small workload's challenge, drawn from
// its prior as the oracle draws its secret, and writes its durable step's
// log at `durable_path`; an error when that log cannot be prepared.
absl::StatusOr<std::unique_ptr<FloorServiceImpl>> NewFloorService(
    const Workload& w, const std::string& durable_path) {
  absl::StatusOr<std::vector<ChallengeConfig>> challenges =
      ParseChallengeSet(BenchChallengeSetText(), "bench challenges");
  if (!challenges.ok()) return challenges.status();
  for (const ChallengeConfig& c : *challenges) {
    if (c.id == w.challenge_id) {
      auto floor = std::make_unique<FloorServiceImpl>(
          c.spec, DrawSecret(c.spec, c.prior), durable_path);
      if (absl::Status s = floor->durable_status(); !s.ok()) return s;
      return floor;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("no challenge \"", w.challenge_id, "\" for the floor"));
}

struct Row {
  std::string workload;
  std::string ledger;
  std::string floor_step;  // set for the floor's rows only
  int in_flight = 0;
  double qps = 0, tokens_per_s = 0;
  uint32_t p50_us = 0, p99_us = 0;
  double echo_qps = 0;
  uint32_t echo_p99_us = 0;
  double gflops = -1, ratio_to_gemm_peak = -1;
  // Process CPU time and context switches per query (sequence), client and
  // server together, of the service measured and of echo; -1 for a
  // --server oracle, whose server runs in another process.
  double cpu_us = 0, echo_cpu_us = 0;
  double switches = 0, echo_switches = 0;
  uint64_t failures = 0;
  std::string first_error;

  double ratio_to_echo() const { return echo_qps > 0 ? qps / echo_qps : 0.0; }
};

LoadResult RunOne(const Workload& w, const QueryMethods& methods,
                  const v1::QueryRequest& request, const LoadOptions& options) {
  return w.streaming ? RunStream(methods, request, options)
                     : RunUnary(methods, request, options);
}

// `oracle` is the service measured; `challenge_id`, when not empty,
// replaces the workload's in its requests (the floor's step).
Row Measure(const Workload& w, const std::string& ledger, int in_flight,
            const QueryMethods& oracle, const QueryMethods& echo,
            const std::vector<std::pair<std::string, std::string>>& metadata,
            double gemm_peak_gflops, const std::string& challenge_id = "") {
  v1::QueryRequest request = BuildRequest(w);
  if (!challenge_id.empty()) request.set_challenge_id(challenge_id);
  // The echo service finds its prebuilt answer by this id.
  v1::QueryRequest echo_request = request;
  echo_request.set_challenge_id(w.challenge_id + "/" + w.name);

  LoadOptions options;
  options.in_flight = in_flight;
  options.streams = absl::GetFlag(FLAGS_streams);
  options.metadata = metadata;
  options.duration = absl::Seconds(kWarmupSeconds);
  RunOne(w, oracle, request, options);
  RunOne(w, echo, echo_request, options);

  const double seconds = absl::GetFlag(FLAGS_seconds);
  const double round = std::min(seconds, absl::GetFlag(FLAGS_round_seconds));
  const int rounds = std::max(1, static_cast<int>(seconds / round + 0.5));
  options.duration = absl::Seconds(seconds / rounds);
  LoadResult mine, base;
  for (int r = 0; r < rounds; ++r) {
    mine.Merge(RunOne(w, oracle, request, options));
    base.Merge(RunOne(w, echo, echo_request, options));
  }
  Row row;
  row.workload = w.name;
  row.ledger = ledger;
  row.in_flight = in_flight;
  const double sequences = w.sequences;
  row.qps = mine.seconds > 0 ? mine.requests * sequences / mine.seconds : 0;
  row.tokens_per_s = row.qps * TokensPerRequest(w) / sequences;
  row.p50_us = Percentile(mine.latencies_us, 0.5);
  row.p99_us = Percentile(mine.latencies_us, 0.99);
  row.echo_qps =
      base.seconds > 0 ? base.requests * sequences / base.seconds : 0;
  row.echo_p99_us = Percentile(base.latencies_us, 0.99);
  auto per_query = [&](double total, const LoadResult& r) {
    return r.requests > 0 ? total / (r.requests * sequences) : 0.0;
  };
  row.cpu_us = per_query(1e6 * mine.cpu_seconds, mine);
  row.echo_cpu_us = per_query(1e6 * base.cpu_seconds, base);
  row.switches = per_query(mine.context_switches, mine);
  row.echo_switches = per_query(base.context_switches, base);
  if (absl::StartsWith(w.name, "large")) {
    row.gflops = row.qps * FlopsPerSequence(w) / 1e9;
    row.ratio_to_gemm_peak = row.gflops / gemm_peak_gflops;
  }
  row.failures = mine.failures + base.failures;
  row.first_error = mine.failures > 0 ? mine.first_error : base.first_error;
  if (row.failures > 0) {
    std::cerr << "oracle-bench: " << row.failures
              << " failures, first: " << row.first_error << "\n";
  }
  return row;
}

nlohmann::json RowJson(const Row& r) {
  nlohmann::json j = {{"name", r.workload},
                      {"ledger", r.ledger},
                      {"in_flight", r.in_flight},
                      {"qps", r.qps},
                      {"tokens_per_s", r.tokens_per_s},
                      {"p50_us", r.p50_us},
                      {"p99_us", r.p99_us},
                      {"echo_qps", r.echo_qps},
                      {"echo_p99_us", r.echo_p99_us},
                      {"ratio_to_echo", r.ratio_to_echo()},
                      {"echo_cpu_us_per_query", r.echo_cpu_us},
                      {"echo_switches_per_query", r.echo_switches}};
  if (r.cpu_us >= 0) {
    j["cpu_us_per_query"] = r.cpu_us;
    j["switches_per_query"] = r.switches;
  }
  if (!r.floor_step.empty()) {
    j.erase("ledger");
    j["step"] = r.floor_step;
  }
  if (r.gflops >= 0) {
    j["gflops"] = r.gflops;
    j["ratio_to_gemm_peak"] = r.ratio_to_gemm_peak;
  }
  if (r.failures > 0) {
    j["failures"] = r.failures;
    j["first_error"] = r.first_error;
  }
  return j;
}

void PrintFloorTable(const std::vector<Row>& rows) {
  std::cout << "\nrequired-work floor of the small workload "
               "(bench/floor_service.h):\n";
  std::cout << absl::StrFormat("%-8s %6s %11s %8s %8s %11s %9s %7s %7s %8s\n",
                               "STEP", "FLIGHT", "QUERIES/S", "P50_US",
                               "P99_US", "ECHO_Q/S", "ECHO_P99", "X_ECHO",
                               "CPU_US", "ECHO_CPU");
  for (const Row& r : rows) {
    std::cout << absl::StrFormat(
        "%-8s %6d %11.0f %8u %8u %11.0f %9u %7.2f %7.1f %8.1f", r.floor_step,
        r.in_flight, r.qps, r.p50_us, r.p99_us, r.echo_qps, r.echo_p99_us,
        r.ratio_to_echo(), r.cpu_us, r.echo_cpu_us);
    if (r.failures > 0) {
      std::cout << "  (" << r.failures << " failures: " << r.first_error << ")";
    }
    std::cout << "\n";
  }
}

void PrintTable(const std::vector<Row>& rows, double gemm_peak_gflops) {
  std::cout << absl::StrFormat("one-thread GEMM peak: %.1f GFLOP/s\n",
                               gemm_peak_gflops);
  std::cout << "malloc: " << MallocLibrary() << "\n\n";
  std::cout << absl::StrFormat(
      "%-19s %-7s %6s %11s %12s %8s %8s %11s %9s %7s %7s %8s %7s %6s\n",
      "WORKLOAD", "LEDGER", "FLIGHT", "QUERIES/S", "TOKENS/S", "P50_US",
      "P99_US", "ECHO_Q/S", "ECHO_P99", "X_ECHO", "CPU_US", "ECHO_CPU",
      "GFLOP/S", "X_GEMM");
  for (const Row& r : rows) {
    std::cout << absl::StrFormat(
        "%-19s %-7s %6d %11.0f %12.0f %8u %8u %11.0f %9u %7.2f %7s %8.1f",
        r.workload, r.ledger, r.in_flight, r.qps, r.tokens_per_s, r.p50_us,
        r.p99_us, r.echo_qps, r.echo_p99_us, r.ratio_to_echo(),
        r.cpu_us >= 0 ? absl::StrFormat("%.1f", r.cpu_us) : "-", r.echo_cpu_us);
    if (r.gflops >= 0) {
      std::cout << absl::StrFormat(" %7.1f %6.2f", r.gflops,
                                   r.ratio_to_gemm_peak);
    }
    if (r.failures > 0) {
      std::cout << "  (" << r.failures << " failures: " << r.first_error << ")";
    }
    std::cout << "\n";
  }
}

// The oracle being measured: in process (per ledger) or the --server one.
struct OracleTarget {
  std::unique_ptr<TempFile> database;
  std::unique_ptr<OracleServer> server;
  std::string address;
};

absl::StatusOr<OracleTarget> StartOracle(const std::string& ledger,
                                         const TempConfig& config) {
  OracleTarget target;
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.config_path = config.path();
  options.max_receive_message_bytes = kMaxMessageBytes;
  options.forward_threads = absl::GetFlag(FLAGS_forward_threads);
  if (ledger == "sqlite") {
    target.database = std::make_unique<TempFile>();
    options.db_path = target.database->path();
  }
  absl::StatusOr<std::unique_ptr<OracleServer>> server =
      OracleServer::BuildAndStart(options);
  if (!server.ok()) return server.status();
  target.server = std::move(*server);
  target.address = absl::StrCat("127.0.0.1:", target.server->port());
  return target;
}

nlohmann::json Soak(
    const std::string& address, const QueryMethods& oracle,
    const std::vector<std::pair<std::string, std::string>>& metadata) {
  const double seconds = absl::GetFlag(FLAGS_soak_seconds);
  const Workload& w = AllWorkloads()[0];
  const v1::QueryRequest request = BuildRequest(w);
  LoadOptions options;
  options.in_flight = kSoakInFlight;
  options.metadata = metadata;
  options.duration = absl::Seconds(seconds * kSoakWarmupFraction);
  std::cerr << "oracle-bench: soak warm-up against " << address << "\n";
  RunUnary(oracle, request, options);
  const long rss_start = ResidentKilobytes();
  nlohmann::json samples = nlohmann::json::array();
  LoadResult total;
  options.duration = absl::Seconds(seconds / kSoakSamples);
  for (int i = 0; i < kSoakSamples; ++i) {
    LoadResult part = RunUnary(oracle, request, options);
    part.latencies_us.clear();
    total.Merge(part);
    samples.push_back(ResidentKilobytes());
    std::cerr << absl::StrFormat(
        "oracle-bench: soak %d/%d: %.0f queries/s, RSS %ld kB\n", i + 1,
        kSoakSamples, part.requests / part.seconds, samples.back().get<long>());
  }
  const long rss_end = ResidentKilobytes();
  return {{"workload", w.name},
          {"in_flight", kSoakInFlight},
          {"seconds", total.seconds},
          {"queries", total.requests},
          {"qps", total.requests / total.seconds},
          {"failures", total.failures},
          {"rss_start_kb", rss_start},
          {"rss_end_kb", rss_end},
          {"rss_growth", static_cast<double>(rss_end - rss_start) /
                             static_cast<double>(rss_start)},
          {"rss_samples_kb", samples}};
}

int Main() {
  const bool json = absl::GetFlag(FLAGS_json);
  std::vector<const Workload*> workloads;
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',', absl::SkipEmpty())) {
    if (name == "none") continue;
    if (name == "learner") {
      for (const Workload& w : AllWorkloads()) {
        if (absl::StartsWith(w.name, kLearnerPrefix)) workloads.push_back(&w);
      }
      continue;
    }
    auto it = std::find_if(AllWorkloads().begin(), AllWorkloads().end(),
                           [&](const Workload& w) { return w.name == name; });
    if (it == AllWorkloads().end()) {
      std::cerr << "oracle-bench: unknown workload \"" << name << "\"\n";
      return 2;
    }
    workloads.push_back(&*it);
  }
  std::vector<int> in_flights;
  for (absl::string_view n :
       absl::StrSplit(absl::GetFlag(FLAGS_in_flight), ',', absl::SkipEmpty())) {
    int value = 0;
    if (!absl::SimpleAtoi(n, &value) || value < 1) {
      std::cerr << "oracle-bench: --in_flight takes positive integers\n";
      return 2;
    }
    in_flights.push_back(value);
  }
  std::vector<std::string> ledgers;
  for (absl::string_view l :
       absl::StrSplit(absl::GetFlag(FLAGS_ledger), ',', absl::SkipEmpty())) {
    if (l != "memory" && l != "sqlite") {
      std::cerr << "oracle-bench: --ledger takes memory and/or sqlite\n";
      return 2;
    }
    ledgers.emplace_back(l);
  }
  // The workload --floor measures, when asked for.
  const Workload* floor_workload = nullptr;
  if (absl::GetFlag(FLAGS_floor)) {
    auto small =
        std::find_if(workloads.begin(), workloads.end(),
                     [](const Workload* w) { return w->name == "small"; });
    if (small == workloads.end()) {
      std::cerr << "oracle-bench: --floor measures the small workload; add "
                   "small to --workloads\n";
      return 2;
    }
    floor_workload = *small;
  }
  const std::string external = absl::GetFlag(FLAGS_server);
  if (!external.empty()) ledgers = {"server"};
  std::vector<std::pair<std::string, std::string>> metadata;
  if (!absl::GetFlag(FLAGS_token).empty()) {
    metadata.emplace_back("authorization",
                          "Bearer " + absl::GetFlag(FLAGS_token));
  }

  std::cerr << "oracle-bench: measuring the one-thread GEMM peak\n";
  const double gemm_peak =
      MeasureGemmPeakGflops(absl::Seconds(absl::GetFlag(FLAGS_gemm_seconds)));
  EchoServiceImpl echo_service;
  for (const Workload& w : AllWorkloads()) {
    echo_service.SetResponse(w.challenge_id + "/" + w.name,
                             BuildEchoResponse(w));
  }
  LoopbackServer echo_server(&echo_service);
  if (!echo_server.ok()) {
    std::cerr << "oracle-bench: the echo server did not start\n";
    return 1;
  }
  auto echo_stub = bench::Echo::NewStub(ChannelTo(echo_server.address()));
  const QueryMethods echo = QueryMethodsOf(echo_stub.get());
  TempConfig config;

  std::vector<Row> rows;
  nlohmann::json soak;
  for (const std::string& ledger : ledgers) {
    OracleTarget target;
    if (external.empty()) {
      absl::StatusOr<OracleTarget> started = StartOracle(ledger, config);
      if (!started.ok()) {
        std::cerr << "oracle-bench: " << started.status() << "\n";
        return 1;
      }
      target = std::move(*started);
    } else {
      target.address = external;
    }
    auto oracle_stub = v1::Oracle::NewStub(ChannelTo(target.address));
    const QueryMethods oracle = QueryMethodsOf(oracle_stub.get());
    for (const Workload* w : workloads) {
      for (int in_flight : in_flights) {
        std::cerr << "oracle-bench: " << w->name << ", " << ledger
                  << " ledger, " << in_flight << " in flight\n";
        Row row =
            Measure(*w, ledger, in_flight, oracle, echo, metadata, gemm_peak);
        if (!external.empty()) row.cpu_us = row.switches = -1;
        rows.push_back(std::move(row));
      }
    }
  }
  std::vector<Row> floor_rows;
  if (floor_workload != nullptr) {
    TempFile durable_file;  // outlives the floor, which writes it
    absl::StatusOr<std::unique_ptr<FloorServiceImpl>> floor =
        NewFloorService(*floor_workload, durable_file.path());
    if (!floor.ok()) {
      std::cerr << "oracle-bench: " << floor.status() << "\n";
      return 1;
    }
    LoopbackServer floor_server(floor->get());
    if (!floor_server.ok()) {
      std::cerr << "oracle-bench: the floor server did not start\n";
      return 1;
    }
    auto floor_stub = bench::Echo::NewStub(ChannelTo(floor_server.address()));
    const QueryMethods floor_methods = QueryMethodsOf(floor_stub.get());
    for (int in_flight : in_flights) {
      for (const std::string& step : FloorServiceImpl::Steps()) {
        std::cerr << "oracle-bench: floor " << step << ", " << in_flight
                  << " in flight\n";
        // Free pages the in-process oracles and earlier steps left go back
        // to the system, so that "kept" faults in fresh pages as a growing
        // in-memory ledger does, not pages the heap already holds.
        ReleaseFreeHeapMemory();
        Row row = Measure(*floor_workload, "floor", in_flight, floor_methods,
                          echo, {}, gemm_peak, step);
        row.floor_step = step;
        (*floor)->Forget();
        floor_rows.push_back(std::move(row));
      }
    }
  }
  if (absl::GetFlag(FLAGS_soak_seconds) > 0) {
    OracleTarget target;
    if (external.empty()) {
      absl::StatusOr<OracleTarget> started = StartOracle("sqlite", config);
      if (!started.ok()) {
        std::cerr << "oracle-bench: " << started.status() << "\n";
        return 1;
      }
      target = std::move(*started);
    } else {
      target.address = external;
    }
    auto oracle_stub = v1::Oracle::NewStub(ChannelTo(target.address));
    soak = Soak(target.address, QueryMethodsOf(oracle_stub.get()), metadata);
    soak["ledger"] = external.empty() ? "sqlite" : "server";
    soak["rss_of"] = external.empty() ? "bench process (client and server)"
                                      : "bench client only";
  }

  bool failed = false;
  for (const Row& r : rows) failed = failed || r.failures > 0;
  for (const Row& r : floor_rows) failed = failed || r.failures > 0;
  if (json) {
    nlohmann::json doc;
    doc["gemm_peak_gflops"] = gemm_peak;
    doc["malloc"] = MallocLibrary();
    doc["workloads"] = nlohmann::json::array();
    for (const Row& r : rows) doc["workloads"].push_back(RowJson(r));
    if (!floor_rows.empty()) {
      doc["floor"] = nlohmann::json::array();
      for (const Row& r : floor_rows) doc["floor"].push_back(RowJson(r));
    }
    if (!soak.is_null()) doc["soak"] = soak;
    std::cout << doc.dump(2) << std::endl;
  } else {
    PrintTable(rows, gemm_peak);
    if (!floor_rows.empty()) PrintFloorTable(floor_rows);
    if (!soak.is_null()) std::cout << "\nsoak: " << soak.dump() << "\n";
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace attnoracle

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Measures the oracle's throughput and latency over loopback against a "
      "bare gRPC echo baseline.\nUsage: oracle-bench [--json] [--seconds S] "
      "[--workloads LIST] [--in_flight LIST] [--ledger LIST] [--server "
      "HOST:PORT]");
  absl::ParseCommandLine(argc, argv);
  attnoracle::TuneProcessForServing();  // as oracle-server does
  return attnoracle::Main();
}
