// submit-load: how long a small query waits while the heaviest submissions
// are scored, against the real oracle-server binary. It starts the server
// (competition mode, memory store), creates one challenge, registers
// learners, then
//   1. measures a querier's small queries alone (the baseline);
//   2. has --submitters learners submit hypotheses of factor width --width
//      back to back (--submissions each; a refusal with a retry hint waits
//      as told) while the querier goes on querying;
// and prints one JSON line: the query latency p50/p99/max of both phases,
// the submissions scored and refused, their latency, and the server's peak
// RSS.
//
//   submit-load --server_bin build/bin/oracle-server --width 400000
//   submit-load --server_bin build/bin/oracle-server --d_model 256
//               --heads 4 --width 256 --max_latency_factor 20
//
// With --max_latency_factor F > 0 it exits 1 when the loaded phase's p99
// exceeds F times the baseline's p99 measured in the same run (or the
// baseline's max, whichever is larger), or when no submission was scored.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "client/admin_client.h"
#include "client/connection.h"
#include "common/codec.h"
#include "common/retry_hint.h"
#include "common/rng.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/server_process.h"

ABSL_FLAG(std::string, server_bin, "", "The oracle-server binary.");
ABSL_FLAG(std::vector<std::string>, server_flags, {},
          "Extra flags for the server, comma-separated.");
ABSL_FLAG(int, d_model, 8, "The challenge's d_model.");
ABSL_FLAG(int, heads, 1, "The challenge's heads.");
ABSL_FLAG(int, width, 400000,
          "Inner width of every submitted head (wq, wk, wv columns).");
ABSL_FLAG(int, submitters, 2, "Learners submitting at once.");
ABSL_FLAG(int, submissions, 2, "Submissions scored per submitter.");
ABSL_FLAG(double, baseline_seconds, 2, "Length of the unloaded phase.");
ABSL_FLAG(double, max_latency_factor, 0,
          "If > 0: fail when the loaded p99 exceeds this many times the "
          "baseline's max(p99, max).");

namespace attnoracle {
namespace {

using ::attnoracle::test::ServerProcess;
using ::attnoracle::test::ServerProcessOptions;

constexpr char kChallenge[] = "submit-load";
constexpr char kAdminToken[] = "submit-load-admin-token";
constexpr int kQueryTokens = 4;
// A submitter refused without a hint tries again after this long; one
// refused this many times in a row gives up (the run then fails).
constexpr auto kDefaultRetry = std::chrono::milliseconds(50);
constexpr int kMaxRefusalsInARow = 2000;

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "submit-load: " << what << std::endl;
  std::exit(2);
}

ClientOptions Options(const ServerProcess& server, const std::string& token) {
  ClientOptions options;
  options.server = server.address();
  options.token = token;
  options.deadline = std::chrono::seconds(300);
  return options;
}

// A hypothesis whose every head has inner width `width`: random factors,
// as a learner that over-parametrises would send.
v1::SubmitRequest HeavyHypothesis(int d_model, int heads, int width,
                                  uint64_t seed) {
  v1::SubmitRequest request;
  request.set_challenge_id(kChallenge);
  Rng rng(seed);
  auto fill = [&](int rows, int cols, pb::Matrix* m) {
    m->set_rows(rows);
    m->set_cols(cols);
    m->mutable_values()->Reserve(rows * cols);
    for (int i = 0; i < rows * cols; ++i) {
      m->add_values(0.01 * (2 * rng.NextUniform() - 1));
    }
  };
  for (int h = 0; h < heads; ++h) {
    v1::HeadParams* head = request.mutable_hypothesis()->add_heads();
    fill(d_model, width, head->mutable_wq());
    fill(d_model, width, head->mutable_wk());
    fill(d_model, width, head->mutable_wv());
    fill(width, d_model, head->mutable_wo());
  }
  return request;
}

struct Latencies {
  std::vector<double> ms;
  double Quantile(double q) const {
    if (ms.empty()) return 0;
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    const size_t i = std::min(sorted.size() - 1,
                              static_cast<size_t>(q * (sorted.size() - 1)));
    return sorted[i];
  }
  nlohmann::json Json() const {
    return {{"count", ms.size()},
            {"p50_ms", Quantile(0.5)},
            {"p99_ms", Quantile(0.99)},
            {"max_ms", Quantile(1)}};
  }
};

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

// Small queries one after another until `stop`; every one must succeed.
Latencies QueryUntil(v1::Oracle::Stub& stub, const ClientOptions& options,
                     int d_model, const std::atomic<bool>& stop) {
  Latencies out;
  Rng rng(7);
  v1::QueryRequest request;
  request.set_challenge_id(kChallenge);
  pb::Matrix* x = request.add_sequences();
  x->set_rows(kQueryTokens);
  x->set_cols(d_model);
  for (int i = 0; i < kQueryTokens * d_model; ++i) {
    x->add_values(2 * rng.NextUniform() - 1);
  }
  while (!stop.load()) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<v1::QueryResponse> r =
        Call(stub, &v1::Oracle::Stub::Query, request, options);
    if (!r.ok()) Die("query: " + r.status().ToString());
    out.ms.push_back(MsSince(start));
  }
  return out;
}

