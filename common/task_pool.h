// TaskRunner: runs the independent tasks of one call, perhaps on several
// threads; TaskPool: one that lends the call the pool's idle helper threads.
// The forward pass splits a large layer's heads and rows into such tasks, so
// a lone query uses every core while, under load, each query's thread does
// its own work and no task waits in a queue for a busy helper.
//
//   TaskPool pool(/*helpers=*/1);
//   pool.Run(4, [&](int i) { part[i] = Work(i); });  // all 4 done here
//
// Thread-safe: any number of threads may call Run at once.
#ifndef ATTNORACLE_COMMON_TASK_POOL_H_
#define ATTNORACLE_COMMON_TASK_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"

namespace attnoracle {

class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  // Runs task(0), ..., task(count - 1), each exactly once, in any order and
  // perhaps concurrently, and returns when all have returned. Tasks must
  // not call Run on the same runner.
  virtual void Run(int count, absl::FunctionRef<void(int)> task) = 0;
};

// The calling thread always works on its own tasks; `helpers` threads of
// the pool take tasks of any caller when they are idle. With 0 helpers Run
// is a plain loop on the caller.
class TaskPool final : public TaskRunner {
 public:
  explicit TaskPool(int helpers);
  // Joins the helpers; no Run may be in progress.
  ~TaskPool() override;
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void Run(int count, absl::FunctionRef<void(int)> task) override;

  int helpers() const { return static_cast<int>(helpers_.size()); }

 private:
  struct Job;

  // Takes the next unclaimed task of `job` into *index; false when all are
  // claimed. A job leaves jobs_ when its last task is claimed, so nothing
  // reaches it once its caller has seen every task finish.
  bool Claim(Job* job, int* index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Help();

  absl::Mutex mu_;
  absl::CondVar work_or_stop_;  // signalled on a new job and on stop
  absl::CondVar finished_;      // signalled when a job's last task returns
  // Jobs with unclaimed tasks, oldest first (each lives on its caller's
  // stack for the duration of Run).
  std::deque<Job*> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> helpers_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_TASK_POOL_H_
