// The client side of oracle-bench: keeps a fixed number of Query requests in
// flight against a server for a while, over unary calls or bidi streams,
// with gRPC's asynchronous CompletionQueue API driven by the calling thread
// (so the client never shares gRPC's callback threads with an in-process
// server), and records each request's latency.
//
//   QueryMethods oracle = QueryMethodsOf(oracle_stub.get());
//   LoadResult r = RunUnary(oracle, request, /*in_flight=*/64,
//                           absl::Milliseconds(500));
//
// The same functions drive the Oracle service and the bench's Echo
// baseline, so both are measured by identical client code.
#ifndef ATTNORACLE_BENCH_LOAD_DRIVER_H_
#define ATTNORACLE_BENCH_LOAD_DRIVER_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "attnoracle/v1/oracle.grpc.pb.h"

namespace attnoracle {

// How to start the two query methods on some service's stub.
struct QueryMethods {
  std::function<std::unique_ptr<
      grpc::ClientAsyncResponseReader<v1::QueryResponse>>(
      grpc::ClientContext*, const v1::QueryRequest&, grpc::CompletionQueue*)>
      prepare_unary;
  std::function<std::unique_ptr<
      grpc::ClientAsyncReaderWriter<v1::QueryRequest, v1::QueryResponse>>(
      grpc::ClientContext*, grpc::CompletionQueue*)>
      prepare_stream;
};

// Works for any generated stub with Query and QueryStream of the Oracle's
// message types (v1::Oracle::Stub, bench::Echo::Stub). `stub` must outlive
// the result.
template <typename Stub>
QueryMethods QueryMethodsOf(Stub* stub) {
  return QueryMethods{
      [stub](grpc::ClientContext* context, const v1::QueryRequest& request,
             grpc::CompletionQueue* cq) {
        return stub->PrepareAsyncQuery(context, request, cq);
      },
      [stub](grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return stub->PrepareAsyncQueryStream(context, cq);
      }};
}

struct LoadResult {
  uint64_t requests = 0;  // answered without error
  uint64_t failures = 0;  // refused calls or in-band errors
  std::string first_error;
  double seconds = 0;                  // wall time of the run
  std::vector<uint32_t> latencies_us;  // one per answered request
  // What the whole process (client and any in-process server) spent during
  // the run: CPU time and context switches, from getrusage.
  double cpu_seconds = 0;
  uint64_t context_switches = 0;

  // Adds another run's counts, time and latencies to this one.
  void Merge(const LoadResult& other);
};

// Options of one run; `metadata` is added to every call (for example an
// authorization header).
struct LoadOptions {
  int in_flight = 1;
  // Streams only: requests are spread over min(in_flight, streams) streams.
  int streams = 4;
  absl::Duration duration = absl::Milliseconds(500);
  std::vector<std::pair<std::string, std::string>> metadata;
  // Unary calls only: when not empty, each call also carries the entry
  // (rotating_key, v) with v the next of rotating_values, round and round,
  // so that one client speaks as many callers (open-mode learner names).
  std::string rotating_key;
  std::vector<std::string> rotating_values;
};

// Unary calls: `in_flight` calls outstanding at all times until the
// duration has passed, then waits for the last ones.
LoadResult RunUnary(const QueryMethods& methods,
                    const v1::QueryRequest& request,
                    const LoadOptions& options);

// Bidi streams: each stream keeps its share of `in_flight` requests written
// ahead of the answers it has read.
LoadResult RunStream(const QueryMethods& methods,
                     const v1::QueryRequest& request,
                     const LoadOptions& options);

// The q-quantile (0 <= q <= 1) of `latencies_us`, nearest rank; 0 when
// empty. Sorts its argument.
uint32_t Percentile(std::vector<uint32_t>& latencies_us, double q);

}  // namespace attnoracle

#endif  // ATTNORACLE_BENCH_LOAD_DRIVER_H_
