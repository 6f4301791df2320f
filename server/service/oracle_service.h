// OracleServiceImpl: the gRPC edge of the Oracle service. Each handler
// converts the request, calls OracleCore, converts the answer back and maps
// the status once. RPCs of later milestones answer UNIMPLEMENTED (the
// generated base class does that).
#ifndef ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_
#define ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_

#include <string>

#include "attnoracle/v1/oracle.grpc.pb.h"
#include "server/core/oracle_core.h"

namespace attnoracle {

class OracleServiceImpl final : public v1::Oracle::Service {
 public:
  // `core` must outlive the service.
  explicit OracleServiceImpl(OracleCore* core);

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

 private:
  // The learner a call speaks for. Until tokens exist every caller is
  // "anonymous".
  std::string LearnerOf(const grpc::ServerContext& context) const;
  absl::Status Answer(const std::string& learner,
                      const v1::QueryRequest& request,
                      v1::QueryResponse* response);
  absl::Status ScoreSubmission(const std::string& learner,
                               const v1::SubmitRequest& request,
                               v1::SubmitResponse* response);

  OracleCore* core_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_ORACLE_SERVICE_H_
