// soak: 32 learners hammer the real oracle-server binary (durable SQLite
// store, competition mode) with a mix of unary queries, streams,
// submissions and bad requests, while the server is killed with SIGKILL and
// restarted on the same port twice. Afterwards it checks, learner by
// learner:
//   - no learner was answered beyond its budget;
//   - answers received <= usage charged <= answers + the sequences that
//     were in flight at the kills (a crash never loses a charge, and charges
//     only what may have been answered);
//   - after the reveal the whole transcript verifies bit for bit and adds
//     up to the usage;
//   - nothing any learner received before the reveal, and nothing the
//     server logged, holds a secret value;
// and reports the server's peak RSS (and fails above --max_rss_mib).
//
//   soak --server_bin build/bin/oracle-server --seconds 90
//
// Exit 0 when every check holds; the report is one JSON line on stdout.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "client/admin_client.h"
#include "client/oracle_client.h"
#include "client/verify.h"
#include "common/codec.h"
#include "common/grpc/grpc_status.h"
#include "common/prior.h"
#include "common/rng.h"
#include "tests/e2e/server_process.h"
#include "tests/secret_leak.h"

ABSL_FLAG(std::string, server_bin, "", "The oracle-server binary.");
ABSL_FLAG(double, seconds, 90, "Length of the run under load.");
ABSL_FLAG(int, learners, 32, "Concurrent learners, one thread each.");
ABSL_FLAG(int, kills, 2, "SIGKILL and restart the server this many times.");
ABSL_FLAG(int, max_rss_mib, 1024, "Fail if the server's peak RSS exceeds.");
ABSL_FLAG(uint64_t, seed, 1, "Seeds every learner's choices.");

namespace attnoracle {
namespace {

using ::attnoracle::test::ServerProcess;
using ::attnoracle::test::ServerProcessOptions;

constexpr char kChallenge[] = "soak";
constexpr int kDModel = 8;
constexpr uint64_t kBudgetQueries = 6000;
constexpr uint64_t kBudgetTokens = 18000;
constexpr double kRequestsPerSecond = 60;
constexpr int kRequestBurst = 20;
constexpr int kMaxStreams = 2;
constexpr size_t kMaxSaidBytesPerLearner = 4 << 20;
constexpr char kAdminToken[] = "soak-admin-token";

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "soak: " << what << std::endl;
  std::exit(1);
}

// What one learner did and saw.
struct Learner {
  std::string name;
  std::string token;
  std::string commitment;  // published before the reveal
  uint64_t answered_queries = 0;
  uint64_t answered_tokens = 0;
  uint64_t requests = 0;
  uint64_t refused_as_expected = 0;
  uint64_t transport_failures = 0;
  uint64_t rate_limited = 0;
  uint64_t submissions = 0;
  std::vector<std::string> unexpected;  // statuses no rule allows
  std::string said;                     // responses and messages, capped
  // Sequences of requests that were on the wire when the server was
  // killed (sent before the kill finished, failed in transport after it
  // began): the only ones that may be charged without an answer.
  uint64_t in_flight_at_kills = 0;

  void Remember(const std::string& bytes) {
    if (said.size() < kMaxSaidBytesPerLearner) said += bytes;
  }
};

bool IsTransportFailure(absl::StatusCode code) {
  using C = absl::StatusCode;
  return code == C::kUnavailable || code == C::kCancelled ||
         code == C::kDeadlineExceeded || code == C::kUnknown ||
         code == C::kInternal;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

v1::QueryRequest RandomRequest(Rng& rng, bool bad) {
  v1::QueryRequest request;
  request.set_challenge_id(kChallenge);
  const int count = 1 + static_cast<int>(rng.NextUniform() * 3);
  for (int s = 0; s < count; ++s) {
    const int tokens = 1 + static_cast<int>(rng.NextUniform() * 4);
    Matrix x(tokens, kDModel);
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      x.data()[i] = 2 * rng.NextUniform() - 1;
    }
    MatrixToProto(x, request.add_sequences());
  }
  if (bad) {
    switch (static_cast<int>(rng.NextUniform() * 4)) {
      case 0:
        request.mutable_sequences(0)->set_values(0, std::nan(""));
        break;
      case 1:
        request.mutable_sequences(0)->set_cols(kDModel + 1);
        break;
      case 2:
        request.set_challenge_id("no-such-challenge");
        break;
      default:
        request.mutable_sequences(0)->add_values(1);
        break;
    }
  }
  return request;
}

uint64_t Tokens(const v1::QueryRequest& r) {
  uint64_t n = 0;
  for (const auto& s : r.sequences()) n += s.rows();
  return n;
}

class Soak {
 public:
  Soak(ServerProcess* server, std::vector<std::unique_ptr<Learner>>* learners)
      : server_(server), learners_(learners) {}

