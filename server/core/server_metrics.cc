#include "server/core/server_metrics.h"

#include <algorithm>

namespace attnoracle {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), counts(bounds.size(), 0) {}

void Histogram::Observe(double value) {
  // Cumulative buckets: every bound at or above the value counts it.
  const auto first =
      std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();
  for (size_t i = static_cast<size_t>(first); i < counts.size(); ++i) {
    ++counts[i];
  }
  ++count;
  sum += value;
}

const std::vector<double>& ServerMetrics::LatencyBoundsSeconds() {
  // From a cached in-memory answer (tens of microseconds) to a slow fsync or
  // a large scoring (seconds).
  static const std::vector<double> bounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return bounds;
}

const std::vector<double>& ServerMetrics::BatchSizeBounds() {
  static const std::vector<double> bounds = {1,  2,   4,   8,   16,  32,
                                             64, 128, 256, 512, 1024};
  return bounds;
}

ServerMetrics::ServerMetrics(const ServerMetricsOptions& options)
    : max_learners_(std::max(options.max_learners, 0)) {
  values_.commit_seconds = Histogram(LatencyBoundsSeconds());
  values_.commit_entries = Histogram(BatchSizeBounds());
}

std::string ServerMetrics::LearnerLabel(absl::string_view learner) {
  if (labelled_.find(learner) != labelled_.end()) return std::string(learner);
  if (static_cast<int>(labelled_.size()) < max_learners_) {
    labelled_.emplace(learner);
    values_.labelled_learners = static_cast<int>(labelled_.size());
    return std::string(learner);
  }
  return kOtherLabel;
}

void ServerMetrics::CountAnswered(absl::string_view challenge,
                                  absl::string_view learner, uint64_t queries,
                                  uint64_t tokens) {
  absl::MutexLock lock(&mu_);
  LearnerCounts& c =
      values_.learners[{std::string(challenge), LearnerLabel(learner)}];
  c.queries += queries;
  c.tokens += tokens;
}

void ServerMetrics::CountRefused(absl::string_view challenge,
                                 absl::string_view learner,
                                 absl::string_view code) {
  absl::MutexLock lock(&mu_);
  ++values_.refused[{std::string(challenge), LearnerLabel(learner),
                     std::string(code)}];
}

void ServerMetrics::CountSubmission(absl::string_view challenge,
                                    absl::string_view learner) {
  absl::MutexLock lock(&mu_);
  ++values_.learners[{std::string(challenge), LearnerLabel(learner)}]
        .submissions;
}

void ServerMetrics::ObserveRpc(absl::string_view method, absl::string_view code,
                               double seconds) {
  absl::MutexLock lock(&mu_);
  std::string label(method);
  if (values_.rpc_seconds.find(label) == values_.rpc_seconds.end() &&
      values_.rpc_seconds.size() >= kMaxMethodLabels) {
    label = kOtherLabel;
  }
  ++values_.rpcs[{label, std::string(code)}];
  auto [it, added] =
      values_.rpc_seconds.try_emplace(label, Histogram(LatencyBoundsSeconds()));
  it->second.Observe(seconds);
}

void ServerMetrics::ObserveCommit(double seconds, uint64_t entries) {
  absl::MutexLock lock(&mu_);
  values_.commit_seconds.Observe(seconds);
  values_.commit_entries.Observe(static_cast<double>(entries));
}

ServerMetrics::Snapshot ServerMetrics::Read() const {
  absl::MutexLock lock(&mu_);
  return values_;
}

}  // namespace attnoracle
