// fault: oracle-server replicas sharing one ledger behind the load balancer
// of docker/lb, on loopback. Learners mix unary queries, streams and
// submissions through the balancer while one replica is killed with SIGKILL
// and restarted on its port, --kills times. Afterwards, learner by learner:
//   - no learner was answered beyond its budget;
//   - answers received <= usage charged <= answers + the sequences that
//     were in flight at the kills;
//   - after the reveal the whole transcript verifies, holds at least the
//     answers received, and falls short of the usage by at most the
//     sequences in flight at the kills (indices reserved by a killed
//     replica stay unanswered: gaps, which verify reports);
// and the leaderboard is the same through every replica. Changes made
// through one replica (challenge, learners, reveal, submissions) are waited
// for on every replica, a few seconds at most, before they are relied on.
// Prints one JSON line: answered, charged, in flight at each kill, transcripts
// verified, wall time.
//
//   fault --server_bin build/bin/oracle-server
//         --lb_render docker/lb/render.sh --postgres --replicas 3
//
// --postgres starts a throwaway cluster as the PostgreSQL tests do; --db
// names one instead. The ledger must be one every replica shares. With SQLite
// (the default: a file in the temporary directory) only --replicas 1 is
// meaningful: a SQLite file serves one server at a time. ctest's e2e.fault
// runs the three-replica PostgreSQL form.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "client/admin_client.h"
#include "client/connection.h"
#include "client/oracle_client.h"
#include "client/verify.h"
#include "common/codec.h"
#include "common/grpc/grpc_status.h"
#include "common/prior.h"
#include "common/rng.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/e2e/server_process.h"
#include "tests/postgres_cluster.h"

ABSL_FLAG(std::string, server_bin, "", "The oracle-server binary.");
ABSL_FLAG(std::string, lb_render, "", "docker/lb/render.sh.");
ABSL_FLAG(std::string, haproxy, "haproxy", "The HAProxy binary.");
ABSL_FLAG(std::string, db, "",
          "The ledger every replica shares (a postgresql:// URI); empty: a "
          "SQLite file in the temporary directory (--replicas 1 only).");
ABSL_FLAG(bool, postgres, false,
          "Start a throwaway PostgreSQL cluster (tests/postgres_cluster.h) "
          "and share a new database of it as --db.");
ABSL_FLAG(int, replicas, 3, "oracle-server replicas behind the balancer.");
ABSL_FLAG(int, learners, 32, "Concurrent learners, one thread each.");
ABSL_FLAG(double, seconds, 30, "Length of the run under load.");
ABSL_FLAG(int, kills, 2, "SIGKILL and restart one replica this many times.");
ABSL_FLAG(uint64_t, seed, 1, "Seeds every learner's choices.");

namespace attnoracle {
namespace {

using ::attnoracle::test::ServerProcess;
using ::attnoracle::test::ServerProcessOptions;

constexpr char kChallenge[] = "fault";
constexpr int kDModel = 8;
// Small enough that busy learners spend it: answers beyond it would show.
constexpr uint64_t kBudgetQueries = 4000;
constexpr uint64_t kBudgetTokens = 12000;
constexpr char kAdminToken[] = "fault-admin-token";
constexpr auto kCallDeadline = std::chrono::seconds(10);

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "fault: " << what << std::endl;
  std::exit(1);
}

// How long a change made through one replica may take to reach the others:
// a few of the replicas' --refresh-ms periods (default 250 ms).
constexpr auto kPropagationBound = std::chrono::seconds(5);

// Polls `check` until it is OK or kPropagationBound has passed; its last
// status.
absl::Status PollUntilOk(const std::function<absl::Status()>& check) {
  const auto deadline = std::chrono::steady_clock::now() + kPropagationBound;
  for (;;) {
    absl::Status status = check();
    if (status.ok() || std::chrono::steady_clock::now() >= deadline) {
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// HAProxy in the foreground with the rendered configuration, its output in
// a log file.
class Balancer {
 public:
  Balancer(const std::string& dir, const std::vector<std::string>& replicas) {
    const std::string config = dir + "/haproxy.cfg";
    port_ = FreePort();
    std::vector<std::string> render = {"bash", absl::GetFlag(FLAGS_lb_render),
                                       absl::StrCat("127.0.0.1:", port_)};
    render.insert(render.end(), replicas.begin(), replicas.end());
    if (Run(render, config, /*wait=*/true) != 0) Die("render.sh failed");
    pid_ = Run({absl::GetFlag(FLAGS_haproxy), "-db", "-f", config},
               dir + "/lb.log", /*wait=*/false);
  }
  ~Balancer() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  // A port free at this moment (HAProxy cannot report one it chose).
  static int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
      Die("no free port");
    }
    close(fd);
    return ntohs(addr.sin_port);
  }
  // Spawns `args` (found on PATH) with stdout and stderr to `out`; its exit
  // status when `wait`, else its pid.
  static pid_t Run(std::vector<std::string> args, const std::string& out,
                   bool wait) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    if (posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ) !=
        0) {
      Die("cannot start " + args[0]);
    }
    posix_spawn_file_actions_destroy(&actions);
    if (!wait) return pid;
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }

