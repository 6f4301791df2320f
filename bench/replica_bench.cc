// replica-bench: how answered queries/s and the CPU cost per answer change
// with 1, 2 and 3 oracle-server replicas on one PostgreSQL database, beside
// one server on a SQLite file and a bare gRPC echo, all in one run.
//
//   build/bin/replica-bench                          # replicas 1,2,3
//   build/bin/replica-bench --replicas 1 --learners 1 --in_flight 64
//   build/bin/replica-bench --server_bin OTHER/oracle-server --json
//
// It starts a throwaway PostgreSQL cluster with fsync on (tests/
// postgres_cluster.h), then for each setup real oracle-server processes on
// loopback (open mode with --open_learner_ids, configs/bench.textproto, a
// fresh database each), and drives them with oracle-bench's load driver:
// the small workload over unary calls, each call as the next of --learners
// learner names, round-robin over the replicas (one channel, gRPC's
// round_robin policy). Oracle and echo rounds alternate as in oracle-bench.
// Per setup and in-flight count it prints the answered queries/s, their
// ratio to echo's, and the CPU seconds per 1000 answers of the server
// processes and of PostgreSQL (the postmaster and all its children, from
// /proc/PID/stat, read before and after each oracle round), and answers per
// WAL flush (pg_stat_wal). Progress goes to stderr.
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "attnoracle/bench/echo.grpc.pb.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "bench/answer_fields.h"
#include "bench/bench_challenges.h"
#include "bench/echo_service.h"
#include "bench/load_driver.h"
#include "common/codec.h"
#include "common/rng.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/server_process.h"
#include "tests/postgres_cluster.h"

ABSL_FLAG(std::string, server_bin, "",
          "The oracle-server to run (default: the one beside this binary).");
ABSL_FLAG(std::string, replicas, "1,2,3",
          "Comma-separated numbers of replicas to measure on PostgreSQL.");
ABSL_FLAG(std::string, in_flight, "1,64",
          "Comma-separated numbers of requests kept in flight.");
ABSL_FLAG(int, learners, 64,
          "Learner names the calls rotate through (each its own budget, "
          "usage row and chain).");
ABSL_FLAG(double, seconds, 2,
          "Seconds of load per measurement and per side (oracle and echo, "
          "in alternating rounds).");
ABSL_FLAG(double, round_seconds, 0.5, "Length of one round.");
ABSL_FLAG(bool, sqlite, true,
          "Also measure one server on a SQLite file, as the durable "
          "single-server reference.");
ABSL_FLAG(bool, json, false, "Print one JSON document instead of a table.");

namespace attnoracle {
namespace {

using test::PostgresCluster;
using test::ServerProcess;
using test::ServerProcessOptions;

constexpr int kMaxMessageBytes = 64 << 20;
constexpr uint64_t kInputSeed = 20240606;  // oracle-bench's
constexpr char kChallenge[] = "bench-d16";
constexpr int kTokens = 8;
constexpr int kDModel = 16;
constexpr char kEchoKey[] = "bench-d16/small";
constexpr char kLearnerMetadata[] = "x-attnoracle-learner";
constexpr double kWarmupSeconds = 0.3;
// PostgreSQL backends publish their WAL counters at most once a second and
// within about a second of going idle.
constexpr auto kStatsSettle = std::chrono::milliseconds(1500);

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "replica-bench: " << message << std::endl;
  std::exit(1);
}

std::vector<int> ParseCounts(const std::string& flag, const char* name) {
  std::vector<int> out;
  for (absl::string_view n : absl::StrSplit(flag, ',', absl::SkipEmpty())) {
    int value = 0;
    if (!absl::SimpleAtoi(n, &value) || value < 1) {
      Die(absl::StrCat("--", name, " takes positive integers, not \"", n,
                       "\""));
    }
    out.push_back(value);
  }
  return out;
}

// oracle-bench's small workload: one 8 x 16 sequence per request.
v1::QueryRequest SmallRequest() {
  v1::QueryRequest request;
  request.set_challenge_id(kChallenge);
  Rng rng(DeriveSeed(kInputSeed, RngStream::kLearner, 0));
  MatrixMap x = MutableMatrixProto(kTokens, kDModel, request.add_sequences());
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.NextGaussian();
  return request;
}

v1::QueryResponse SmallEchoResponse() {
  v1::QueryResponse response;
  Rng rng(DeriveSeed(kInputSeed, RngStream::kLearner, 1));
  MatrixMap y = MutableMatrixProto(kTokens, kDModel, response.add_outputs());
  for (Eigen::Index i = 0; i < y.size(); ++i) y.data()[i] = rng.NextGaussian();
  SetAnswerFields(&response);
  return response;
}

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// Fields 14-17 of /proc/PID/stat (utime, stime, cutime, cstime) and field 4
// (ppid); false when the process is gone.
struct ProcStat {
  int ppid = 0;
  double own_seconds = 0;       // utime + stime
  double children_seconds = 0;  // cutime + cstime: reaped children
};

bool ReadProcStat(int pid, ProcStat* out) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;  // f[0] is field 3
  std::string field;
  while (f.size() < 15 && (fields >> field)) f.push_back(field);
  if (f.size() < 15) return false;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  out->ppid = std::atoi(f[1].c_str());
  out->own_seconds = (std::stod(f[11]) + std::stod(f[12])) / tick;
  out->children_seconds = (std::stod(f[13]) + std::stod(f[14])) / tick;
  return true;
}

