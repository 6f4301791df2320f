// OracleServiceImpl: the gRPC edge of the Oracle service, on gRPC's callback
// API. Each handler authenticates the caller, converts the request, calls
// OracleCore (which answers with absl::Status or StatusOr), converts the
// answer back, and finishes through ToGrpcStatus (common/grpc/grpc_status.h),
// the one conversion to grpc::Status, which also sends a rate-limited
// status's retry hint as trailing metadata. That holds for every unary call
// and for QueryStream when it refuses the whole stream; a request refused
// inside an open stream is answered in-band (QueryResponse.error) and the
// stream goes on. Sample answers like Query, with examples the server
// draws, where the challenge's policy offers them.
//
// Handlers run on gRPC's callback threads and never wait for the ledger's
// durable commit there: Query and QueryStream hand their answers on when
// OracleCore::QueryAsync calls back, Sample when OracleCore::SampleAsync
// does, and Submit when the scoring pool has scored the hypothesis
// (OracleCore::SubmitAsync). Top-k answers, which the core writes as
// (index, value) pair matrices, leave in the responses' top_k field. The
// other unary handlers finish inline through the context's default reactor.
// QueryStream is a QueryStreamReactor (query_stream_reactor.h): it reads
// requests ahead of their answers, writes the answers in request order, and
// answers refused requests
// in-band.
#ifndef ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_
#define ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_

#include "attnoracle/v1/oracle.grpc.pb.h"
#include "server/core/authenticator.h"
#include "server/core/oracle_core.h"

namespace attnoracle {

// v1::Oracle::CallbackService with every implemented method registered raw:
// the handlers parse the request bytes themselves, because gRPC's callback
// API answers bytes it cannot parse with UNIMPLEMENTED and no message (and
// on a stream, as if the client had half-closed). Unparsable bytes get
// INVALID_ARGUMENT "the request could not be parsed as <type>"; on
// QueryStream an in-band error (query_stream_reactor.h).
using OracleCallbackBase = v1::Oracle::WithRawCallbackMethod_ListChallenges<
    v1::Oracle::WithRawCallbackMethod_DescribeChallenge<
        v1::Oracle::WithRawCallbackMethod_Query<
            v1::Oracle::WithRawCallbackMethod_QueryStream<
                v1::Oracle::WithRawCallbackMethod_Sample<
                    v1::Oracle::WithRawCallbackMethod_GetUsage<
                        v1::Oracle::WithRawCallbackMethod_Submit<
                            v1::Oracle::WithRawCallbackMethod_GetLeaderboard<
                                v1::Oracle::WithRawCallbackMethod_GetTranscript<
                                    v1::Oracle::WithRawCallbackMethod_GetReveal<
                                        v1::Oracle::Service>>>>>>>>>>;

// Default of OracleServiceOptions::max_submission_bytes: a hypothesis of
// 2M float64 parameters (e.g. 4 heads at d_model 256 at full width with
// room to spare, or theta and omega given whole); a challenge with more
// needs the server's --max_submission_mib raised.
inline constexpr size_t kDefaultMaxSubmissionBytes = size_t{16} << 20;

struct OracleServiceOptions {
  // Largest SubmitRequest taken, in bytes, checked before it is parsed; a
  // larger one is INVALID_ARGUMENT. Below the message size limit, because
  // scoring a hypothesis holds it several times over.
  size_t max_submission_bytes = kDefaultMaxSubmissionBytes;
};

class OracleServiceImpl final : public OracleCallbackBase {
 public:
  // `core` and `authenticator` must outlive the service.
  OracleServiceImpl(OracleCore* core, const Authenticator* authenticator,
                    const OracleServiceOptions& options = {});

  // The learner RPCs of oracle.proto, on raw bytes (see above).
  grpc::ServerUnaryReactor* ListChallenges(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DescribeChallenge(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* QueryStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Sample(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetUsage(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetLeaderboard(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetTranscript(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetReveal(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;

 private:
  // The unary handlers' work, one per method: the caller's and the core's
  // status, not yet converted.
  [[nodiscard]] absl::Status DoListChallenges(
      const grpc::ServerContextBase& context,
      v1::ListChallengesResponse* response);
  [[nodiscard]] absl::Status DoDescribeChallenge(
      const grpc::ServerContextBase& context,
      const v1::DescribeChallengeRequest& request, v1::ChallengeInfo* response);
  [[nodiscard]] absl::Status DoGetUsage(const grpc::ServerContextBase& context,
                                        const v1::GetUsageRequest& request,
                                        v1::Usage* response);
  // Submit up to the core's SubmitAsync: the caller and the hypothesis
  // converted, the scoring queued. On OK `done` gets the result later.
  [[nodiscard]] absl::Status StartSubmit(const grpc::ServerContextBase& context,
                                         const v1::SubmitRequest& request,
                                         SubmitCallback done);
  [[nodiscard]] absl::Status DoGetLeaderboard(
      const grpc::ServerContextBase& context,
      const v1::GetLeaderboardRequest& request,
      v1::GetLeaderboardResponse* response);
  [[nodiscard]] absl::Status DoGetTranscript(
      const grpc::ServerContextBase& context,
      const v1::GetTranscriptRequest& request,
      v1::GetTranscriptResponse* response);
  [[nodiscard]] absl::Status DoGetReveal(const grpc::ServerContextBase& context,
                                         const v1::GetRevealRequest& request,
                                         v1::GetRevealResponse* response);

  OracleCore* core_;
  const Authenticator* authenticator_;
  const OracleServiceOptions options_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_
