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
//            keeps them).
//
// The step is the request's challenge_id. Left out: the request's value
// checks (finite, within the policy's limits), precision and noise, budgets,
// rate limits, accounts, the store's indexes, the oracle's callbacks, and
// the caller's token. What the oracle falls short of "kept" is what these
// cost, together with what differs between the two servers.
//
//   FloorServiceImpl floor(spec, params);
//   builder.RegisterService(&floor);
//   // Query with challenge_id "forward", ...
//
// Thread-safe. The kept bytes grow until Forget().
#ifndef ATTNORACLE_BENCH_FLOOR_SERVICE_H_
#define ATTNORACLE_BENCH_FLOOR_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "attnoracle/bench/echo.grpc.pb.h"
#include "common/byte_blocks.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"

namespace attnoracle {

class FloorServiceImpl final : public bench::Echo::CallbackService {
 public:
  // The steps, cheapest first: the challenge_ids Query answers.
  static const std::vector<std::string>& Steps();

  // `spec` resolved, `params` fitting it (as a challenge's secret does).
  FloorServiceImpl(LayerSpec spec, LayerParams params);

  // NOT_FOUND for a challenge_id that names no step; INVALID_ARGUMENT for
  // a sequence that is not tokens x d_model.
  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* context,
                                  const v1::QueryRequest* request,
                                  v1::QueryResponse* response) override;

  // Bytes kept by the "kept" step so far, and dropping them.
  uint64_t kept_bytes() const;
  void Forget();

 private:
  grpc::Status Answer(const v1::QueryRequest& request,
                      v1::QueryResponse* response);

  const LayerSpec spec_;
  const LayerParams params_;
  std::atomic<uint64_t> next_index_{0};
  mutable absl::Mutex mu_;
  ByteBlocks kept_ ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_BENCH_FLOOR_SERVICE_H_
