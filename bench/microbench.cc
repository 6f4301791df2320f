// oracle-microbench: the oracle's hot path piece by piece, without gRPC:
// the forward pass (small and large workloads of oracle-bench), scoring a
// submission, the canonical transcript bytes and hashes of an answer, and a
// durable ledger charge (reserve + group commit) on an in-memory and on a
// file-backed SQLite store, and the whole answer to a small query. The
// process is set up for serving as oracle-server's is.
//
//   build/bin/oracle-microbench
//   build/bin/oracle-microbench --benchmark_filter=Forward
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_challenges.h"
#include "common/attention.h"
#include "common/challenge_config.h"
#include "common/hashing.h"
#include "common/layer_spec.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/transcript.h"
#include "server/core/authenticator.h"
#include "server/core/challenge_registry.h"
#include "server/core/ledger.h"
#include "server/core/memory_store.h"
#include "server/core/oracle_core.h"
#include "server/core/scorer.h"
#include "server/core/sqlite_store.h"
#include "server/service/oracle_server.h"
#include "server/serving_process.h"

namespace attnoracle {
namespace {

constexpr uint64_t kInputSeed = 99;
constexpr int kSmallTokens = 8;
constexpr int kLargeTokens = 256;

const ChallengeConfig& BenchConfig(const std::string& id) {
  static const auto* kConfigs = [] {
    auto configs = ParseChallengeSet(BenchChallengeSetText(), "bench");
    if (!configs.ok()) std::abort();
    return new std::vector<ChallengeConfig>(std::move(*configs));
  }();
  for (const ChallengeConfig& c : *kConfigs) {
    if (c.id == id) return c;
  }
  std::abort();
}

Matrix RandomInput(int rows, int cols) {
  Rng rng(DeriveSeed(kInputSeed, RngStream::kLearner, 0));
  Matrix x(rows, cols);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.NextGaussian();
  return x;
}

// FLOPs of one sequence's forward pass, as oracle-bench counts them.
double ForwardFlops(const LayerSpec& spec, int n) {
  const double d = spec.d_model, hd = spec.head_dim, vd = spec.value_dim;
  return spec.heads *
         (2.0 * n * d * hd * 2 + 2.0 * n * d * vd + 2.0 * n * n * hd +
          2.0 * n * n * vd + 2.0 * n * vd * spec.out_dim);
}

void BM_Forward(benchmark::State& state, const std::string& id, int tokens) {
  const ChallengeConfig& config = BenchConfig(id);
  const LayerParams secret = DrawSecret(config.spec, config.prior);
  const Matrix x = RandomInput(tokens, config.spec.d_model);
  Matrix out(OutputRows(config.spec, tokens), config.spec.out_dim);
  for (auto _ : state) {
    ForwardInto(config.spec, secret, x, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["FLOPS"] =
      benchmark::Counter(ForwardFlops(config.spec, tokens) * state.iterations(),
                         benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Forward, small_d16_8tokens, "bench-d16", kSmallTokens);
BENCHMARK_CAPTURE(BM_Forward, large_d256_256tokens_4heads, "bench-d256-h4",
                  kLargeTokens)
    ->Unit(benchmark::kMillisecond);

// How the forward pass grows with d_model (args 0) and tokens (args 1),
// one head.
void BM_ForwardSweep(benchmark::State& state) {
  LayerSpec raw;
  raw.d_model = static_cast<int>(state.range(0));
  const absl::StatusOr<LayerSpec> spec = ResolveSpec(raw);
  if (!spec.ok()) std::abort();
  const int tokens = static_cast<int>(state.range(1));
  const LayerParams secret = DrawSecret(*spec, Prior{0, kInputSeed});
  const Matrix x = RandomInput(tokens, spec->d_model);
  Matrix out(OutputRows(*spec, tokens), spec->out_dim);
  for (auto _ : state) {
    ForwardInto(*spec, secret, x, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["FLOPS"] =
      benchmark::Counter(ForwardFlops(*spec, tokens) * state.iterations(),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ForwardSweep)
    ->ArgsProduct({{16, 64, 256}, {8, 64, 256}})
    ->ArgNames({"d", "tokens"})
    ->Unit(benchmark::kMicrosecond);

void BM_ScoreHypothesis(benchmark::State& state) {
  const ChallengeConfig& config = BenchConfig("bench-d16");
  const LayerParams secret = DrawSecret(config.spec, config.prior);
  const Scorer scorer(config.spec, config.prior.seed, secret);
  // Another draw from the prior: a wrong but well-formed hypothesis.
  const LayerParams hypothesis = DrawSecret(config.spec, config.prior, 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(scorer.ScoreHypothesis(hypothesis, Usage{}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ScoreHypothesis)->Unit(benchmark::kMicrosecond);

// What Query computes for the transcript of a small request: the canonical
// bytes of the request and the answer, their digests and the chain hash.
void BM_TranscriptBytes(benchmark::State& state) {
  const std::vector<Matrix> request = {RandomInput(kSmallTokens, 16)};
  const std::vector<Matrix> answer = {RandomInput(kSmallTokens, 16)};
  std::string head;
  for (auto _ : state) {
    const std::string req = EncodeMatrices(request);
    const std::string resp = EncodeMatrices(answer);
    head = ChainHash(head, RequestDigest(0, req), Sha256(resp));
    benchmark::DoNotOptimize(head.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TranscriptBytes);

// One charge of a small request: Reserve, then Commit. On a file that
// waits for the committer thread's transaction (with several threads the
// charges share transactions: group commit); in memory (MemoryStore, the
// server's store without a database file) the caller writes it.
void BM_LedgerCharge(benchmark::State& state, bool on_disk) {
  static std::unique_ptr<Store> store;
  static std::unique_ptr<Ledger> ledger;
  static std::string path;
  if (state.thread_index() == 0) {
    if (on_disk) {
      char pattern[] = "/tmp/oracle-microbench-XXXXXX";
      const int fd = mkstemp(pattern);
      if (fd >= 0) close(fd);
      path = pattern;
      auto opened = SqliteStore::Open(path);
      if (!opened.ok()) std::abort();
      store = std::move(*opened);
    } else {
      store = std::make_unique<MemoryStore>();
    }
    ledger = std::make_unique<Ledger>(store.get());
    if (!ledger->Load().ok()) std::abort();
  }
  const Budget budget{uint64_t{1} << 60, uint64_t{1} << 60};
  const LedgerKey key{"bench-d16",
                      absl::StrCat("learner-", state.thread_index())};
  const std::string request =
      EncodeMatrices(std::vector<Matrix>{RandomInput(kSmallTokens, 16)});
  const std::string response = request;
  for (auto _ : state) {
    auto reservation = ledger->Reserve(key, budget, 1, kSmallTokens);
    if (!reservation.ok()) std::abort();
    auto receipt =
        ledger->Commit(key, reservation->first_query_index, request, response);
    if (!receipt.ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    ledger.reset();
    store.reset();
    if (on_disk) {
      for (const std::string& file : SqliteStore::FilesOf(path)) {
        std::remove(file.c_str());
      }
    }
  }
}
BENCHMARK_CAPTURE(BM_LedgerCharge, memory, false)
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_LedgerCharge, sqlite_file, true)
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The server's whole answer to a small request, without gRPC: checks,
// charge, forward pass, transcript bytes and digests, and the commit to an
// in-memory store (as Query's handler runs it with --db=:memory:). What
// oracle-bench's small workload adds to a bare echo, less the protobuf
// copies of the request and answer.
void BM_OracleQuery(benchmark::State& state) {
  MemoryStore store;
  ChallengeRegistry registry(&store);
  Ledger ledger(&store);
  Authenticator authenticator(&store, "");
  if (!registry.Load().ok() || !ledger.Load().ok() ||
      !registry.Create(BenchConfig("bench-d16")).ok()) {
    std::abort();
  }
  OracleCore core(&registry, &ledger, &authenticator, &store);
  const Principal caller{"learner-0", Role::kLearner};
  const Matrix x = RandomInput(kSmallTokens, 16);
  const std::vector<ConstMatrixMap> sequences = {
      ConstMatrixMap(x.data(), x.rows(), x.cols())};
  Matrix out(kSmallTokens, 16);
  const OutputAllocator allocate = [&out](size_t, int rows, int cols) {
    out.resize(rows, cols);
    return MatrixMap(out.data(), rows, cols);
  };
  const std::string challenge = "bench-d16";
  for (auto _ : state) {
    absl::StatusOr<QueryResult> result =
        core.Query(caller, challenge, sequences, allocate);
    if (!result.ok()) std::abort();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OracleQuery)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace attnoracle

int main(int argc, char** argv) {
  // Without it, every mutex acquisition in the whole-answer benchmark also
  // feeds the mutex deadlock detector, which oracle-server turns off.
  attnoracle::TuneProcessForServing();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Printed with the context; allocation is on every measured path.
  benchmark::AddCustomContext("malloc", attnoracle::MallocLibrary());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
