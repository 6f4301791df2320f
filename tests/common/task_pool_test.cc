// TaskPool runs every task of every caller exactly once, lends idle helpers,
// and the forward pass gives the same bits whether or not it splits a layer
// into tasks (heads, output rows) on a pool.
#include "common/task_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/attention.h"
#include "common/prior.h"
#include "common/rng.h"

namespace attnoracle {
namespace {

constexpr int kTasks = 100;
constexpr int kCallers = 8;
constexpr int kRunsPerCaller = 50;
constexpr absl::Duration kHelperDeadline = absl::Seconds(30);

TEST(TaskPoolTest, RunsEveryTaskOnce) {
  for (int helpers : {0, 1, 3}) {
    TaskPool pool(helpers);
    std::vector<std::atomic<int>> runs(kTasks);
    pool.Run(kTasks, [&](int i) { runs[i].fetch_add(1); });
    for (int i = 0; i < kTasks; ++i) {
      EXPECT_EQ(runs[i].load(), 1) << "task " << i << ", helpers " << helpers;
    }
    pool.Run(0, [](int) { ADD_FAILURE() << "a task of an empty run"; });
  }
}

TEST(TaskPoolTest, ConcurrentCallersEachGetTheirOwnTasksDone) {
  TaskPool pool(2);
  std::vector<std::thread> callers;
  std::vector<int> sums(kCallers, 0);
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&pool, &sums, c] {
      for (int r = 0; r < kRunsPerCaller; ++r) {
        std::vector<int> out(7, 0);
        pool.Run(7, [&](int i) { out[i] = c * 100 + i; });
        for (int i = 0; i < 7; ++i) sums[c] += out[i] == c * 100 + i ? 1 : 0;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  for (int c = 0; c < kCallers; ++c) {
    EXPECT_EQ(sums[c], 7 * kRunsPerCaller) << "caller " << c;
  }
}

TEST(TaskPoolTest, AnIdleHelperTakesATaskWhileTheCallerWorks) {
  TaskPool pool(1);
  // A CondVar, whose timed wait ThreadSanitizer builds see
  // (tests/tsan_absl_mutex.cc); Debian's absl::Notification locks inside
  // the library, out of their sight.
  absl::Mutex mu;
  absl::CondVar ran;
  bool second_ran = false;
  bool waited = false;
  std::thread::id first_thread, second_thread;
  pool.Run(2, [&](int i) {
    if (i == 0) {
      first_thread = std::this_thread::get_id();
      // Only another thread can run task 1 while this one waits here.
      const absl::Time deadline = absl::Now() + kHelperDeadline;
      absl::MutexLock lock(&mu);
      while (!second_ran && !ran.WaitWithDeadline(&mu, deadline)) {
      }
      waited = second_ran;
    } else {
      second_thread = std::this_thread::get_id();
      absl::MutexLock lock(&mu);
      second_ran = true;
      ran.Signal();
    }
  });
  EXPECT_TRUE(waited) << "task 1 did not run while task 0 was running";
  EXPECT_NE(first_thread, second_thread);
}

// Counts the runs that were split, so the bit test below cannot pass by
// never splitting.
class CountingRunner final : public TaskRunner {
 public:
  explicit CountingRunner(TaskRunner* inner) : inner_(inner) {}
  void Run(int count, absl::FunctionRef<void(int)> task) override {
    if (count > 1) split_runs_.fetch_add(1);
    inner_->Run(count, task);
  }
  int split_runs() const { return split_runs_.load(); }

 private:
  TaskRunner* inner_;
  std::atomic<int> split_runs_{0};
};

struct SplitCase {
  const char* name;
  LayerSpec spec;
  int tokens;
};

Matrix Input(int tokens, int d, uint64_t seed) {
  Rng rng(seed);
  Matrix x(tokens, d);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.NextGaussian();
  return x;
}

TEST(ForwardOnPoolTest, SplitLayersKeepEveryBit) {
  const FfnSpec ffn{.hidden = 300, .biases = true, .residual = true};
  const SplitCase cases[] = {
      {"d256_4heads", {.d_model = 256, .heads = 4}, 256},
      {"causal_biases_odd_rows",
       {.d_model = 192, .heads = 3, .mask = Mask::kCausal, .biases = true},
       203},
      {"grouped", {.d_model = 256, .heads = 4, .kv_heads = 2}, 160},
      {"multi_query_linear",
       {.d_model = 128,
        .heads = 4,
        .kv_heads = 1,
        .attention = Attention::kLinear},
       250},
      {"ffn", {.d_model = 128, .heads = 2, .has_ffn = true, .ffn = ffn}, 200},
      {"stack_last",
       {.d_model = 128,
        .heads = 2,
        .readout = Readout::kLast,
        .layers = 2,
        .residual = true},
       300},
      {"tied", {.d_model = 128, .heads = 2, .tie_qk = true}, 257},
  };
  TaskPool pool(3);
  uint64_t seed = 1;
  for (const SplitCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<LayerSpec> spec = ResolveSpec(c.spec);
    ASSERT_TRUE(spec.ok()) << spec.status();
    const LayerParams params =
        DrawSecret(*spec, Prior{.scale = 0, .seed = seed});
    const Matrix x = Input(c.tokens, spec->d_model, ++seed);
    const Matrix alone = Forward(*spec, params, x);
    CountingRunner runner(&pool);
    const Matrix split = Forward(*spec, params, x, &runner);
    EXPECT_GT(runner.split_runs(), 0) << "the layer was never split";
    ASSERT_EQ(split.rows(), alone.rows());
    ASSERT_EQ(split.cols(), alone.cols());
    EXPECT_EQ(
        std::memcmp(split.data(), alone.data(), sizeof(double) * alone.size()),
        0)
        << "max difference " << (split - alone).cwiseAbs().maxCoeff();
  }
}

TEST(ForwardOnPoolTest, SmallLayersStayOnTheCallersThread) {
  const LayerSpec spec = *ResolveSpec({.d_model = 16, .heads = 2});
  const LayerParams params = DrawSecret(spec, Prior{.scale = 0, .seed = 3});
  TaskPool pool(1);
  CountingRunner runner(&pool);
  const Matrix x = Input(8, 16, 4);
  const Matrix y = Forward(spec, params, x, &runner);
  EXPECT_EQ(runner.split_runs(), 0);
  EXPECT_EQ(std::memcmp(y.data(), Forward(spec, params, x).data(),
                        sizeof(double) * y.size()),
            0);
}

}  // namespace
}  // namespace attnoracle
