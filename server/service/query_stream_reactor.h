// QueryStreamReactor: the server side of a QueryStream (a bidi stream of
// QueryRequest in, QueryResponse out), with the answering left to a
// subclass. It reads requests as they come, up to kMaxRequestsInFlight
// ahead of the answers, has each answered (Answer may finish on any
// thread), and writes the answers in request order, each once it is ready,
// until the client half-closes or goes away. A refused request is answered
// in-band (QueryResponse.error) so the stream goes on; so is a message that
// does not parse as a QueryRequest (INVALID_ARGUMENT, request_id 0). Deletes
// itself when gRPC is done with it.
//
// It reads and writes raw bytes and parses them itself: gRPC's typed
// callback API reports a message it cannot parse exactly as it reports the
// client's half-close, so a garbage message used to end the stream with OK
// and drop everything after it. The service must register QueryStream raw
// (the generated WithRawCallbackMethod_QueryStream).
//
//   class MyStream final : public QueryStreamReactor {
//    public:
//     MyStream() { Start(); }  // or Finish(status) to refuse the stream
//    private:
//     void Answer(const v1::QueryRequest& request, v1::QueryResponse* response,
//                 AnswerDone done) override { ...; done(absl::OkStatus()); }
//   };
//
// Construct it in the service's (raw) QueryStream method and return it from
// there: gRPC holds back the operations its constructor starts until the
// method has returned it, so no reaction runs on a half-built subclass.
#ifndef ATTNORACLE_SERVER_SERVICE_QUERY_STREAM_REACTOR_H_
#define ATTNORACLE_SERVER_SERVICE_QUERY_STREAM_REACTOR_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "attnoracle/v1/oracle.pb.h"

namespace attnoracle {

class QueryStreamReactor
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // The in-band error's message for a stream message that does not parse.
  static constexpr char kUnparsableMessage[] =
      "a stream message could not be parsed as attnoracle.v1.QueryRequest";

  // Requests of one stream read ahead of their answers: up to this many
  // are being answered or waiting to be written at once, so a stream is
  // not limited to one answer (for the oracle, one commit) at a time.
  static constexpr size_t kMaxRequestsInFlight = 16;

  void OnReadDone(bool ok) final;
  void OnWriteDone(bool ok) final;
  void OnDone() final { delete this; }

 protected:
  // Called once per request: OK once the answer is in the response, or the
  // error that refused the request (sent in-band in its place).
  using AnswerDone = std::function<void(const absl::Status& status)>;

  QueryStreamReactor() = default;
  ~QueryStreamReactor() override = default;

  // Starts reading. A subclass's constructor calls either this or Finish
  // (to refuse the whole stream), once.
  void Start();

  // Answers `request` into `response` (cleared, and left alone until
  // `done`). `done` must be called exactly once, on any thread, possibly
  // before Answer returns; both arguments live until then.
  virtual void Answer(const v1::QueryRequest& request,
                      v1::QueryResponse* response, AnswerDone done) = 0;

 private:
  // One request of the stream and its answer, from read to written.
  struct Slot {
    grpc::ByteBuffer request_bytes;  // as read; parsed into request
    v1::QueryRequest request;
    v1::QueryResponse response;
    grpc::ByteBuffer response_bytes;  // response, serialised once answered
    bool answered = false;
  };
  // gRPC operations decided under mu_, started after releasing it, because
  // gRPC may run a reaction inside the call that starts an operation.
  struct Actions {
    grpc::ByteBuffer* read = nullptr;
    const grpc::ByteBuffer* write = nullptr;
    // More answers are ready behind `write`: gRPC may hold it back and
    // send them together (the last one of a run is sent at once).
    bool more_ready = false;
    bool finish = false;
  };

  void Answered(Slot* slot, const absl::Status& status);
  Actions NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Actions StartReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Recycle(std::unique_ptr<Slot> slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Act(const Actions& actions);

  // Reactions run on gRPC's threads and answers may arrive on any thread,
  // so the state is under mu_.
  absl::Mutex mu_;
  // Read or being read, in request order; the front is written next. The
  // slot being read is the back while reading_.
  std::deque<std::unique_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Slot>> free_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_reading_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_QUERY_STREAM_REACTOR_H_
