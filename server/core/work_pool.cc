#include "server/core/work_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/retry_hint.h"

namespace attnoracle {
namespace {

// Weight of the newest task in the smoothed running time.
constexpr double kTaskTimeSmoothing = 0.25;

}  // namespace

WorkPool::WorkPool(const WorkPoolOptions& options) : options_(options) {
  const int threads = std::max(1, options_.threads);
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

WorkPool::~WorkPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

absl::Status WorkPool::TrySchedule(Task task, absl::string_view what) {
  absl::MutexLock lock(&mu_);
  const int idle = static_cast<int>(threads_.size()) - running_;
  const int waiting = static_cast<int>(queue_.size());
  if (waiting - idle >= options_.max_queued) {
    // A place frees up when the running tasks and those ahead are done,
    // shared over the threads.
    const absl::Duration wait = typical_task_ * (waiting + running_) /
                                static_cast<double>(threads_.size());
    const int64_t wait_ms = std::max<int64_t>(
        1, absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
    return WithRetryAfter(
        absl::ResourceExhaustedError(
            absl::StrCat("the server is busy: ", running_, " ", what,
                         "s being processed "
                         "and ",
                         waiting, " waiting, at most ", options_.max_queued,
                         " may wait; retry after ", wait_ms, " ms")),
        absl::Milliseconds(wait_ms));
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

int WorkPool::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

int WorkPool::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

void WorkPool::Work() {
  for (;;) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
            return pool->stopping_ || !pool->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    const absl::Time start = absl::Now();
    std::move(task)();
    const absl::Duration took = absl::Now() - start;
    absl::MutexLock lock(&mu_);
    --running_;
    typical_task_ =
        typical_task_ * (1 - kTaskTimeSmoothing) + took * kTaskTimeSmoothing;
  }
}

}  // namespace attnoracle