  void Run(double seconds, int kills) {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < learners_->size(); ++i) {
      threads.emplace_back([this, i] { Work(*(*learners_)[i], i); });
    }
    const auto interval = std::chrono::duration<double>(seconds / (kills + 1));
    for (int k = 0; k < kills; ++k) {
      std::this_thread::sleep_for(interval);
      // Odd while a kill and restart are under way.
      generation_.fetch_add(1);
      peak_rss_kib_ = std::max(peak_rss_kib_, server_->Kill());
      std::cerr << "soak: killed the server (" << k + 1 << " of " << kills
                << "), restarting on port " << server_->port() << std::endl;
      if (absl::Status started = server_->Start(); !started.ok()) {
        Die(started.ToString());
      }
      generation_.fetch_add(1);
    }
    std::this_thread::sleep_for(interval);
    stop_ = true;
    for (std::thread& t : threads) t.join();
  }

  int64_t peak_rss_kib() const { return peak_rss_kib_; }

 private:
  void Work(Learner& me, size_t index) {
    Rng rng(DeriveSeed(absl::GetFlag(FLAGS_seed), RngStream::kSecret, index));
    auto stub = v1::Oracle::NewStub(Channel(server_->address()));
    while (!stop_) {
      const double r = rng.NextUniform();
      if (r < 0.55) {
        Unary(me, *stub, RandomRequest(rng, false), false);
      } else if (r < 0.80) {
        Stream(me, *stub, rng);
      } else if (r < 0.84) {
        Submit(me, *stub, rng);
      } else {
        Unary(me, *stub, RandomRequest(rng, true), true);
      }
    }
  }

  void Prepare(const Learner& me, grpc::ClientContext* context) {
    context->AddMetadata("authorization", "Bearer " + me.token);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
  }

