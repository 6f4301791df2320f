// WorkPool: a fixed number of threads running queued tasks in order, with
// a bounded queue. The server scores submissions on one, so that however
// many or however heavy, they take at most `threads` cores and never the
// gRPC threads that answer queries; a task that finds the queue full is
// refused at once instead of waiting.
//
//   WorkPool pool({.threads = 1, .max_queued = 4});
//   absl::Status queued = pool.TrySchedule([] { ... }, "submission");
//   // RESOURCE_EXHAUSTED with a retry hint when 4 tasks wait already.
//
// Thread-safe. The destructor runs the tasks already queued, then joins
// the threads; TrySchedule must not be called once it has begun.
#ifndef ATTNORACLE_SERVER_CORE_WORK_POOL_H_
#define ATTNORACLE_SERVER_CORE_WORK_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace attnoracle {

struct WorkPoolOptions {
  // Threads running tasks (at least 1).
  int threads = 1;
  // Tasks that may wait for a thread; one more is refused (0: none waits,
  // a task is taken only when a thread is idle).
  int max_queued = 4;
};

class WorkPool {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  explicit WorkPool(const WorkPoolOptions& options);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `task` to run on a pool thread. RESOURCE_EXHAUSTED when
  // max_queued tasks wait already: the message names `what` and the
  // queue's size, and RetryAfter() estimates when a place frees up (from
  // the tasks' recent running time). `task` is destroyed unrun then.
  [[nodiscard]] absl::Status TrySchedule(Task task, absl::string_view what);

  // Tasks waiting, and running; for tests and metrics.
  int queued() const;
  int running() const;

 private:
  void Work();

  const WorkPoolOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Smoothed running time of a task, for the retry hint.
  absl::Duration typical_task_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(100);
  std::vector<std::thread> threads_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_WORK_POOL_H_
