// Handover: waits on this thread for a result that a callback delivers,
// perhaps on another thread. The hand-over is an absl::Mutex, which
// ThreadSanitizer is told about in the project's sanitizer builds
// (tests/tsan_absl_mutex.cc); absl::Notification synchronises through
// atomics inside Debian's uninstrumented abseil, so a wait that finds it
// already notified looks like a race there.
//
//   Handover<absl::StatusOr<QueryResult>> handover;
//   QueryAsync(..., handover.Callback());
//   absl::StatusOr<QueryResult> result = handover.Wait();
//
// The callback shares the state, so it may outlive the Handover; Wait must
// be called only when the callback will be called (once).
#ifndef ATTNORACLE_SERVER_CORE_HANDOVER_H_
#define ATTNORACLE_SERVER_CORE_HANDOVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace attnoracle {

template <typename T>
class Handover {
 public:
  std::function<void(T)> Callback() const {
    return [state = state_](T result) {
      absl::MutexLock lock(&state->mu);
      state->result.emplace(std::move(result));
    };
  }

  T Wait() {
    absl::MutexLock lock(&state_->mu);
    state_->mu.Await(absl::Condition(
        +[](std::optional<T>* result) { return result->has_value(); },
        &state_->result));
    return std::move(*state_->result);
  }

 private:
  struct State {
    absl::Mutex mu;
    std::optional<T> result ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_HANDOVER_H_
