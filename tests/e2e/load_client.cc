// load-client: drives an oracle-server with concurrent unary queries and
// counts the answers it received, for the crash test and for measuring the
// charged-query rate. Each thread keeps one request in flight and stops at
// its first failure (for example when the server is killed).
//
//   load-client --server 127.0.0.1:PORT --challenge single-head-d16
//               --threads 8 --sequences 4 --seconds 2 [--tls_ca ca.pem]
//
// Prints "running" on stdout once the first answer arrived, then at the
// end one JSON line: answered_queries, answered_requests, failed_requests,
// queries_per_second, threads, sequences_per_request.
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "client/oracle_client.h"
#include "common/rng.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "Oracle server host:port.");
ABSL_FLAG(std::string, challenge, "single-head-d16", "Challenge to query.");
ABSL_FLAG(std::string, token, "", "Learner token (competition mode).");
ABSL_FLAG(int, threads, 8, "Concurrent requests in flight.");
ABSL_FLAG(int, sequences, 4, "Sequences per request.");
ABSL_FLAG(int, tokens, 4, "Tokens per sequence.");
ABSL_FLAG(double, seconds, 2, "Stop after this long.");
ABSL_FLAG(std::string, tls_ca, "", "Connect over TLS, trusting this PEM CA.");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate (mutual TLS).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name checked against the server's certificate.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Concurrent query load against oracle-server.");
  absl::ParseCommandLine(argc, argv);
  attnoracle::ClientOptions options;
  options.server = absl::GetFlag(FLAGS_server);
  options.token = absl::GetFlag(FLAGS_token);
  options.deadline = std::chrono::seconds(10);
  absl::StatusOr<attnoracle::ClientTlsOptions> tls = attnoracle::ReadClientTls(
      {.ca_path = absl::GetFlag(FLAGS_tls_ca),
       .cert_path = absl::GetFlag(FLAGS_tls_cert),
       .key_path = absl::GetFlag(FLAGS_tls_key),
       .server_name = absl::GetFlag(FLAGS_tls_server_name)});
  if (!tls.ok()) {
    std::cerr << "load-client: " << tls.status() << "\n";
    return 2;
  }
  options.tls = *std::move(tls);
  auto client = attnoracle::OracleClient::Connect(options);
  const std::string challenge = absl::GetFlag(FLAGS_challenge);
  absl::StatusOr<attnoracle::ChallengeInfo> info = client->Describe(challenge);
  if (!info.ok()) {
    std::cerr << "load-client: " << info.status() << "\n";
    return 1;
  }
  const int threads = absl::GetFlag(FLAGS_threads);
  const int sequences = absl::GetFlag(FLAGS_sequences);
  const int tokens = absl::GetFlag(FLAGS_tokens);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds));

  std::atomic<uint64_t> answered_queries{0}, answered_requests{0},
      failed_requests{0};
  std::once_flag first_answer;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      attnoracle::Rng rng(attnoracle::DeriveSeed(
          7, attnoracle::RngStream::kLearner, static_cast<uint64_t>(t)));
      std::vector<attnoracle::Matrix> batch(
          sequences, attnoracle::Matrix(tokens, info->spec.d_model));
      while (std::chrono::steady_clock::now() < deadline) {
        for (auto& x : batch) {
          for (Eigen::Index i = 0; i < x.size(); ++i) {
            x.data()[i] = rng.NextGaussian();
          }
        }
        absl::StatusOr<attnoracle::QueryAnswer> answer =
            client->Query(challenge, batch);
        if (!answer.ok()) {
          ++failed_requests;
          return;
        }
        answered_queries += answer->outputs.size();
        ++answered_requests;
        std::call_once(first_answer,
                       [] { std::cout << "running" << std::endl; });
      }
    });
  }
  for (auto& w : workers) w.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::cout << "{\"answered_queries\": " << answered_queries
            << ", \"answered_requests\": " << answered_requests
            << ", \"failed_requests\": " << failed_requests
            << ", \"queries_per_second\": " << answered_queries / elapsed
            << ", \"threads\": " << threads
            << ", \"sequences_per_request\": " << sequences << "}" << std::endl;
  return 0;
}
