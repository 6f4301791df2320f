#include "common/task_pool.h"

#include <algorithm>

namespace attnoracle {

struct TaskPool::Job {
  absl::FunctionRef<void(int)> task;
  int count;
  // Guarded by the pool's mu_ (a nested type cannot name it).
  int claimed = 0;
  int finished = 0;
};

TaskPool::TaskPool(int helpers) {
  helpers_.reserve(std::max(helpers, 0));
  for (int i = 0; i < helpers; ++i) helpers_.emplace_back([this] { Help(); });
}

TaskPool::~TaskPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_or_stop_.SignalAll();
  for (std::thread& helper : helpers_) helper.join();
}

bool TaskPool::Claim(Job* job, int* index) {
  if (job->claimed == job->count) return false;
  *index = job->claimed++;
  if (job->claimed == job->count) {
    jobs_.erase(std::find(jobs_.begin(), jobs_.end(), job));
  }
  return true;
}

void TaskPool::Run(int count, absl::FunctionRef<void(int)> task) {
  if (helpers_.empty() || count <= 1) {
    for (int i = 0; i < count; ++i) task(i);
    return;
  }
  Job job{task, count};
  mu_.Lock();
  jobs_.push_back(&job);
  mu_.Unlock();
  work_or_stop_.Signal();
  mu_.Lock();
  int index;
  while (Claim(&job, &index)) {
    mu_.Unlock();
    task(index);
    mu_.Lock();
    ++job.finished;
  }
  while (job.finished < job.count) finished_.Wait(&mu_);
  mu_.Unlock();
}

void TaskPool::Help() {
  mu_.Lock();
  for (;;) {
    while (!stopping_ && jobs_.empty()) work_or_stop_.Wait(&mu_);
    if (stopping_) break;
    Job* job = jobs_.front();
    int index;
    Claim(job, &index);  // a queued job has an unclaimed task
    mu_.Unlock();
    job->task(index);
    mu_.Lock();
    if (++job->finished == job->count) finished_.SignalAll();
  }
  mu_.Unlock();
}

}  // namespace attnoracle
