// Helpers shared by the server tests that need no gRPC: temporary database
// files, a Store decorator to build counting or failing stores on, and the
// server core (store, registry, ledger, authenticator, OracleCore)
// assembled over a private in-memory SQLite database.
//
//   CoreHarness h;                                  // open mode
//   ASSERT_TRUE(h.registry.Create(config).ok());
//   h.core.Query(Anonymous(), config.id, ...);
//   h.store.fail = true;                            // commits fail now
//
//   SqliteStore::Open(TempDbPath("a"));             // a fresh file per test
#ifndef ATTNORACLE_TESTS_SERVER_CORE_FIXTURE_H_
#define ATTNORACLE_TESTS_SERVER_CORE_FIXTURE_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/authenticator.h"
#include "server/core/challenge_registry.h"
#include "server/core/ledger.h"
#include "server/core/oracle_core.h"
#include "server/core/sqlite_store.h"
#include "server/core/store.h"

namespace attnoracle::test {

// Removes a file and the WAL, shared-memory and journal files SQLite keeps
// beside a database.
inline void RemoveWithSidecars(const std::string& path) {
  for (const std::string& file : SqliteStore::FilesOf(path)) {
    std::remove(file.c_str());
  }
}

// The temporary files a test binary made; removed when it exits.
class TempFiles {
 public:
  static TempFiles& Get() {
    static TempFiles files;
    return files;
  }
  void Add(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    paths_.push_back(path);
  }
  ~TempFiles() {
    for (const std::string& path : paths_) RemoveWithSidecars(path);
  }

 private:
  std::mutex mu_;
  std::vector<std::string> paths_;
};

// A path in the test's temporary directory, unique to the running test,
// `tag` and process (test binaries of several build trees may run at once),
// with nothing there yet; removed with its SQLite files at exit.
inline std::string TempPath(const std::string& tag,
                            const std::string& extension) {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info == nullptr ? std::string("no-test")
                                     : absl::StrCat(info->test_suite_name(),
                                                    ".", info->name());
  std::replace(name.begin(), name.end(), '/', '_');
  const std::string path = absl::StrCat(::testing::TempDir(), "/", name, ".",
                                        tag, ".", getpid(), extension);
  RemoveWithSidecars(path);
  TempFiles::Get().Add(path);
  return path;
}

inline std::string TempDbPath(const std::string& tag = "") {
  return TempPath(tag, ".db");
}

// The whole content of a file ("" when it cannot be read).
inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Opens a SqliteStore; aborts the test binary when that fails, since
// nothing else can run without it.
inline std::unique_ptr<SqliteStore> OpenStoreOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  if (!store.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(),
                 store.status().ToString().c_str());
    std::abort();
  }
  return *std::move(store);
}

// Forwards every call to `inner` (which must outlive it); tests override
// the calls they want to observe or break.
class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store* inner) : inner_(inner) {}

  bool durable() const override { return inner_->durable(); }

  absl::StatusOr<std::vector<ChallengeRecord>> LoadChallenges() override {
    return inner_->LoadChallenges();
  }
  absl::Status InsertChallenge(const ChallengeRecord& record) override {
    return inner_->InsertChallenge(record);
  }
  absl::Status UpdatePhase(const std::string& id, Phase phase) override {
    return inner_->UpdatePhase(id, phase);
  }
  absl::StatusOr<std::vector<LearnerRecord>> LoadLearners() override {
    return inner_->LoadLearners();
  }
  absl::Status InsertLearner(const LearnerRecord& record) override {
    return inner_->InsertLearner(record);
  }
  absl::Status UpdateRevoked(const std::string& name, bool revoked) override {
    return inner_->UpdateRevoked(name, revoked);
  }
  absl::Status ReissueLearner(const std::string& name,
                              const std::string& token_hash) override {
    return inner_->ReissueLearner(name, token_hash);
  }
  absl::StatusOr<std::vector<UsageRecord>> LoadUsage() override {
    return inner_->LoadUsage();
  }
  absl::Status CommitCharges(
      std::span<const UsageRecord> usage,
      std::span<const TranscriptEntry> transcript) override {
    return inner_->CommitCharges(usage, transcript);
  }
  absl::StatusOr<std::vector<TranscriptEntry>> LoadTranscript(
      const std::string& challenge_id, const std::string& learner) override {
    return inner_->LoadTranscript(challenge_id, learner);
  }
  absl::StatusOr<std::vector<TranscriptEntry>> LoadTranscriptPage(
      const std::string& challenge_id, const std::string& learner,
      uint64_t first_index, uint64_t max_entries, size_t max_bytes,
      uint64_t* total) override {
    return inner_->LoadTranscriptPage(challenge_id, learner, first_index,
                                      max_entries, max_bytes, total);
  }
  absl::StatusOr<SubmissionRecord> InsertSubmission(
      const SubmissionRecord& record) override {
    return inner_->InsertSubmission(record);
  }
  absl::StatusOr<std::vector<SubmissionRecord>> LoadSubmissions(
      const std::string& challenge_id) override {
    return inner_->LoadSubmissions(challenge_id);
  }

 protected:
  Store* inner_;
};

// Fails CommitCharges with INTERNAL while `fail` is set; counts the calls.
class FailingStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  absl::Status CommitCharges(
      std::span<const UsageRecord> usage,
      std::span<const TranscriptEntry> transcript) override {
    calls_.fetch_add(1);
    if (fail.load()) return absl::InternalError("disk I/O error (injected)");
    return ForwardingStore::CommitCharges(usage, transcript);
  }

  int calls() const { return calls_.load(); }
  std::atomic<bool> fail{false};

 private:
  std::atomic<int> calls_{0};
};

inline Principal LearnerPrincipal(std::string name) {
  return Principal{std::move(name), Role::kLearner};
}
// Who every caller is in open mode.
inline Principal Anonymous() { return LearnerPrincipal(kAnonymousLearner); }
inline Principal AdminPrincipal() { return Principal{"", Role::kAdmin}; }

// Submissions a CoreHarness's scoring pool lets wait: room for the tests
// that race dozens of submissions at once (the queue's bound has tests of
// its own).
inline constexpr int kHarnessQueuedSubmissions = 1024;

// The server core over a private in-memory store, loaded and ready; open
// mode unless `admin_token` is given. The core sees the store through a
// FailingStore, so a test can make commits fail. Not copyable (the parts
// point at each other).
class CoreHarness {
 public:
  explicit CoreHarness(
      const std::string& admin_token = "",
      const ScoringOptions& scoring = {.threads = 1,
                                       .max_queued = kHarnessQueuedSubmissions})
      : sqlite(OpenStoreOrDie(":memory:")),
        store(sqlite.get()),
        registry(&store),
        ledger(&store),
        auth(&store, admin_token),
        core(&registry, &ledger, &auth, &store, {}, scoring) {
    EXPECT_TRUE(registry.Load().ok());
    EXPECT_TRUE(ledger.Load().ok());
    EXPECT_TRUE(auth.Load().ok());
  }
  CoreHarness(const CoreHarness&) = delete;
  CoreHarness& operator=(const CoreHarness&) = delete;

  std::unique_ptr<SqliteStore> sqlite;
  FailingStore store;
  ChallengeRegistry registry;
  Ledger ledger;
  Authenticator auth;
  OracleCore core;
};

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_SERVER_CORE_FIXTURE_H_
