// ServerMetrics: the counters and histograms an operator watches, kept by
// the core and the gRPC edge and read by the /metrics page: queries and
// tokens answered, requests refused by status code and submissions, per
// challenge and learner; calls and their latency per RPC; the store's
// commit latency and batch size.
//
//   ServerMetrics metrics({.max_learners = 100});
//   metrics.CountAnswered("tiny-d4", "alice", /*queries=*/3, /*tokens=*/4);
//   metrics.ObserveRpc("/attnoracle.v1.Oracle/Query", "OK", 0.0012);
//   ServerMetrics::Snapshot s = metrics.Read();
//
// Label cardinality is bounded: the first `max_learners` distinct learner
// names get a label value of their own; every later one is counted under
// kOtherLabel. Challenge ids are labelled as given: callers pass only ids
// of hosted challenges (kOtherLabel for any other), so a client cannot
// grow the series by making names up.
//
// Thread-safe. No secret value passes through it: only ids, names, counts
// and durations.
#ifndef ATTNORACLE_SERVER_CORE_SERVER_METRICS_H_
#define ATTNORACLE_SERVER_CORE_SERVER_METRICS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace attnoracle {

// The label value of learners past the bound, and of challenge ids the
// server does not host.
inline constexpr char kOtherLabel[] = "other";

// Distinct RPC method names labelled by name; later ones (a client can
// name any method, even one the server does not have) count as "other".
inline constexpr size_t kMaxMethodLabels = 64;

// Learners with a label of their own when no bound is configured.
inline constexpr int kDefaultMetricsMaxLearners = 100;

struct ServerMetricsOptions {
  // Distinct learner names labelled by name (>= 0); later ones are "other".
  int max_learners = kDefaultMetricsMaxLearners;
};

// A cumulative histogram: counts[i] observations <= bounds[i], in the
// bounds' unit, plus the total count and sum.
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // cumulative, one per bound
  uint64_t count = 0;
  double sum = 0;

  explicit Histogram(std::vector<double> upper_bounds = {});
  void Observe(double value);
};

class ServerMetrics {
 public:
  // Upper bounds of the latency histograms, in seconds.
  static const std::vector<double>& LatencyBoundsSeconds();
  // Upper bounds of the commit batch-size histogram, in transcript entries.
  static const std::vector<double>& BatchSizeBounds();

  explicit ServerMetrics(const ServerMetricsOptions& options = {});

  // A query request answered and durably charged.
  void CountAnswered(absl::string_view challenge, absl::string_view learner,
                     uint64_t queries, uint64_t tokens);
  // A query or submission refused by the core with `code` (a status code
  // name, "RESOURCE_EXHAUSTED").
  void CountRefused(absl::string_view challenge, absl::string_view learner,
                    absl::string_view code);
  // A submission scored and stored.
  void CountSubmission(absl::string_view challenge, absl::string_view learner);
  // One finished RPC: its full method name (the first kMaxMethodLabels
  // names seen are labelled, later ones count as "other"), status code name
  // and duration.
  void ObserveRpc(absl::string_view method, absl::string_view code,
                  double seconds);
  // One store transaction of the group commit.
  void ObserveCommit(double seconds, uint64_t entries);

  struct LearnerCounts {
    uint64_t queries = 0;
    uint64_t tokens = 0;
    uint64_t submissions = 0;
  };
  struct Snapshot {
    // (challenge, learner) -> counts.
    std::map<std::pair<std::string, std::string>, LearnerCounts> learners;
    // (challenge, learner, code) -> requests refused.
    std::map<std::tuple<std::string, std::string, std::string>, uint64_t>
        refused;
    // (method, code) -> calls.
    std::map<std::pair<std::string, std::string>, uint64_t> rpcs;
    std::map<std::string, Histogram> rpc_seconds;  // by method
    Histogram commit_seconds;
    Histogram commit_entries;
    int labelled_learners = 0;
  };
  // A consistent copy of every value.
  Snapshot Read() const;

 private:
  // The label of `learner`: its name while the bound allows, else "other".
  std::string LearnerLabel(absl::string_view learner)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_learners_;
  mutable absl::Mutex mu_;
  std::set<std::string, std::less<>> labelled_ ABSL_GUARDED_BY(mu_);
  Snapshot values_ ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_SERVER_METRICS_H_
