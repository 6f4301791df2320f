// OracleServiceImpl: the gRPC edge of the Oracle service, on gRPC's callback
// API. Each handler authenticates the caller, converts the request, calls
// OracleCore, converts the answer back and maps the status once. Sample is
// not offered yet and answers UNIMPLEMENTED (the generated base class does
// that).
//
// Handlers run on gRPC's callback threads and never wait for the ledger's
// durable commit there: Query and QueryStream hand their answers on when
// OracleCore::QueryAsync calls back. The other unary handlers finish inline
// through the context's default reactor. QueryStream is a QueryStreamReactor
// (query_stream_reactor.h): it reads requests ahead of their answers,
// writes the answers in request order, and answers refused requests
// in-band.
#ifndef ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_
#define ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_

#include "attnoracle/v1/oracle.grpc.pb.h"
#include "server/core/authenticator.h"
#include "server/core/oracle_core.h"

namespace attnoracle {

class OracleServiceImpl final : public v1::Oracle::CallbackService {
 public:
  // `core` and `authenticator` must outlive the service.
  OracleServiceImpl(OracleCore* core, const Authenticator* authenticator);

  grpc::ServerUnaryReactor* ListChallenges(
      grpc::CallbackServerContext* context,
      const v1::ListChallengesRequest* request,
      v1::ListChallengesResponse* response) override;
  grpc::ServerUnaryReactor* DescribeChallenge(
      grpc::CallbackServerContext* context,
      const v1::DescribeChallengeRequest* request,
      v1::ChallengeInfo* response) override;
  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* context,
                                  const v1::QueryRequest* request,
                                  v1::QueryResponse* response) override;
  grpc::ServerBidiReactor<v1::QueryRequest, v1::QueryResponse>* QueryStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetUsage(grpc::CallbackServerContext* context,
                                     const v1::GetUsageRequest* request,
                                     v1::Usage* response) override;
  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const v1::SubmitRequest* request,
                                   v1::SubmitResponse* response) override;
  grpc::ServerUnaryReactor* GetLeaderboard(
      grpc::CallbackServerContext* context,
      const v1::GetLeaderboardRequest* request,
      v1::GetLeaderboardResponse* response) override;
  grpc::ServerUnaryReactor* GetTranscript(
      grpc::CallbackServerContext* context,
      const v1::GetTranscriptRequest* request,
      v1::GetTranscriptResponse* response) override;
  grpc::ServerUnaryReactor* GetReveal(grpc::CallbackServerContext* context,
                                      const v1::GetRevealRequest* request,
                                      v1::GetRevealResponse* response) override;

 private:
  // The handlers' work, one per method, returning the call's status.
  grpc::Status DoListChallenges(const grpc::ServerContextBase& context,
                                v1::ListChallengesResponse* response);
  grpc::Status DoDescribeChallenge(const grpc::ServerContextBase& context,
                                   const v1::DescribeChallengeRequest& request,
                                   v1::ChallengeInfo* response);
  grpc::Status DoGetUsage(const grpc::ServerContextBase& context,
                          const v1::GetUsageRequest& request,
                          v1::Usage* response);
  grpc::Status DoSubmit(const grpc::ServerContextBase& context,
                        const v1::SubmitRequest& request,
                        v1::SubmitResponse* response);
  grpc::Status DoGetLeaderboard(const grpc::ServerContextBase& context,
                                const v1::GetLeaderboardRequest& request,
                                v1::GetLeaderboardResponse* response);
  grpc::Status DoGetTranscript(const grpc::ServerContextBase& context,
                               const v1::GetTranscriptRequest& request,
                               v1::GetTranscriptResponse* response);
  grpc::Status DoGetReveal(const grpc::ServerContextBase& context,
                           const v1::GetRevealRequest& request,
                           v1::GetRevealResponse* response);

  OracleCore* core_;
  const Authenticator* authenticator_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_
