// PostgresCluster's own promise: a cluster whose owning test binary died
// without stopping it (SIGKILL here) is stopped and removed by the next
// fixture start, and a cluster whose owner lives is left alone.
#include "tests/postgres_cluster.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace attnoracle::test {
namespace {

// The postmaster's pid: the first line of postmaster.pid.
pid_t PostmasterOf(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

bool Runs(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

TEST(PostgresClusterTest, ClusterOfAKilledOwnerIsReapedAtTheNextStart) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t owner = fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    // The owner: starts a cluster, says where, and waits to be killed.
    close(fds[0]);
    absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
        PostgresCluster::Start();
    const std::string line =
        (cluster.ok() ? (*cluster)->data_dir() : std::string()) + "\n";
    if (write(fds[1], line.data(), line.size()) < 0) _exit(1);
    close(fds[1]);
    while (true) pause();
  }
  close(fds[1]);
  std::string data_dir;
  char c = 0;
  while (read(fds[0], &c, 1) == 1 && c != '\n') data_dir.push_back(c);
  close(fds[0]);
  ASSERT_FALSE(data_dir.empty()) << "the owner's cluster did not start";
  const pid_t postmaster = PostmasterOf(data_dir);
  ASSERT_GT(postmaster, 0);
  ASSERT_TRUE(Runs(postmaster));

  ASSERT_EQ(kill(owner, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(owner, &status, 0), owner);
  // Nothing stopped it: the owner ran no destructor.
  EXPECT_TRUE(Runs(postmaster));
  EXPECT_TRUE(std::filesystem::exists(data_dir));

  absl::StatusOr<std::unique_ptr<PostgresCluster>> next =
      PostgresCluster::Start();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(std::filesystem::exists(data_dir));
  // pg_ctl stop -w returned once the postmaster was gone; its parent (init
  // or a subreaper) may take a moment to reap it.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Runs(postmaster) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_FALSE(Runs(postmaster)) << "postmaster " << postmaster << " runs on";

  // A cluster whose owner lives (this process) is left alone.
  PostgresCluster::ReapOrphans();
  EXPECT_TRUE(std::filesystem::exists((*next)->data_dir()));
  EXPECT_TRUE(Runs(PostmasterOf((*next)->data_dir())));
}

}  // namespace
}  // namespace attnoracle::test
