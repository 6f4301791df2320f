// FloorServiceImpl: the required-work floor of oracle-bench. It answers
// Query for one challenge doing only what every oracle answer needs, in
// steps that add one piece each, so that each piece's cost shows as a drop
// in the ratio to the echo baseline:
//
//   shape    read the sequences and build the answer's messages, with the
//            input copied through (echo sends prebuilt bytes instead);
//   forward  + the layer's forward pass instead of the copy;
//   digests  + the transcript bytes of request and answer, their SHA-256
//            digests and the chain hash that the answer carries;
//   kept     + keeping those bytes, as a ledger that serves transcripts
//            must (copied into large blocks, as the in-memory store
//            keeps them);
//   durable  "digests" + those bytes on disk before the answer leaves,
//            instead of in memory, in group commits as the durable ledger
//            makes them: one thread writes whatever answers are pending
//            to a log file with one write and one fdatasync, then
//            finishes their calls. The log is filled with zeros when the
//            service starts and then overwritten in a cycle, as a WAL is
//            once checkpointed, so that a sync flushes data and not a
//            growing file's size. A failed write fails its group's calls
//            only: later groups are written anew, as nothing on disk
//            chains onto the failed one.
//
// The step is the request's challenge_id. Left out: the request's value
// checks (finite, within the policy's limits), precision and noise, budgets,
// rate limits, accounts, the store's indexes (for "durable", the whole
// database: a bare file), the oracle's callbacks, and the caller's token.
// What the oracle falls short of "kept" (with the in-memory ledger) or of
// "durable" (with SQLite) is what these cost, together with what differs
// between the two servers.
//
//   FloorServiceImpl floor(spec, params, "/tmp/floor-log");
//   builder.RegisterService(&floor);
//   // Query with challenge_id "forward", ...
//   // after the server has shut down: floor's destructor stops its writer
//
// Thread-safe. The kept bytes grow until Forget(); the log keeps its
// length.
#ifndef ATTNORACLE_BENCH_FLOOR_SERVICE_H_
#define ATTNORACLE_BENCH_FLOOR_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "attnoracle/bench/echo.grpc.pb.h"
#include "common/byte_blocks.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"

namespace attnoracle {

class FloorServiceImpl final : public bench::Echo::CallbackService {
 public:
  // The durable step's log length unless told otherwise.
  static constexpr uint64_t kDurableLogBytes = 64 << 20;

  // The steps, cheapest first: the challenge_ids Query answers.
  static const std::vector<std::string>& Steps();

  // `spec` resolved, `params` fitting it (as a challenge's secret does).
  // `durable_path`: the durable step's log, created or truncated here and
  // filled with `log_bytes` zero bytes; empty for none. Without a log
  // (none, or it could not be prepared) the durable step fails every
  // request, saying why; durable_status() says it at once.
  FloorServiceImpl(LayerSpec spec, LayerParams params,
                   const std::string& durable_path = "",
                   uint64_t log_bytes = kDurableLogBytes);
  // Finishes the calls still waiting on the disk, then closes the file.
  // Destroy the service only after its server has shut down.
  ~FloorServiceImpl() override;
  FloorServiceImpl(const FloorServiceImpl&) = delete;
  FloorServiceImpl& operator=(const FloorServiceImpl&) = delete;

  // OK when the durable step has its log; else FAILED_PRECONDITION saying
  // why, the status every durable request gets.
  absl::Status durable_status() const;

  // NOT_FOUND for a challenge_id that names no step; INVALID_ARGUMENT for
  // a sequence that is not tokens x d_model; for the durable step,
  // FAILED_PRECONDITION without a log and UNAVAILABLE when writing or
  // syncing it failed.
  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* context,
                                  const v1::QueryRequest* request,
                                  v1::QueryResponse* response) override;

  // Bytes kept by the "kept" step and synced by the "durable" step so far,
  // and dropping both, the log written again from its start (call between
  // runs, with no call in flight).
  uint64_t kept_bytes() const;
  uint64_t durable_bytes() const;
  void Forget();

 private:
  // Fills `response`; for the durable step also `to_write`, the bytes the
  // writer must sync before the call finishes.
  grpc::Status Answer(const v1::QueryRequest& request,
                      v1::QueryResponse* response,
                      std::optional<std::string>* to_write);
  void WriteLoop();

  const LayerSpec spec_;
  const LayerParams params_;
  std::atomic<uint64_t> next_index_{0};
  mutable absl::Mutex mu_;
  ByteBlocks kept_ ABSL_GUARDED_BY(mu_);

  // The durable step's group commit. The constructor alone sets fd_ and
  // durable_error_ (why there is no log, when fd_ < 0).
  const uint64_t log_bytes_;
  const std::string log_name_;  // how errors name the log
  int fd_ = -1;
  std::string durable_error_;
  mutable absl::Mutex write_mu_;
  std::string pending_bytes_ ABSL_GUARDED_BY(write_mu_);
  std::vector<grpc::ServerUnaryReactor*> pending_calls_
      ABSL_GUARDED_BY(write_mu_);
  uint64_t durable_bytes_ ABSL_GUARDED_BY(write_mu_) = 0;
  uint64_t write_offset_ ABSL_GUARDED_BY(write_mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(write_mu_) = false;
  std::thread writer_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_BENCH_FLOOR_SERVICE_H_