int Main() {
  const std::string bin = absl::GetFlag(FLAGS_server_bin);
  if (bin.empty()) Die("--server_bin is required");
  const int d_model = absl::GetFlag(FLAGS_d_model);
  const int heads = absl::GetFlag(FLAGS_heads);
  const int width = absl::GetFlag(FLAGS_width);
  const int submitters = absl::GetFlag(FLAGS_submitters);
  const int submissions = absl::GetFlag(FLAGS_submissions);
  const std::string dir = (std::filesystem::temp_directory_path() /
                           absl::StrCat("attnoracle-submit-load-", getpid()))
                              .string();
  std::filesystem::create_directories(dir);
  ServerProcessOptions server_options;
  server_options.bin = bin;
  server_options.dir = dir;
  server_options.admin_token = kAdminToken;
  server_options.flags = absl::GetFlag(FLAGS_server_flags);
  ServerProcess server(std::move(server_options));
  if (absl::Status started = server.Start(); !started.ok()) {
    Die(started.ToString());
  }
  const int64_t start_rss_kib = server.PeakRssKib();

  auto admin = AdminClient::Connect(Options(server, kAdminToken));
  v1::ChallengeConfig config;
  config.set_id(kChallenge);
  config.set_title("Submit load");
  config.mutable_spec()->set_d_model(d_model);
  config.mutable_spec()->set_heads(heads);
  config.mutable_prior()->set_seed(5);
  config.mutable_policy()->mutable_budget()->set_queries(100'000'000);
  config.mutable_policy()->mutable_budget()->set_tokens(1'000'000'000);
  if (auto c = admin->CreateChallenge(config); !c.ok()) {
    Die(c.status().ToString());
  }
  std::vector<std::string> tokens;
  for (int i = 0; i <= submitters; ++i) {
    absl::StatusOr<LearnerCredentials> creds =
        admin->RegisterLearner(absl::StrCat("learner-", i));
    if (!creds.ok()) Die(creds.status().ToString());
    tokens.push_back(creds->token);
  }
  // Built before any timing: the client's cost is not the server's.
  std::vector<v1::SubmitRequest> hypotheses;
  for (int i = 0; i < submitters; ++i) {
    hypotheses.push_back(HeavyHypothesis(d_model, heads, width, 100 + i));
  }

  const ClientOptions querier = Options(server, tokens[0]);
  auto query_stub = v1::Oracle::NewStub(NewChannel(querier));
  std::atomic<bool> stop{false};
  Latencies baseline;
  {
    std::thread q(
        [&] { baseline = QueryUntil(*query_stub, querier, d_model, stop); });
    std::this_thread::sleep_for(
        std::chrono::duration<double>(absl::GetFlag(FLAGS_baseline_seconds)));
    stop = true;
    q.join();
  }

  stop = false;
  Latencies loaded;
  std::thread q(
      [&] { loaded = QueryUntil(*query_stub, querier, d_model, stop); });
  std::mutex mu;
  Latencies submit_ms;
  std::map<std::string, int> refused;  // by code
  std::atomic<int> scored{0};
  std::atomic<bool> gave_up{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < submitters; ++i) {
    threads.emplace_back([&, i] {
      const ClientOptions options = Options(server, tokens[i + 1]);
      auto stub = v1::Oracle::NewStub(NewChannel(options));
      int done = 0, in_a_row = 0;
      while (done < submissions) {
        const auto start = std::chrono::steady_clock::now();
        absl::StatusOr<v1::SubmitResponse> r =
            Call(*stub, &v1::Oracle::Stub::Submit, hypotheses[i], options);
        const double ms = MsSince(start);
        if (r.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          submit_ms.ms.push_back(ms);
          ++done;
          ++scored;
          in_a_row = 0;
          continue;
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          ++refused[absl::StatusCodeToString(r.status().code())];
        }
        if (r.status().code() != absl::StatusCode::kResourceExhausted ||
            ++in_a_row >= kMaxRefusalsInARow) {
          // Refused for good (e.g. too wide): nothing more to measure.
          std::cerr << "submit-load: submit: " << r.status() << std::endl;
          gave_up = true;
          return;
        }
        const std::optional<absl::Duration> wait = RetryAfter(r.status());
        std::this_thread::sleep_for(wait ? absl::ToChronoMilliseconds(*wait)
                                         : kDefaultRetry);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  stop = true;
  q.join();
  const int64_t peak_rss_kib = server.PeakRssKib();
  server.Stop();
  std::filesystem::remove_all(dir);

  nlohmann::json report = {{"d_model", d_model},
                           {"heads", heads},
                           {"width", width},
                           {"request_bytes", hypotheses[0].ByteSizeLong()},
                           {"submitters", submitters},
                           {"scored", scored.load()},
                           {"refused", refused},
                           {"submit", submit_ms.Json()},
                           {"query_baseline", baseline.Json()},
                           {"query_during_submissions", loaded.Json()},
                           {"server_rss_start_mib", start_rss_kib / 1024.0},
                           {"server_peak_rss_mib", peak_rss_kib / 1024.0}};
  std::cout << report.dump() << std::endl;

  const double factor = absl::GetFlag(FLAGS_max_latency_factor);
  if (factor > 0) {
    const double allowed =
        factor * std::max(baseline.Quantile(0.99), baseline.Quantile(1));
    if (scored.load() == 0) {
      std::cerr << "submit-load: no submission was scored" << std::endl;
      return 1;
    }
    if (loaded.Quantile(0.99) > allowed) {
      std::cerr << "submit-load: query p99 " << loaded.Quantile(0.99)
                << " ms during submissions exceeds " << factor
                << " x the baseline's " << allowed / factor << " ms"
                << std::endl;
      return 1;
    }
  }
  return gave_up.load() && scored.load() == 0 ? 1 : 0;
}

}  // namespace
}  // namespace attnoracle

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Query latency while heavy hypotheses are scored, against the real "
      "oracle-server.");
  absl::ParseCommandLine(argc, argv);
  return attnoracle::Main();
}
