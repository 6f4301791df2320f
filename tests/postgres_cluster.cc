#include "tests/postgres_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace attnoracle::test {
namespace {

// The unprivileged user the cluster runs as when the tests run as root.
constexpr char kClusterUser[] = "postgres";
// Attempts at a port that another process may take between our probe and
// the server's bind.
constexpr int kStartAttempts = 3;

// Runs `args` (args[0] by path) with stdout and stderr appended to `log`;
// true when it exits with 0.
bool RunProgram(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (const std::string& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// `args` run as kClusterUser when we are root, else as ourselves.
std::vector<std::string> AsClusterUser(std::vector<std::string> args) {
  if (geteuid() != 0) return args;
  std::vector<std::string> out = {"/usr/sbin/runuser", "-u", kClusterUser,
                                  "--"};
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

// A loopback port nobody listens on at this moment.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

PostgresCluster* g_cluster = nullptr;

// The fixture's directories: kDirPrefix + six characters from mkdtemp.
constexpr char kDirPrefix[] = "attnoracle-pg-";
// The file in a cluster's directory naming its owner: "PID STARTTIME".
constexpr char kOwnerFile[] = "owner";

// The start time of process `pid` (field 22 of /proc/PID/stat, in clock
// ticks since boot), or empty when there is no such process.
std::string StartTimeOf(pid_t pid) {
  const std::string stat = ReadAll(absl::StrCat("/proc/", pid, "/stat"));
  // The command (field 2) is in parentheses and may hold spaces.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
  }
  return field;
}

// This process, as the owner file records it.
std::string OwnerLine() {
  return absl::StrCat(getpid(), " ", StartTimeOf(getpid()));
}

// Whether the owner recorded in `dir` still runs. A directory without an
// owner file is taken to be alive: its owner may be between mkdtemp and
// writing the file.
bool OwnerAlive(const std::string& dir) {
  std::ifstream in(dir + "/" + kOwnerFile);
  if (!in) return true;
  long pid = 0;
  std::string start;
  if (!(in >> pid >> start) || pid <= 0) return false;
  return StartTimeOf(static_cast<pid_t>(pid)) == start;
}

}  // namespace

std::string PostgresCluster::BinDir() {
  const char* dir = std::getenv("ATTNORACLE_PG_BINDIR");
  return dir != nullptr ? dir : "/usr/lib/postgresql/15/bin";
}

int PostgresCluster::ReapOrphans(const std::string& tmp_dir) {
  int reaped = 0;
  std::error_code error;
  for (const std::filesystem::directory_entry& entry :
       std::filesystem::directory_iterator(tmp_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kDirPrefix, 0) != 0 || !entry.is_directory(error)) continue;
    const std::string dir = entry.path().string();
    if (OwnerAlive(dir)) continue;
    if (std::filesystem::exists(dir + "/data/postmaster.pid", error)) {
      RunProgram(AsClusterUser({BinDir() + "/pg_ctl", "-D", dir + "/data", "-m",
                                "immediate", "-w", "stop"}),
                 "/dev/null");
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    ++reaped;
  }
  return reaped;
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(
    const PostgresClusterOptions& cluster_options) {
  const int reaped = ReapOrphans();
  if (reaped > 0) {
    std::fprintf(stderr,
                 "stopped and removed %d PostgreSQL test cluster(s) whose "
                 "owner had died\n",
                 reaped);
  }
  const std::string bin = BinDir();
  for (const char* program : {"initdb", "pg_ctl", "postgres"}) {
    if (access(absl::StrCat(bin, "/", program).c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("no ", bin, "/", program,
                       ": the PostgreSQL tests need postgresql-15; run "
                       "scripts/deps.sh"));
    }
  }
  char pattern[] = "/tmp/attnoracle-pg-XXXXXX";  // kDirPrefix
  if (mkdtemp(pattern) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  const std::string dir = pattern;
  {
    std::ofstream owner(dir + "/" + kOwnerFile);
    owner << OwnerLine() << "\n";
  }
  if (geteuid() == 0) {
    const passwd* user = getpwnam(kClusterUser);
    if (user == nullptr ||
        chown(dir.c_str(), user->pw_uid, user->pw_gid) != 0) {
      std::filesystem::remove_all(dir);
      return absl::FailedPreconditionError(absl::StrCat(
          "running as root, the cluster needs the unprivileged user \"",
          kClusterUser, "\" (postgresql-15 makes it; run scripts/deps.sh)"));
    }
  }
  const std::string log = dir + "/log";
  const std::string data = dir + "/data";
  if (!RunProgram(AsClusterUser({bin + "/initdb", "-D", data, "-U", "app",
                                 "--auth=trust", "--no-locale", "-E", "UTF8",
                                 "--no-sync"}),
                  dir + "/initdb.log")) {
    const std::string output = ReadAll(dir + "/initdb.log");
    std::filesystem::remove_all(dir);
    return absl::InternalError(absl::StrCat("initdb failed: ", output));
  }
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    const int port = FreePort();
    // fsync off by default: a test cluster never outlives a crash, and the
    // tests' commits then cost no disk flushes on a shared machine.
    const std::string options = absl::StrCat(
        "-p ", port, " -k ", dir, " -c listen_addresses=127.0.0.1 -c fsync=",
        cluster_options.fsync ? "on" : "off", " -c max_connections=200");
    if (RunProgram(AsClusterUser({bin + "/pg_ctl", "-D", data, "-l", log, "-o",
                                  options, "-w", "-t", "60", "start"}),
                   dir + "/pg_ctl.log")) {
      return std::unique_ptr<PostgresCluster>(new PostgresCluster(dir, port));
    }
  }
  const std::string output = ReadAll(log);
  std::filesystem::remove_all(dir);
  return absl::InternalError(
      absl::StrCat("the PostgreSQL server did not start: ", output));
}

PostgresCluster::~PostgresCluster() {
  RunProgram(AsClusterUser({BinDir() + "/pg_ctl", "-D", dir_ + "/data", "-m",
                            "fast", "-w", "stop"}),
             dir_ + "/pg_ctl.log");
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

int PostgresCluster::postmaster_pid() const {
  std::ifstream in(data_dir() + "/postmaster.pid");
  int pid = -1;
  if (!(in >> pid)) return -1;
  return pid;
}

std::string PostgresCluster::UriOf(const std::string& database) const {
  return absl::StrCat("postgresql://app@127.0.0.1:", port_, "/", database);
}

std::string PostgresCluster::NewDatabase() {
  const std::string name = absl::StrCat("t_", databases_.fetch_add(1));
  PGconn* conn = PQconnectdb(AdminUri().c_str());
  PGresult* r = PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) {
    std::fprintf(stderr, "cannot create database %s: %s\n", name.c_str(),
                 PQerrorMessage(conn));
  }
  PQclear(r);
  PQfinish(conn);
  if (!ok) std::abort();
  return UriOf(name);
}

void PostgresEnvironment::SetUp() {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      PostgresCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  g_cluster = cluster->release();
}

void PostgresEnvironment::TearDown() {
  delete g_cluster;
  g_cluster = nullptr;
}

PostgresCluster& PostgresEnvironment::cluster() {
  if (g_cluster == nullptr) {
    std::fprintf(stderr,
                 "no PostgreSQL cluster: its set-up failed (see above)\n");
    std::abort();
  }
  return *g_cluster;
}

}  // namespace attnoracle::test