  // Classifies one outcome of a request sent at `generation`;
  // `sequences`/`tokens` are counted as answered on OK.
  void Record(Learner& me, const absl::Status& status, bool bad,
              uint64_t sequences, uint64_t tokens, uint64_t generation) {
    ++me.requests;
    using C = absl::StatusCode;
    if (status.ok()) {
      if (bad) me.unexpected.push_back("a bad request was answered");
      me.answered_queries += sequences;
      me.answered_tokens += tokens;
      return;
    }
    me.Remember(std::string(status.message()));
    if (IsTransportFailure(status.code())) {
      ++me.transport_failures;
      const uint64_t now = generation_.load();
      if (now != generation || now % 2 == 1) {
        me.in_flight_at_kills += sequences;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else if (status.code() == C::kResourceExhausted) {
      // Rate or budget: both allowed for any request.
      ++me.refused_as_expected;
      if (absl::StrContains(status.message(), "rate limit")) {
        ++me.rate_limited;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    } else if (bad && (status.code() == C::kInvalidArgument ||
                       status.code() == C::kNotFound)) {
      ++me.refused_as_expected;
    } else {
      me.unexpected.push_back(status.ToString());
    }
  }

  void Unary(Learner& me, v1::Oracle::Stub& stub,
             const v1::QueryRequest& request, bool bad) {
    grpc::ClientContext context;
    Prepare(me, &context);
    v1::QueryResponse response;
    const uint64_t generation = generation_.load();
    const absl::Status status =
        FromGrpcStatus(stub.Query(&context, request, &response));
    if (status.ok()) me.Remember(response.SerializeAsString());
    Record(me, status, bad, request.sequences_size(), Tokens(request),
           generation);
  }

  void Stream(Learner& me, v1::Oracle::Stub& stub, Rng& rng) {
    grpc::ClientContext context;
    Prepare(me, &context);
    auto stream = stub.QueryStream(&context);
    const int messages = 3 + static_cast<int>(rng.NextUniform() * 8);
    for (int m = 0; m < messages && !stop_; ++m) {
      const bool bad = rng.NextUniform() < 0.15;
      const v1::QueryRequest request = RandomRequest(rng, bad);
      v1::QueryResponse response;
      const uint64_t generation = generation_.load();
      const bool exchanged = stream->Write(request) && stream->Read(&response);
      if (!exchanged) {
        // The stream broke with this message unanswered.
        stream->WritesDone();
        Record(me, FromGrpcStatus(stream->Finish()), false,
               request.sequences_size(), Tokens(request), generation);
        return;
      }
      me.Remember(response.SerializeAsString());
      Record(me,
             response.has_error() ? StatusFromProto(response.error())
                                  : absl::OkStatus(),
             bad, request.sequences_size(), Tokens(request), generation);
    }
    stream->WritesDone();
    const absl::Status finished = FromGrpcStatus(stream->Finish());
    if (!finished.ok()) Record(me, finished, false, 0, 0, 0);
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
      me.Remember(response.SerializeAsString());
      ++me.requests;
      return;
    }
    Record(me, status, false, 0, 0, 0);
  }

  ServerProcess* server_;
  std::vector<std::unique_ptr<Learner>>* learners_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};
  int64_t peak_rss_kib_ = 0;
};

ClientOptions Options(const ServerProcess& server, const std::string& token) {
  ClientOptions options;
  options.server = server.address();
  options.token = token;
  return options;
}

int Main() {
  const std::string bin = absl::GetFlag(FLAGS_server_bin);
  if (bin.empty()) Die("--server_bin is required");
  const std::string dir = (std::filesystem::temp_directory_path() /
                           absl::StrCat("attnoracle-soak-", getpid()))
                              .string();
  std::filesystem::create_directories(dir);
  ServerProcessOptions server_options;
  server_options.bin = bin;
  server_options.dir = dir;
  server_options.db = dir + "/soak.db";
  server_options.admin_token = kAdminToken;
  server_options.flags = {
      absl::StrCat("--max_streams_per_learner=", kMaxStreams)};
  ServerProcess server(std::move(server_options));
  if (absl::Status started = server.Start(); !started.ok()) {
    Die(started.ToString());
  }

  auto admin = AdminClient::Connect(Options(server, kAdminToken));
  v1::ChallengeConfig config;
  config.set_id(kChallenge);
  config.set_title("Soak");
  config.mutable_spec()->set_d_model(kDModel);
  config.mutable_spec()->set_heads(1);
  config.mutable_prior()->set_seed(99);
  config.set_per_learner_secrets(true);
  v1::AccessPolicy* policy = config.mutable_policy();
  policy->set_noise_sigma(1e-3);
  policy->mutable_budget()->set_queries(kBudgetQueries);
  policy->mutable_budget()->set_tokens(kBudgetTokens);
  policy->mutable_limits()->set_max_requests_per_second(kRequestsPerSecond);
  policy->mutable_limits()->set_request_burst(kRequestBurst);
  if (auto c = admin->CreateChallenge(config); !c.ok()) {
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
    auto client = OracleClient::Connect(Options(server, l->token));
    absl::StatusOr<ChallengeInfo> info = client->Describe(kChallenge);
    if (!info.ok()) Die(info.status().ToString());
    l->commitment = info->commitment;
    learners.push_back(std::move(l));
  }

  std::cerr << "soak: " << learners.size() << " learners for "
            << absl::GetFlag(FLAGS_seconds) << " s, "
            << absl::GetFlag(FLAGS_kills) << " kills" << std::endl;
  Soak soak(&server, &learners);
  soak.Run(absl::GetFlag(FLAGS_seconds), absl::GetFlag(FLAGS_kills));

  // Everything before the reveal is in; now close, reveal and check.
  admin = AdminClient::Connect(Options(server, kAdminToken));
  for (Phase phase : {Phase::kClosed, Phase::kRevealed}) {
    if (auto s = admin->SetPhase(kChallenge, phase); !s.ok()) {
      Die(s.status().ToString());
    }
  }
  std::string log;
  {
    std::ifstream in(server.log_path());
    std::stringstream buffer;
    buffer << in.rdbuf();
    log = buffer.str();
  }
  int failures = 0;
  auto fail = [&](const Learner& l, const std::string& what) {
    ++failures;
    std::cerr << "soak: FAIL " << l.name << ": " << what << std::endl;
  };
  uint64_t answered = 0, charged = 0, requests = 0, transport = 0,
           rate_limited = 0, in_flight_at_kills = 0, refused = 0,
           submissions = 0, entries = 0;
  for (const auto& l : learners) {
    auto client = OracleClient::Connect(Options(server, l->token));
    absl::StatusOr<Usage> usage = client->GetUsage(kChallenge);
    absl::StatusOr<RevealedChallenge> reveal = client->GetReveal(kChallenge);
    absl::StatusOr<std::vector<TranscriptEntry>> transcript =
        client->GetTranscript(kChallenge);
    if (!usage.ok() || !reveal.ok() || !transcript.ok()) {
      fail(*l, "usage, reveal or transcript unavailable");
      continue;
    }
    for (const std::string& u : l->unexpected) fail(*l, "unexpected " + u);
    if (l->answered_queries > kBudgetQueries ||
        l->answered_tokens > kBudgetTokens) {
      fail(*l, absl::StrCat("answered ", l->answered_queries, " queries and ",
                            l->answered_tokens, " tokens, over the budget"));
    }
    if (usage->queries_used < l->answered_queries ||
        usage->queries_used > l->answered_queries + l->in_flight_at_kills) {
      fail(*l, absl::StrCat("charged ", usage->queries_used, " for ",
                            l->answered_queries, " answered, ",
                            l->in_flight_at_kills, " in flight at kills"));
    }
    if (usage->tokens_used < l->answered_tokens) {
      fail(*l, "fewer tokens charged than answered");
    }
    absl::StatusOr<VerifiedTranscript> verified =
        VerifyTranscript(*reveal, l->commitment, *transcript);
    if (!verified.ok()) {
      fail(*l, "transcript: " + verified.status().ToString());
    } else if (verified->sequences != usage->queries_used ||
               verified->tokens != usage->tokens_used) {
      fail(*l, absl::StrCat("transcript holds ", verified->sequences,
                            " sequences, usage says ", usage->queries_used));
    }
    test::SecretScanner scanner(reveal->config.spec, reveal->secret);
    if (std::string where = scanner.Find(l->said); !where.empty()) {
      fail(*l, "a response held its secret: " + where);
    }
    if (std::string where = scanner.Find(log); !where.empty()) {
      fail(*l, "the server log held a secret: " + where);
    }
    answered += l->answered_queries;
    charged += usage->queries_used;
    requests += l->requests;
    transport += l->transport_failures;
    rate_limited += l->rate_limited;
    refused += l->refused_as_expected;
    in_flight_at_kills += l->in_flight_at_kills;
    submissions += l->submissions;
    entries += transcript->size();
  }
  const int64_t peak_kib = std::max(soak.peak_rss_kib(), server.Stop());
  if (!server.exited_cleanly()) {
    Die("the server did not exit cleanly; see " + server.log_path());
  }
  if (peak_kib > int64_t{absl::GetFlag(FLAGS_max_rss_mib)} * 1024) {
    ++failures;
    std::cerr << "soak: FAIL peak RSS " << peak_kib / 1024 << " MiB\n";
  }
  std::cout << "{\"learners\": " << learners.size()
            << ", \"requests\": " << requests
            << ", \"answered_queries\": " << answered
            << ", \"charged_queries\": " << charged
            << ", \"in_flight_at_kills\": " << in_flight_at_kills
            << ", \"refused_as_expected\": " << refused
            << ", \"rate_limited\": " << rate_limited
            << ", \"transport_failures\": " << transport
            << ", \"submissions\": " << submissions
            << ", \"transcript_entries\": " << entries
            << ", \"peak_rss_mib\": " << peak_kib / 1024.0
            << ", \"failures\": " << failures << "}" << std::endl;
  if (failures == 0) std::filesystem::remove_all(dir);
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace attnoracle

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Soak test with faults: concurrent learners against oracle-server, "
      "killed and restarted; checks budgets, charges, transcripts and "
      "secrecy.\nUsage: soak --server_bin PATH [--seconds 90]");
  absl::ParseCommandLine(argc, argv);
  return attnoracle::Main();
}