  int port_ = 0;
  pid_t pid_ = -1;
};

struct Learner {
  std::string name;
  std::string token;
  std::string commitment;
  uint64_t answered_queries = 0;
  uint64_t answered_tokens = 0;
  uint64_t transport_failures = 0;
  uint64_t submissions = 0;
  uint64_t in_flight_at_kills = 0;
  std::vector<std::string> unexpected;
};

bool IsTransportFailure(absl::StatusCode code) {
  using C = absl::StatusCode;
  return code == C::kUnavailable || code == C::kCancelled ||
         code == C::kDeadlineExceeded || code == C::kUnknown ||
         code == C::kInternal;
}

v1::QueryRequest RandomRequest(Rng& rng) {
  v1::QueryRequest request;
  request.set_challenge_id(kChallenge);
  const int count = 1 + static_cast<int>(rng.NextUniform() * 3);
  for (int s = 0; s < count; ++s) {
    Matrix x(1 + static_cast<int>(rng.NextUniform() * 3), kDModel);
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      x.data()[i] = 2 * rng.NextUniform() - 1;
    }
    MatrixToProto(x, request.add_sequences());
  }
  return request;
}

uint64_t Tokens(const v1::QueryRequest& r) {
  uint64_t n = 0;
  for (const auto& s : r.sequences()) n += s.rows();
  return n;
}

class Load {
 public:
  Load(std::string address, std::vector<std::unique_ptr<Learner>>* learners,
       int kills)
      : address_(std::move(address)), learners_(learners), in_flight_(kills) {}

