// WorkPool: tasks run in order on the pool's threads, a full queue is
// refused at once with a retry hint, and queued tasks run before the pool
// is destroyed.
#include "server/core/work_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/retry_hint.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

TEST(WorkPoolTest, RunsTasksInOrderOffTheCallingThread) {
  std::vector<int> order;
  absl::Notification all_done;
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> on_caller{false};
  {
    WorkPool pool({.threads = 1, .max_queued = 8});
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(pool.TrySchedule(
                          [&, i] {
                            if (std::this_thread::get_id() == caller) {
                              on_caller = true;
                            }
                            order.push_back(i);
                            if (i == 4) all_done.Notify();
                          },
                          "task")
                      .ok());
    }
    all_done.WaitForNotification();
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_FALSE(on_caller);
}

TEST(WorkPoolTest, FullQueueIsRefusedWithRetryHint) {
  WorkPool pool({.threads = 1, .max_queued = 2});
  absl::Notification started, release;
  ASSERT_TRUE(pool.TrySchedule(
                      [&] {
                        started.Notify();
                        release.WaitForNotification();
                      },
                      "submission")
                  .ok());
  started.WaitForNotification();  // the thread is busy now
  std::atomic<int> ran{0};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(pool.TrySchedule([&] { ++ran; }, "submission").ok()) << i;
  }
  EXPECT_EQ(pool.queued(), 2);
  EXPECT_EQ(pool.running(), 1);
  const absl::Status refused = pool.TrySchedule([&] { ++ran; }, "submission");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("at most 2 may wait"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("submission"));
  const std::optional<absl::Duration> wait = RetryAfter(refused);
  ASSERT_TRUE(wait.has_value());
  EXPECT_GE(*wait, absl::Milliseconds(1));
  release.Notify();
  // A place frees up once the queue drains.
  while (ran.load() < 2) std::this_thread::yield();
  absl::Notification last;
  ASSERT_TRUE(pool.TrySchedule([&] { last.Notify(); }, "submission").ok());
  last.WaitForNotification();
}

TEST(WorkPoolTest, NoQueueTakesATaskOnlyWhenAThreadIsIdle) {
  WorkPool pool({.threads = 1, .max_queued = 0});
  absl::Notification started, release;
  ASSERT_TRUE(pool.TrySchedule(
                      [&] {
                        started.Notify();
                        release.WaitForNotification();
                      },
                      "task")
                  .ok());
  started.WaitForNotification();
  EXPECT_EQ(pool.TrySchedule([] {}, "task").code(),
            absl::StatusCode::kResourceExhausted);
  release.Notify();
}

TEST(WorkPoolTest, DestructorRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    WorkPool pool({.threads = 2, .max_queued = 16});
    for (int i = 0; i < 16; ++i) {
      ASSERT_TRUE(pool.TrySchedule([&] { ++ran; }, "task").ok());
    }
  }
  EXPECT_EQ(ran.load(), 16);
}

}  // namespace
}  // namespace attnoracle
