// ServerProcess: the real oracle-server binary run by an end-to-end tool
// (soak, submit-load, fault): started with its flags, its port read from the
// first line it prints, its stderr appended to one log file, killed with
// SIGKILL or stopped with SIGTERM, and restarted on the same port (and so,
// behind a load balancer, at the same address).
//
//   ServerProcess server({.bin = "build/bin/oracle-server", .dir = dir,
//                         .db = dir + "/oracle.db",
//                         .admin_token = "token"});
//   if (absl::Status s = server.Start(); !s.ok()) ...   // port 0: a free one
//   server.Kill();                                      // SIGKILL
//   if (absl::Status s = server.Start(); !s.ok()) ...   // the same port again
//   server.Stop();
//
// Not thread-safe: one thread starts, kills and stops it.
#ifndef ATTNORACLE_TESTS_E2E_SERVER_PROCESS_H_
#define ATTNORACLE_TESTS_E2E_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace attnoracle::test {

struct ServerProcessOptions {
  std::string bin;
  // Holds the log (server.log, or log_name) and the admin token file.
  std::string dir;
  // The server's --db: a file, ":memory:", or a database URI.
  std::string db = ":memory:";
  // Competition mode when not empty (passed through --admin-token-file).
  std::string admin_token;
  // The log's file name in dir; several servers sharing dir need their own.
  std::string log_name = "server.log";
  // More flags, after the ones above.
  std::vector<std::string> flags;
};

class ServerProcess {
 public:
  explicit ServerProcess(ServerProcessOptions options);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server on 127.0.0.1 and the last port it had (a free one the
  // first time) and waits until it listens. UNAVAILABLE when it cannot be
  // spawned or exits before printing its port (its log says why), INTERNAL
  // when it prints something else.
  [[nodiscard]] absl::Status Start();
  // SIGKILL and reap; returns the peak RSS (KiB) it reached, -1 unknown.
  int64_t Kill();
  // SIGTERM and reap; returns the peak RSS (KiB). exited_cleanly() tells
  // whether it exited with status 0.
  int64_t Stop();
  // VmHWM of the running process (KiB), -1 when unknown.
  int64_t PeakRssKib() const;

  bool running() const { return pid_ > 0; }
  // The running server's process id, -1 when none runs.
  pid_t pid() const { return pid_; }
  bool exited_cleanly() const { return exited_cleanly_; }
  int port() const { return port_; }
  std::string address() const;
  std::string log_path() const;
  std::string token_file() const;

 private:
  int Reap();

  ServerProcessOptions options_;
  pid_t pid_ = -1;
  FILE* stdout_ = nullptr;
  int port_ = 0;
  bool exited_cleanly_ = false;
};

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_E2E_SERVER_PROCESS_H_