// CPU seconds of the postmaster and every process whose parent it is,
// plus what its children that already exited spent (cutime + cstime).
double PostgresCpuSeconds(int postmaster) {
  double total = 0;
  ProcStat root;
  if (ReadProcStat(postmaster, &root)) {
    total += root.own_seconds + root.children_seconds;
  }
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    ProcStat s;
    if (ReadProcStat(pid, &s) && s.ppid == postmaster) total += s.own_seconds;
  }
  return total;
}

double ServersCpuSeconds(
    const std::vector<std::unique_ptr<ServerProcess>>& servers) {
  double total = 0;
  for (const auto& server : servers) {
    ProcStat s;
    if (ReadProcStat(server->pid(), &s)) total += s.own_seconds;
  }
  return total;
}

// WAL flushes (pg_stat_wal.wal_sync) of the cluster so far, -1 unknown.
int64_t WalSyncs(const std::string& admin_uri) {
  PGconn* conn = PQconnectdb(admin_uri.c_str());
  PGresult* r = PQexec(conn, "SELECT wal_sync FROM pg_stat_wal");
  int64_t out = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
    out = std::atoll(PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  PQfinish(conn);
  return out;
}

struct Row {
  std::string store;  // postgres or sqlite
  int replicas = 1;
  int in_flight = 1;
  uint64_t answers = 0;
  uint64_t failures = 0;
  std::string first_error;
  double qps = 0, echo_qps = 0;
  uint32_t p50_us = 0, p99_us = 0;
  double server_cpu_s = 0, pg_cpu_s = 0;
  int64_t wal_syncs = -1;

  double ratio_to_echo() const { return echo_qps > 0 ? qps / echo_qps : 0; }
  double per_1000(double seconds) const {
    return answers > 0 ? 1000 * seconds / static_cast<double>(answers) : 0;
  }
  double answers_per_sync() const {
    return wal_syncs > 0 ? static_cast<double>(answers) / wal_syncs : 0;
  }
};

// The servers of one setup, their channel, and the cluster's postmaster
// (-1 for SQLite).
struct Setup {
  std::string store;
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::unique_ptr<v1::Oracle::Stub> stub;
  int postmaster = -1;
  std::string admin_uri;
};

Row Measure(Setup& setup, int in_flight, const QueryMethods& echo) {
  const QueryMethods oracle = QueryMethodsOf(setup.stub.get());
  const v1::QueryRequest request = SmallRequest();
  v1::QueryRequest echo_request = request;
  echo_request.set_challenge_id(kEchoKey);
  LoadOptions options;
  options.in_flight = in_flight;
  options.rotating_key = kLearnerMetadata;
  for (int i = 0; i < absl::GetFlag(FLAGS_learners); ++i) {
    options.rotating_values.push_back(absl::StrCat("bench-", i));
  }
  options.duration = absl::Seconds(kWarmupSeconds);
  RunUnary(oracle, request, options);
  RunUnary(echo, echo_request, options);

  const bool postgres = setup.postmaster > 0;
  int64_t syncs_before = -1;
  if (postgres) {
    std::this_thread::sleep_for(kStatsSettle);
    syncs_before = WalSyncs(setup.admin_uri);
  }
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const double round = std::min(seconds, absl::GetFlag(FLAGS_round_seconds));
  const int rounds = std::max(1, static_cast<int>(seconds / round + 0.5));
  options.duration = absl::Seconds(seconds / rounds);
  LoadResult mine, base;
  Row row;
  for (int r = 0; r < rounds; ++r) {
    const double server_before = ServersCpuSeconds(setup.servers);
    const double pg_before =
        postgres ? PostgresCpuSeconds(setup.postmaster) : 0;
    mine.Merge(RunUnary(oracle, request, options));
    row.server_cpu_s += ServersCpuSeconds(setup.servers) - server_before;
    if (postgres) {
      row.pg_cpu_s += PostgresCpuSeconds(setup.postmaster) - pg_before;
    }
    base.Merge(RunUnary(echo, echo_request, options));
  }
  if (postgres) {
    std::this_thread::sleep_for(kStatsSettle);
    const int64_t after = WalSyncs(setup.admin_uri);
    if (syncs_before >= 0 && after >= syncs_before) {
      row.wal_syncs = after - syncs_before;
    }
  }
  row.store = setup.store;
  row.replicas = static_cast<int>(setup.servers.size());
  row.in_flight = in_flight;
  row.answers = mine.requests;
  row.failures = mine.failures + base.failures;
  row.first_error = mine.failures > 0 ? mine.first_error : base.first_error;
  row.qps = mine.seconds > 0 ? mine.requests / mine.seconds : 0;
  row.echo_qps = base.seconds > 0 ? base.requests / base.seconds : 0;
  row.p50_us = Percentile(mine.latencies_us, 0.5);
  row.p99_us = Percentile(mine.latencies_us, 0.99);
  if (row.failures > 0) {
    std::cerr << "replica-bench: " << row.failures
              << " failures, first: " << row.first_error << "\n";
  }
  return row;
}

// Starts `replicas` servers on `db`; each writes its log into `dir`.
Setup StartSetup(const std::string& store, int replicas, const std::string& db,
                 const std::string& dir, const std::string& config) {
  Setup setup;
  setup.store = store;
  std::vector<std::string> addresses;
  for (int i = 0; i < replicas; ++i) {
    ServerProcessOptions options;
    options.bin = absl::GetFlag(FLAGS_server_bin);
    options.dir = dir;
    options.db = db;
    options.log_name = absl::StrCat(store, "-", replicas, "-", i + 1, ".log");
    options.flags = {"--config", config, "--open_learner_ids"};
    setup.servers.push_back(std::make_unique<ServerProcess>(options));
    if (absl::Status s = setup.servers.back()->Start(); !s.ok()) {
      Die(s.ToString());
    }
    // Replicas starting at once would race for the empty database's
    // schema and challenges; one after the other is enough here.
    addresses.push_back(setup.servers.back()->address());
  }
  setup.stub = v1::Oracle::NewStub(
      ChannelTo(absl::StrCat("ipv4:", absl::StrJoin(addresses, ","))));
  return setup;
}

void StopSetup(Setup& setup) {
  setup.stub.reset();
  for (auto& server : setup.servers) server->Stop();
  setup.servers.clear();
}

nlohmann::json RowJson(const Row& r) {
  nlohmann::json j = {
      {"store", r.store},
      {"replicas", r.replicas},
      {"in_flight", r.in_flight},
      {"qps", r.qps},
      {"p50_us", r.p50_us},
      {"p99_us", r.p99_us},
      {"echo_qps", r.echo_qps},
      {"ratio_to_echo", r.ratio_to_echo()},
      {"answers", r.answers},
      {"server_cpu_s_per_1000", r.per_1000(r.server_cpu_s)},
  };
  if (r.store == "postgres") {
    j["postgres_cpu_s_per_1000"] = r.per_1000(r.pg_cpu_s);
    j["wal_syncs"] = r.wal_syncs;
    j["answers_per_wal_sync"] = r.answers_per_sync();
  }
  if (r.failures > 0) {
    j["failures"] = r.failures;
    j["first_error"] = r.first_error;
  }
  return j;
}

void PrintTable(const std::vector<Row>& rows) {
  std::cout << absl::StrFormat(
      "%-8s %8s %6s %10s %8s %8s %10s %7s %11s %9s %10s\n", "STORE", "REPLICAS",
      "FLIGHT", "ANSWERS/S", "P50_US", "P99_US", "ECHO_Q/S", "X_ECHO",
      "SERVER_CPU", "PG_CPU", "ANS/FLUSH");
  for (const Row& r : rows) {
    const bool pg = r.store == "postgres";
    std::cout << absl::StrFormat(
        "%-8s %8d %6d %10.0f %8u %8u %10.0f %7.3f %11.3f %9s %10s", r.store,
        r.replicas, r.in_flight, r.qps, r.p50_us, r.p99_us, r.echo_qps,
        r.ratio_to_echo(), r.per_1000(r.server_cpu_s),
        pg ? absl::StrFormat("%.3f", r.per_1000(r.pg_cpu_s)) : "-",
        pg && r.wal_syncs > 0 ? absl::StrFormat("%.1f", r.answers_per_sync())
                              : "-");
    if (r.failures > 0) {
      std::cout << "  (" << r.failures << " failures: " << r.first_error << ")";
    }
    std::cout << "\n";
  }
  std::cout << "SERVER_CPU, PG_CPU: CPU seconds per 1000 answers of the "
               "oracle-server processes and of PostgreSQL; ANS/FLUSH: "
               "answers per WAL flush\n";
}

int Main() {
  if (absl::GetFlag(FLAGS_server_bin).empty()) {
    absl::SetFlag(
        &FLAGS_server_bin,
        (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
         "oracle-server")
            .string());
  }
  if (access(absl::GetFlag(FLAGS_server_bin).c_str(), X_OK) != 0) {
    Die(absl::StrCat("no oracle-server at ", absl::GetFlag(FLAGS_server_bin),
                     " (--server_bin)"));
  }
  if (absl::GetFlag(FLAGS_learners) < 1) Die("--learners must be >= 1");
  const std::vector<int> replica_counts =
      ParseCounts(absl::GetFlag(FLAGS_replicas), "replicas");
  const std::vector<int> in_flights =
      ParseCounts(absl::GetFlag(FLAGS_in_flight), "in_flight");

  const std::string dir = (std::filesystem::temp_directory_path() /
                           absl::StrCat("attnoracle-replica-bench-", getpid()))
                              .string();
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/bench.textproto";
  std::ofstream(config) << BenchChallengeSetText();

  EchoServiceImpl echo_service;
  echo_service.SetResponse(kEchoKey, SmallEchoResponse());
  grpc::ServerBuilder builder;
  int echo_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &echo_port);
  builder.RegisterService(&echo_service);
  std::unique_ptr<grpc::Server> echo_server = builder.BuildAndStart();
  if (echo_server == nullptr || echo_port == 0) Die("echo did not start");
  auto echo_stub =
      bench::Echo::NewStub(ChannelTo(absl::StrCat("127.0.0.1:", echo_port)));
  const QueryMethods echo = QueryMethodsOf(echo_stub.get());

  std::vector<Row> rows;
  if (absl::GetFlag(FLAGS_sqlite)) {
    std::cerr << "replica-bench: SQLite, 1 server\n";
    Setup setup = StartSetup("sqlite", 1, dir + "/oracle.db", dir, config);
    for (int in_flight : in_flights) {
      rows.push_back(Measure(setup, in_flight, echo));
    }
    StopSetup(setup);
  }
  std::cerr << "replica-bench: starting PostgreSQL (fsync on)\n";
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      PostgresCluster::Start({.fsync = true});
  if (!cluster.ok()) Die(cluster.status().ToString());
  for (int replicas : replica_counts) {
    std::cerr << "replica-bench: PostgreSQL, " << replicas << " replicas\n";
    Setup setup = StartSetup("postgres", replicas, (*cluster)->NewDatabase(),
                             dir, config);
    setup.postmaster = (*cluster)->postmaster_pid();
    setup.admin_uri = (*cluster)->AdminUri();
    for (int in_flight : in_flights) {
      std::cerr << "replica-bench: " << in_flight << " in flight\n";
      rows.push_back(Measure(setup, in_flight, echo));
    }
    StopSetup(setup);
  }
  cluster->reset();
  echo_server->Shutdown(std::chrono::system_clock::now());
  echo_server->Wait();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);

  // A run that measured nothing fails too: no answers, or no CPU time
  // seen where there must have been some.
  bool failed = false;
  for (const Row& r : rows) {
    const bool unmeasured =
        r.answers == 0 || r.server_cpu_s <= 0 ||
        (r.store == "postgres" && (r.pg_cpu_s <= 0 || r.wal_syncs <= 0));
    if (unmeasured) {
      std::cerr << "replica-bench: " << r.store << ", " << r.replicas
                << " replicas, " << r.in_flight
                << " in flight: nothing measured\n";
    }
    failed = failed || r.failures > 0 || unmeasured;
  }
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json doc;
    doc["learners"] = absl::GetFlag(FLAGS_learners);
    doc["rows"] = nlohmann::json::array();
    for (const Row& r : rows) doc["rows"].push_back(RowJson(r));
    std::cout << doc.dump(2) << std::endl;
  } else {
    std::cout << "small workload, unary calls, "
              << absl::GetFlag(FLAGS_learners)
              << " learners, round-robin over the replicas\n";
    PrintTable(rows);
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace attnoracle

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Measures oracle-server replicas on one PostgreSQL database against "
      "SQLite and a gRPC echo baseline.\nUsage: replica-bench [--replicas "
      "1,2,3] [--in_flight 1,64] [--learners N] [--seconds S] [--json]");
  absl::ParseCommandLine(argc, argv);
  return attnoracle::Main();
}
