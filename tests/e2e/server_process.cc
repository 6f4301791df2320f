#include "tests/e2e/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace attnoracle::test {

ServerProcess::ServerProcess(ServerProcessOptions options)
    : options_(std::move(options)) {
  if (!options_.admin_token.empty()) {
    std::ofstream(token_file()) << options_.admin_token << "\n";
  }
}

ServerProcess::~ServerProcess() {
  if (running()) Kill();
}

absl::Status ServerProcess::Start() {
  int out[2];
  if (pipe(out) != 0) return absl::UnavailableError("pipe failed");
  std::vector<std::string> args = {options_.bin, "--listen",
                                   absl::StrCat("127.0.0.1:", port_), "--db",
                                   options_.db};
  if (!options_.admin_token.empty()) {
    args.push_back("--admin-token-file");
    args.push_back(token_file());
  }
  args.insert(args.end(), options_.flags.begin(), options_.flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = log_path();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int spawned = posix_spawn(&pid_, options_.bin.c_str(), &actions,
                                  nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (spawned != 0) {
    close(out[0]);
    pid_ = -1;
    return absl::UnavailableError(absl::StrCat("cannot start ", options_.bin));
  }
  stdout_ = fdopen(out[0], "r");
  char* line = nullptr;
  size_t size = 0;
  const ssize_t read = getline(&line, &size, stdout_);
  const std::string text(read > 0 ? line : "");
  free(line);
  if (read <= 0) {
    Reap();
    return absl::UnavailableError(
        absl::StrCat("the server did not start; see ", log));
  }
  const size_t at = text.find("listening on port ");
  if (at == std::string::npos) {
    Kill();
    return absl::InternalError(
        absl::StrCat("unexpected server output: ", text));
  }
  port_ = std::atoi(text.c_str() + at + 18);
  return absl::OkStatus();
}

int64_t ServerProcess::Kill() {
  const int64_t peak = PeakRssKib();
  kill(pid_, SIGKILL);
  Reap();
  return peak;
}

int64_t ServerProcess::Stop() {
  const int64_t peak = PeakRssKib();
  kill(pid_, SIGTERM);
  const int status = Reap();
  exited_cleanly_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return peak;
}

int64_t ServerProcess::PeakRssKib() const {
  std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::string ServerProcess::log_path() const {
  return absl::StrCat(options_.dir, "/", options_.log_name);
}

std::string ServerProcess::token_file() const {
  return absl::StrCat(options_.dir, "/admin.token");
}

int ServerProcess::Reap() {
  int status = 0;
  if (pid_ > 0) waitpid(pid_, &status, 0);
  pid_ = -1;
  if (stdout_ != nullptr) fclose(stdout_);
  stdout_ = nullptr;
  return status;
}

}  // namespace attnoracle::test
