// oracle-microbench: the oracle's hot path piece by piece, without gRPC:
// the forward pass (small and large workloads of oracle-bench), scoring a
// submission, the canonical transcript bytes and hashes of an answer, and a
// durable ledger charge (reserve + group commit) on an in-memory and on a
// file-backed SQLite store, the whole answer to a small query, and a
// submission and a leaderboard read on a challenge that already has many
// submissions. The process is set up for serving as oracle-server's is.
//
//   build/bin/oracle-microbench
//   build/bin/oracle-microbench --benchmark_filter=Forward
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_challenges.h"
#include "common/answer.h"
#include "common/attention.h"
#include "common/challenge_config.h"
#include "common/codec.h"
#include "common/hashing.h"
#include "common/layer_spec.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/task_pool.h"
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
// One sequence of the regression learner's requests at d = 64
// (oracle-bench's learner-regress-d64).
BENCHMARK_CAPTURE(BM_Forward, learner_d64_9tokens, "bench-d64", 9);
BENCHMARK_CAPTURE(BM_Forward, large_d256_256tokens_4heads, "bench-d256-h4",
                  kLargeTokens)
    ->Unit(benchmark::kMillisecond);

// The large layer on a TaskPool with one helper (--forward_threads 2): the
// FLOP rate counts wall time, so two idle cores show as up to twice one.
void BM_ForwardTwoThreads(benchmark::State& state, const std::string& id,
                          int tokens) {
  const ChallengeConfig& config = BenchConfig(id);
  const LayerParams secret = DrawSecret(config.spec, config.prior);
  const Matrix x = RandomInput(tokens, config.spec.d_model);
  Matrix out(OutputRows(config.spec, tokens), config.spec.out_dim);
  TaskPool pool(/*helpers=*/1);
  for (auto _ : state) {
    ForwardInto(config.spec, secret, x, out, &pool);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["FLOPS"] =
      benchmark::Counter(ForwardFlops(config.spec, tokens) * state.iterations(),
                         benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_ForwardTwoThreads, large_d256_256tokens_4heads,
                  "bench-d256-h4", kLargeTokens)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

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

// The batched workload of oracle-bench (64 sequences of 8 tokens, d = 16)
// one stage at a time, per request: what the server does with the bytes
// gRPC hands it. `stage` 0: parse the request; 1: the 64 answers into the
// response's buffers (AnswerInto, one sequence at a time); 2: the transcript
// bytes of request and answer; 3: their digests and the chain hash; 4:
// serialize the response; 5: the whole core (OracleCore::Query on an in-memory
// store: checks, charge, answers, transcript, commit).
constexpr int kBatchedSequences = 64;

void BM_BatchedStage(benchmark::State& state) {
  const int stage = static_cast<int>(state.range(0));
  const ChallengeConfig& config = BenchConfig("bench-d16");
  const LayerParams secret = DrawSecret(config.spec, config.prior);
  v1::QueryRequest request;
  request.set_challenge_id(config.id);
  Rng rng(DeriveSeed(kInputSeed, RngStream::kLearner, 0));
  for (int s = 0; s < kBatchedSequences; ++s) {
    MatrixMap x = MutableMatrixProto(kSmallTokens, config.spec.d_model,
                                     request.add_sequences());
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      x.data()[i] = rng.NextGaussian();
    }
  }
  const std::string request_bytes = request.SerializeAsString();
  std::vector<ConstMatrixMap> inputs;
  for (const v1::Matrix& m : request.sequences()) {
    inputs.push_back(*MatrixView(m, "sequences"));
  }
  v1::QueryResponse response;
  for (int s = 0; s < kBatchedSequences; ++s) {
    MatrixMap y = MutableMatrixProto(kSmallTokens, config.spec.out_dim,
                                     response.add_outputs());
    AnswerInto(config.spec, secret, config.policy, 1, s, inputs[s], y);
  }
  std::vector<ConstMatrixMap> answers;
  for (const v1::Matrix& m : response.outputs()) {
    answers.push_back(*MatrixView(m, "outputs"));
  }
  MemoryStore store;
  ChallengeRegistry registry(&store);
  Ledger ledger(&store);
  Authenticator authenticator(&store, "");
  if (!registry.Load().ok() || !ledger.Load().ok() ||
      !registry.Create(config).ok()) {
    std::abort();
  }
  OracleCore core(&registry, &ledger, &authenticator, &store);
  const Principal caller{"learner-0", Role::kLearner};
  const std::string req = EncodeMatrices(inputs);
  const std::string resp = EncodeMatrices(answers);
  std::string head;
  uint64_t index = 0;
  for (auto _ : state) {
    switch (stage) {
      case 0: {
        v1::QueryRequest parsed;
        if (!parsed.ParseFromString(request_bytes)) std::abort();
        benchmark::DoNotOptimize(parsed.sequences_size());
        break;
      }
      case 1: {
        v1::QueryResponse out;
        std::vector<MatrixMap> outs;
        for (int s = 0; s < kBatchedSequences; ++s) {
          outs.push_back(MutableMatrixProto(kSmallTokens, config.spec.out_dim,
                                            out.add_outputs()));
        }
        for (int s = 0; s < kBatchedSequences; ++s) {
          AnswerInto(config.spec, secret, config.policy, 1, index + s,
                     inputs[s], outs[s]);
        }
        index += kBatchedSequences;
        benchmark::DoNotOptimize(out.outputs_size());
        break;
      }
      case 2: {
        const std::string a = EncodeMatrices(inputs);
        const std::string b = EncodeMatrices(answers);
        benchmark::DoNotOptimize(a.data());
        benchmark::DoNotOptimize(b.data());
        break;
      }
      case 3:
        head = ChainHash(head, RequestDigest(index++, req), Sha256(resp));
        benchmark::DoNotOptimize(head.data());
        break;
      case 4: {
        const std::string bytes = response.SerializeAsString();
        benchmark::DoNotOptimize(bytes.data());
        break;
      }
      default: {
        v1::QueryResponse out;
        for (int s = 0; s < kBatchedSequences; ++s) out.add_outputs();
        absl::StatusOr<QueryResult> result = core.Query(
            caller, config.id, inputs, [&out](size_t i, int rows, int cols) {
              return MutableMatrixProto(
                  rows, cols, out.mutable_outputs(static_cast<int>(i)));
            });
        if (!result.ok()) std::abort();
        benchmark::DoNotOptimize(out.outputs_size());
        break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BatchedStage)
    ->ArgName("stage")
    ->DenseRange(0, 5)
    ->Unit(benchmark::kMicrosecond);

// A core over an in-memory store whose challenge already has `existing`
// submissions, kSubmissionsPerLearner from each learner, with scores that
// differ; d_model 2, so that scoring a hypothesis costs little beside the
// bookkeeping around it. The leaderboard is read once before any timing,
// so that whatever the core reads from the store on first use is read.
constexpr char kSubmitChallenge[] = "bench-submit";
constexpr int kSubmitDModel = 2;
constexpr int64_t kSubmissionsPerLearner = 10;
// Submit adds a submission each iteration: a fixed count keeps the number
// existing close to the argument (within kSubmitIterations).
constexpr int64_t kSubmitIterations = 200;

class SubmissionCore {
 public:
  explicit SubmissionCore(int64_t existing)
      : registry_(&store_),
        ledger_(&store_),
        authenticator_(&store_, ""),
        core_(&registry_, &ledger_, &authenticator_, &store_) {
    ChallengeConfig config;
    config.id = kSubmitChallenge;
    config.spec = {.d_model = kSubmitDModel};
    config.prior.seed = kInputSeed;
    if (!registry_.Load().ok() || !ledger_.Load().ok() ||
        !authenticator_.Load().ok() || !registry_.Create(config).ok()) {
      std::abort();
    }
    const int64_t learners =
        std::max<int64_t>(1, existing / kSubmissionsPerLearner);
    for (int64_t i = 0; i < existing; ++i) {
      SubmissionRecord r;
      r.challenge_id = kSubmitChallenge;
      r.learner = absl::StrCat("learner-", i % learners);
      r.score.functional_rel_err = 1.0 / static_cast<double>(i + 1);
      r.score.tokens_used = static_cast<uint64_t>(i % 7);
      r.created_ms = i;
      if (!store_.InsertSubmission(r).ok()) std::abort();
    }
    if (!core_.GetLeaderboard(Principal{"", Role::kAdmin}, kSubmitChallenge)
             .ok()) {
      std::abort();
    }
  }

  OracleCore& core() { return core_; }
  LayerParams SecretFor(const std::string& learner) {
    return (*registry_.Find(kSubmitChallenge))->SecretFor(learner)->params;
  }

 private:
  MemoryStore store_;
  ChallengeRegistry registry_;
  Ledger ledger_;
  Authenticator authenticator_;
  OracleCore core_;
};

// One learner's Submit: scoring, the submission limit's count and the
// store's insert.
void BM_Submit(benchmark::State& state) {
  SubmissionCore bench(state.range(0));
  const Principal caller{"learner-0", Role::kLearner};
  const LayerParams hypothesis = bench.SecretFor(caller.name);
  const std::string challenge = kSubmitChallenge;
  for (auto _ : state) {
    absl::StatusOr<SubmitResult> result =
        bench.core().Submit(caller, challenge, hypothesis);
    if (!result.ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Submit)
    ->ArgName("existing")
    ->Arg(10)
    ->Arg(1000)
    ->Arg(10000)
    ->Iterations(kSubmitIterations)
    ->Unit(benchmark::kMicrosecond);

// A learner's read of the whole leaderboard (best submission per learner,
// ranked, as the viewer may see it).
void BM_Leaderboard(benchmark::State& state) {
  SubmissionCore bench(state.range(0));
  const Principal viewer{"learner-0", Role::kLearner};
  const std::string challenge = kSubmitChallenge;
  for (auto _ : state) {
    absl::StatusOr<std::vector<LeaderboardRow>> rows =
        bench.core().GetLeaderboard(viewer, challenge);
    if (!rows.ok()) std::abort();
    benchmark::DoNotOptimize(rows->data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Leaderboard)
    ->ArgName("existing")
    ->Arg(10)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond);

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