  void Start() {
    for (size_t i = 0; i < learners_->size(); ++i) {
      threads_.emplace_back([this, i] { Work(*(*learners_)[i], i); });
    }
  }
  // Call around each kill and restart: requests that fail in transport
  // while a kill is under way, or that were sent before it, count as in
  // flight at that kill.
  void KillBegins() { generation_.fetch_add(1); }
  void KillEnds() { generation_.fetch_add(1); }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
  }
  // Sequences in flight at kill k (0-based), over every learner.
  uint64_t InFlightAt(int k) const { return in_flight_[k].load(); }

 private:
  void Work(Learner& me, size_t index) {
    Rng rng(DeriveSeed(absl::GetFlag(FLAGS_seed), RngStream::kSecret, index));
    ClientOptions options;
    options.server = address_;
    auto stub = v1::Oracle::NewStub(NewChannel(options));
    while (!stop_) {
      const double r = rng.NextUniform();
      if (r < 0.65) {
        Unary(me, *stub, RandomRequest(rng));
      } else if (r < 0.93) {
        Stream(me, *stub, rng);
      } else {
        Submit(me, *stub, rng);
      }
    }
  }

  void Prepare(const Learner& me, grpc::ClientContext* context) {
    context->AddMetadata("authorization", "Bearer " + me.token);
    context->set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  }

  void Record(Learner& me, const absl::Status& status, uint64_t sequences,
              uint64_t tokens, uint64_t generation) {
    if (status.ok()) {
      me.answered_queries += sequences;
      me.answered_tokens += tokens;
      return;
    }
    if (IsTransportFailure(status.code())) {
      ++me.transport_failures;
      const uint64_t now = generation_.load();
      if (now != generation || now % 2 == 1) {
        me.in_flight_at_kills += sequences;
        const size_t kill =
            std::min<size_t>(generation / 2, in_flight_.size() - 1);
        in_flight_[kill].fetch_add(sequences);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else if (status.code() != absl::StatusCode::kResourceExhausted) {
      me.unexpected.push_back(status.ToString());
    } else {
      // Budget spent (or a rate limit): allowed for any request.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void Unary(Learner& me, v1::Oracle::Stub& stub,
             const v1::QueryRequest& request) {
    grpc::ClientContext context;
    Prepare(me, &context);
    v1::QueryResponse response;
    const uint64_t generation = generation_.load();
    const absl::Status status =
        FromGrpcStatus(stub.Query(&context, request, &response));
    Record(me, status, request.sequences_size(), Tokens(request), generation);
  }

  void Stream(Learner& me, v1::Oracle::Stub& stub, Rng& rng) {
    grpc::ClientContext context;
    Prepare(me, &context);
    auto stream = stub.QueryStream(&context);
    const int messages = 2 + static_cast<int>(rng.NextUniform() * 6);
    for (int m = 0; m < messages && !stop_; ++m) {
      const v1::QueryRequest request = RandomRequest(rng);
      v1::QueryResponse response;
      const uint64_t generation = generation_.load();
      if (!(stream->Write(request) && stream->Read(&response))) {
        stream->WritesDone();
        Record(me, FromGrpcStatus(stream->Finish()), request.sequences_size(),
               Tokens(request), generation);
        return;
      }
      Record(me,
             response.has_error() ? StatusFromProto(response.error())
                                  : absl::OkStatus(),
             request.sequences_size(), Tokens(request), generation);
    }
    stream->WritesDone();
    if (absl::Status s = FromGrpcStatus(stream->Finish()); !s.ok()) {
      Record(me, s, 0, 0, generation_.load());
    }
  }

  void Submit(Learner& me, v1::Oracle::Stub& stub, Rng& rng) {
    LayerSpec spec;
    spec.d_model = kDModel;
    spec.heads = 1;
    const LayerParams guess = DrawSecret(
        *ResolveSpec(spec),
        Prior{.seed = static_cast<uint64_t>(rng.NextUniform() * 1e9)});
    v1::SubmitRequest request;
    request.set_challenge_id(kChallenge);
    ParamsToProto(guess, request.mutable_hypothesis());
    grpc::ClientContext context;
    Prepare(me, &context);
    v1::SubmitResponse response;
    const absl::Status status =
        FromGrpcStatus(stub.Submit(&context, request, &response));
    if (status.ok()) {
      ++me.submissions;
    } else {
      Record(me, status, 0, 0, generation_.load());
    }
  }

  const std::string address_;
  std::vector<std::unique_ptr<Learner>>* learners_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};
  std::vector<std::atomic<uint64_t>> in_flight_;
};

ClientOptions Options(const std::string& address, const std::string& token) {
  ClientOptions options;
  options.server = address;
  options.token = token;
  options.deadline = kCallDeadline;
  return options;
}

v1::ChallengeConfig FaultChallenge() {
  v1::ChallengeConfig config;
  config.set_id(kChallenge);
  config.set_title("Fault");
  config.mutable_spec()->set_d_model(kDModel);
  config.mutable_spec()->set_heads(1);
  config.mutable_prior()->set_seed(7);
  config.set_per_learner_secrets(true);
  v1::AccessPolicy* policy = config.mutable_policy();
  policy->mutable_budget()->set_queries(kBudgetQueries);
  policy->mutable_budget()->set_tokens(kBudgetTokens);
  return config;
}

int Main() {
  const auto wall_start = std::chrono::steady_clock::now();
  const std::string bin = absl::GetFlag(FLAGS_server_bin);
  if (bin.empty()) Die("--server_bin is required");
  if (absl::GetFlag(FLAGS_lb_render).empty()) Die("--lb_render is required");
  const int replicas = absl::GetFlag(FLAGS_replicas);
  const int kills = absl::GetFlag(FLAGS_kills);
  if (replicas < 1 || kills < 1) Die("--replicas and --kills must be >= 1");
  const std::string dir = (std::filesystem::temp_directory_path() /
                           absl::StrCat("attnoracle-fault-", getpid()))
                              .string();
  std::filesystem::create_directories(dir);
  std::string db = absl::GetFlag(FLAGS_db);
  // Declared before the replicas: stopped after them.
  std::unique_ptr<test::PostgresCluster> cluster;
  if (absl::GetFlag(FLAGS_postgres)) {
    if (!db.empty()) Die("--postgres and --db exclude each other");
    absl::StatusOr<std::unique_ptr<test::PostgresCluster>> started =
        test::PostgresCluster::Start();
    if (!started.ok()) Die(started.status().ToString());
    cluster = *std::move(started);
    db = cluster->NewDatabase();
  }
  if (db.empty()) {
    if (replicas != 1) Die("--replicas > 1 needs a shared --db");
    db = dir + "/fault.db";
  }

  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::vector<std::string> addresses;
  for (int i = 0; i < replicas; ++i) {
    ServerProcessOptions options;
    options.bin = bin;
    options.dir = dir;
    options.db = db;
    options.admin_token = kAdminToken;
    options.log_name = absl::StrCat("replica-", i + 1, ".log");
    servers.push_back(std::make_unique<ServerProcess>(std::move(options)));
    if (absl::Status s = servers.back()->Start(); !s.ok()) Die(s.ToString());
    addresses.push_back(servers.back()->address());
  }
  Balancer balancer(dir, addresses);
  const std::string lb = balancer.address();
  auto admin = AdminClient::Connect(Options(lb, kAdminToken));
  // The balancer answers once it has read its configuration.
  for (int tries = 0;; ++tries) {
    if (OracleClient::Connect(Options(lb, kAdminToken))
            ->ListChallenges()
            .ok()) {
      break;
    }
    if (tries == 100) Die("the balancer did not answer; see " + dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (auto c = admin->CreateChallenge(FaultChallenge()); !c.ok()) {
    Die(c.status().ToString());
  }
  std::vector<std::unique_ptr<Learner>> learners;
  for (int i = 0; i < absl::GetFlag(FLAGS_learners); ++i) {
    auto l = std::make_unique<Learner>();
    absl::StatusOr<LearnerCredentials> creds =
        admin->RegisterLearner(absl::StrCat("learner-", i));
    if (!creds.ok()) Die(creds.status().ToString());
    l->name = creds->learner;
    l->token = creds->token;
    learners.push_back(std::move(l));
  }
  // The challenge and the learners were made through whichever replica the
  // balancer chose; the others learn of them at their next refresh. The
  // load starts only once every replica accepts every token.
  for (const auto& server : servers) {
    for (auto& l : learners) {
      absl::StatusOr<ChallengeInfo> info;
      const absl::Status s = PollUntilOk([&] {
        info = OracleClient::Connect(Options(server->address(), l->token))
                   ->Describe(kChallenge);
        return info.status();
      });
      if (!s.ok()) {
        Die(absl::StrCat("replica ", server->address(), " does not accept ",
                         l->name, "'s token for ", kChallenge, " after ",
                         kPropagationBound.count(), " s: ", s.ToString()));
      }
      l->commitment = info->commitment;
    }
  }

  std::cerr << "fault: " << learners.size() << " learners, " << replicas
            << " replicas behind " << lb << ", " << kills << " kills over "
            << absl::GetFlag(FLAGS_seconds) << " s" << std::endl;
  Load load(lb, &learners, kills);
  load.Start();
  const auto interval =
      std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds) / (kills + 1));
  // The same replica every time: the last (with one replica, the only one).
  ServerProcess& victim = *servers.back();
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(interval);
    load.KillBegins();
    victim.Kill();
    if (absl::Status s = victim.Start(); !s.ok()) Die(s.ToString());
    load.KillEnds();
    std::cerr << "fault: killed and restarted replica " << replicas << " ("
              << k + 1 << " of " << kills << ")" << std::endl;
  }
  std::this_thread::sleep_for(interval);
  load.Stop();

  for (Phase phase : {Phase::kClosed, Phase::kRevealed}) {
    if (auto s = admin->SetPhase(kChallenge, phase); !s.ok()) {
      Die(s.status().ToString());
    }
  }
  // Every replica must see the reveal before the checks read through the
  // balancer.
  for (const auto& server : servers) {
    const absl::Status s = PollUntilOk([&] {
      return OracleClient::Connect(
                 Options(server->address(), learners[0]->token))
          ->GetReveal(kChallenge)
          .status();
    });
    if (!s.ok()) {
      Die(absl::StrCat("replica ", server->address(),
                       " does not serve the reveal after ",
                       kPropagationBound.count(), " s: ", s.ToString()));
    }
  }
  int failures = 0;
  auto fail = [&](const std::string& who, const std::string& what) {
    ++failures;
    std::cerr << "fault: FAIL " << who << ": " << what << std::endl;
  };
  uint64_t answered = 0, charged = 0, in_flight = 0, verified_count = 0,
           transport = 0, submissions = 0, unanswered = 0;
  for (const auto& l : learners) {
    auto client = OracleClient::Connect(Options(lb, l->token));
    absl::StatusOr<Usage> usage = client->GetUsage(kChallenge);
    absl::StatusOr<RevealedChallenge> reveal = client->GetReveal(kChallenge);
    absl::StatusOr<std::vector<TranscriptEntry>> transcript =
        client->GetTranscript(kChallenge);
    if (!usage.ok() || !reveal.ok() || !transcript.ok()) {
      fail(l->name, "usage, reveal or transcript unavailable");
      continue;
    }
    for (const std::string& u : l->unexpected) fail(l->name, "unexpected " + u);
    if (l->answered_queries > kBudgetQueries ||
        l->answered_tokens > kBudgetTokens ||
        usage->queries_used > kBudgetQueries) {
      fail(l->name,
           absl::StrCat("answered ", l->answered_queries, " queries, charged ",
                        usage->queries_used, ": over the budget"));
    }
    if (usage->queries_used < l->answered_queries ||
        usage->queries_used > l->answered_queries + l->in_flight_at_kills) {
      fail(l->name, absl::StrCat("charged ", usage->queries_used, " for ",
                                 l->answered_queries, " answered, ",
                                 l->in_flight_at_kills, " in flight at kills"));
    }
    absl::StatusOr<VerifiedTranscript> verified =
        VerifyTranscript(*reveal, l->commitment, *transcript);
    if (!verified.ok()) {
      fail(l->name, "transcript: " + verified.status().ToString());
    } else if (verified->sequences < l->answered_queries ||
               verified->sequences + verified->unanswered_indices >
                   usage->queries_used ||
               usage->queries_used - verified->sequences >
                   l->in_flight_at_kills) {
      // A replica killed between reserving and committing leaves charged
      // indices without an entry: at most what was in flight at the kills.
      fail(l->name,
           absl::StrCat("transcript holds ", verified->sequences,
                        " sequences (", verified->unanswered_indices,
                        " indices unanswered), usage says ",
                        usage->queries_used, ", answered ", l->answered_queries,
                        ", in flight at kills ", l->in_flight_at_kills));
    } else {
      unanswered += verified->unanswered_indices;
      ++verified_count;
    }
    answered += l->answered_queries;
    charged += usage->queries_used;
    in_flight += l->in_flight_at_kills;
    transport += l->transport_failures;
    submissions += l->submissions;
  }

  // The leaderboard through each replica directly; submissions made through
  // one replica reach the others at their next refresh.
  std::vector<v1::GetLeaderboardResponse> boards;
  size_t differing = 0;
  const absl::Status boards_agree = PollUntilOk([&] {
    boards.clear();
    for (const auto& server : servers) {
      ClientOptions options = Options(server->address(), learners[0]->token);
      auto stub = v1::Oracle::NewStub(NewChannel(options));
      grpc::ClientContext context;
      PrepareContext(options, &context);
      v1::GetLeaderboardRequest request;
      request.set_challenge_id(kChallenge);
      v1::GetLeaderboardResponse response;
      if (!stub->GetLeaderboard(&context, request, &response).ok()) {
        return absl::UnavailableError(server->address() + ": no leaderboard");
      }
      boards.push_back(response);
    }
    for (size_t i = 1; i < boards.size(); ++i) {
      if (!google::protobuf::util::MessageDifferencer::Equals(boards[0],
                                                              boards[i])) {
        differing = i;
        return absl::AbortedError("leaderboards differ");
      }
    }
    return absl::OkStatus();
  });
  if (!boards_agree.ok()) {
    fail(boards_agree.code() == absl::StatusCode::kAborted
             ? addresses[differing]
             : std::string("leaderboard"),
         absl::StrCat(boards_agree.message(), " (against replica 1) after ",
                      kPropagationBound.count(), " s"));
  }
  if (boards.empty() || boards[0].entries_size() == 0) {
    fail("leaderboard", "empty");
  }

  for (auto& server : servers) {
    server->Stop();
    if (!server->exited_cleanly()) {
      fail(server->log_path(), "the replica did not exit cleanly");
    }
  }
  std::vector<uint64_t> per_kill;
  for (int k = 0; k < kills; ++k) per_kill.push_back(load.InFlightAt(k));
  const double wall = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - wall_start)
                          .count();
  std::cout << "{\"replicas\": " << replicas
            << ", \"learners\": " << learners.size()
            << ", \"answered_queries\": " << answered
            << ", \"charged_queries\": " << charged
            << ", \"in_flight_at_kills\": [" << absl::StrJoin(per_kill, ", ")
            << "], \"in_flight_total\": " << in_flight
            << ", \"transport_failures\": " << transport
            << ", \"submissions\": " << submissions
            << ", \"transcripts_verified\": " << verified_count
            << ", \"unanswered_indices\": " << unanswered
            << ", \"wall_seconds\": " << wall << ", \"failures\": " << failures
            << "}" << std::endl;
  if (failures == 0) std::filesystem::remove_all(dir);
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace attnoracle

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Fault test: oracle-server replicas sharing one ledger behind the "
      "load balancer, one killed and restarted; checks budgets, charges, "
      "transcripts and leaderboards.\nUsage: fault --server_bin PATH "
      "--lb_render docker/lb/render.sh --db postgresql://... [--replicas 3]");
  absl::ParseCommandLine(argc, argv);
  return attnoracle::Main();
}
