// PostgresCluster: a throwaway PostgreSQL cluster for tests. It runs
// initdb (trust authentication, C locale) into a fresh temporary directory,
// starts the server on a free loopback port with its socket in that
// directory, and in its destructor stops it (pg_ctl stop -m fast) and
// removes the directory. initdb refuses root: as root the directory is
// given to the unprivileged user "postgres" (Debian's postgresql-15 makes
// it) and the programs run through runuser.
//
// A test binary that dies (SIGKILL, a crash, ctest's timeout) runs no
// destructor, and its cluster would run on. So each cluster's directory
// records its owner (file "owner": the owner's pid and its start time from
// /proc, which tells a reused pid apart), and Start first stops (pg_ctl
// stop -m immediate) and removes every cluster of this fixture whose owner
// is gone.
//
// One cluster per test binary (PostgresEnvironment, a gtest Environment),
// a fresh database per test (NewDatabase):
//
//   ::testing::AddGlobalTestEnvironment(new test::PostgresEnvironment);
//   std::string uri = test::PostgresEnvironment::cluster().NewDatabase();
//
// Nothing is skipped: without the PostgreSQL programs the environment's
// set-up fails, saying to run scripts/deps.sh.
#ifndef ATTNORACLE_TESTS_POSTGRES_CLUSTER_H_
#define ATTNORACLE_TESTS_POSTGRES_CLUSTER_H_

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace attnoracle::test {

struct PostgresClusterOptions {
  // Off for tests (their commits then cost no disk flush); on for
  // measurements of durable commits (replica-bench).
  bool fsync = false;
};

class PostgresCluster {
 public:
  // FAILED_PRECONDITION naming scripts/deps.sh when the programs are
  // missing; INTERNAL with the server's log when it does not start.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(
      const PostgresClusterOptions& options = {});
  ~PostgresCluster();

  // A URI for the maintenance database "postgres".
  std::string AdminUri() const { return UriOf("postgres"); }
  // Creates database t_N (a new N each call) and returns its URI; aborts
  // the test binary when that fails.
  std::string NewDatabase();
  std::string UriOf(const std::string& database) const;
  int port() const { return port_; }

  // Stops and removes the clusters under `tmp_dir` (attnoracle-pg-*) whose
  // owner process is gone; returns how many. Start calls it on /tmp.
  static int ReapOrphans(const std::string& tmp_dir = "/tmp");
  // The data directory (postmaster.pid is in it).
  std::string data_dir() const { return dir_ + "/data"; }
  // The postmaster's pid (from postmaster.pid), -1 when unknown.
  int postmaster_pid() const;

  // Where Debian's postgresql-15 puts initdb and pg_ctl; the environment
  // variable ATTNORACLE_PG_BINDIR overrides it.
  static std::string BinDir();

 private:
  PostgresCluster(std::string dir, int port) : dir_(dir), port_(port) {}
  std::string dir_;  // the temporary directory; data in dir_/data
  int port_;
  std::atomic<int> databases_{0};
};

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
  // The binary's cluster; set-up failed (and the binary fails) without one.
  static PostgresCluster& cluster();
};

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_POSTGRES_CLUSTER_H_
