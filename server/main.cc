// oracle-server: hosts secret attention layers and answers queries over gRPC.
//
//   oracle-server                                # built-in challenges on
//   127.0.0.1:50051 oracle-server --listen 0.0.0.0:6000 --config
//   configs/default.textproto
//
// SIGTERM or SIGINT: stop accepting calls, finish those in flight, exit 0.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "server/service/oracle_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "Address to listen on, host:port. Port 0 picks a free port; the "
          "chosen one is printed on stdout.");
ABSL_FLAG(std::string, config, "",
          "Challenge configuration file (protobuf text format of "
          "attnoracle.v1.ChallengeSet). Empty: the built-in challenges of "
          "configs/default.textproto.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Hosts secret attention layers and answers learners' queries over "
      "gRPC.\nUsage: oracle-server [--listen HOST:PORT] [--config FILE]");
  absl::ParseCommandLine(argc, argv);

  // Block the stop signals before any thread starts, so only the waiter
  // below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  attnoracle::ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.config_path = absl::GetFlag(FLAGS_config);
  auto server = attnoracle::OracleServer::BuildAndStart(options);
  if (!server.ok()) {
    std::cerr << "oracle-server: " << server.status().message() << "\n";
    return 1;
  }
  const auto challenges = (*server)->registry().List();
  std::cout << "oracle-server listening on port " << (*server)->port() << " ("
            << options.listen_address << "), " << challenges.size()
            << " challenges" << std::endl;

  std::thread waiter([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    std::cerr << "oracle-server: signal " << signal
              << ", finishing in-flight calls" << std::endl;
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  std::cerr << "oracle-server: stopped" << std::endl;
  return 0;
}
