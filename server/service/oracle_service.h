// OracleServiceImpl: the gRPC edge of the Oracle service. Each handler
// authenticates the caller, converts the request, calls OracleCore,
// converts the answer back and maps the status once. Sample is not offered
// yet and answers UNIMPLEMENTED (the generated base class does that).
#ifndef ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_
#define ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_

#include "attnoracle/v1/oracle.grpc.pb.h"
#include "server/core/authenticator.h"
#include "server/core/oracle_core.h"

namespace attnoracle {

class OracleServiceImpl final : public v1::Oracle::Service {
 public:
  // `core` and `authenticator` must outlive the service.
  OracleServiceImpl(OracleCore* core, const Authenticator* authenticator);

  grpc::Status ListChallenges(grpc::ServerContext* context,
                              const v1::ListChallengesRequest* request,
                              v1::ListChallengesResponse* response) override;
  grpc::Status DescribeChallenge(grpc::ServerContext* context,
                                 const v1::DescribeChallengeRequest* request,
                                 v1::ChallengeInfo* response) override;
  grpc::Status Query(grpc::ServerContext* context,
                     const v1::QueryRequest* request,
                     v1::QueryResponse* response) override;
  grpc::Status QueryStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::QueryResponse, v1::QueryRequest>* stream)
      override;
  grpc::Status GetUsage(grpc::ServerContext* context,
                        const v1::GetUsageRequest* request,
                        v1::Usage* response) override;
  grpc::Status Submit(grpc::ServerContext* context,
                      const v1::SubmitRequest* request,
                      v1::SubmitResponse* response) override;
  grpc::Status GetLeaderboard(grpc::ServerContext* context,
                              const v1::GetLeaderboardRequest* request,
                              v1::GetLeaderboardResponse* response) override;
  grpc::Status GetTranscript(grpc::ServerContext* context,
                             const v1::GetTranscriptRequest* request,
                             v1::GetTranscriptResponse* response) override;
  grpc::Status GetReveal(grpc::ServerContext* context,
                         const v1::GetRevealRequest* request,
                         v1::GetRevealResponse* response) override;

 private:
  absl::Status Answer(const Principal& caller, const v1::QueryRequest& request,
                      v1::QueryResponse* response);

  OracleCore* core_;
  const Authenticator* authenticator_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_
