// AdminServiceImpl: the gRPC edge of the Admin service (organisers). Every
// call needs the admin token; OracleCore enforces it. Like the Oracle
// service, each handler converts the request, calls OracleCore and
// finishes through ToGrpcStatus (common/grpc/grpc_status.h), so a status
// reaches the client the same way from either service.
//
// Why synchronous, beside the callback-based Oracle service: organisers
// call it a handful of times per competition, so a thread per call costs
// nothing that matters, and every call waits on the store anyway (a new
// challenge's secret, a phase, a token hash or a budget grant written
// durably; a whole transcript read for an export). ExportTranscripts hands
// the entries to a blocking ServerWriter::Write one at a time, which keeps
// the export at the client's pace; on the callback API it would need a
// write reactor of its own that holds the entries and resumes on each
// OnWriteDone. Synchronous handlers run on gRPC's threads for synchronous
// methods, not on the callback threads that answer learners, so a slow
// admin call does not hold up queries.
#ifndef ATTNORACLE_SERVER_SERVICE_ADMIN_SERVICE_H_
#define ATTNORACLE_SERVER_SERVICE_ADMIN_SERVICE_H_

#include "attnoracle/v1/admin.grpc.pb.h"
#include "server/core/authenticator.h"
#include "server/core/oracle_core.h"

namespace attnoracle {

class AdminServiceImpl final : public v1::Admin::Service {
 public:
  // `core` and `authenticator` must outlive the service.
  AdminServiceImpl(OracleCore* core, const Authenticator* authenticator);

  grpc::Status CreateChallenge(grpc::ServerContext* context,
                               const v1::CreateChallengeRequest* request,
                               v1::ChallengeInfo* response) override;
  grpc::Status SetPhase(grpc::ServerContext* context,
                        const v1::SetPhaseRequest* request,
                        v1::ChallengeInfo* response) override;
  grpc::Status RegisterLearner(grpc::ServerContext* context,
                               const v1::RegisterLearnerRequest* request,
                               v1::RegisterLearnerResponse* response) override;
  grpc::Status RevokeLearner(grpc::ServerContext* context,
                             const v1::RevokeLearnerRequest* request,
                             v1::RevokeLearnerResponse* response) override;
  grpc::Status GrantBudget(grpc::ServerContext* context,
                           const v1::GrantBudgetRequest* request,
                           v1::Usage* response) override;
  grpc::Status ExportTranscripts(
      grpc::ServerContext* context, const v1::ExportTranscriptsRequest* request,
      grpc::ServerWriter<v1::TranscriptEntry>* writer) override;

 private:
  // The handlers' work, one per method: the caller's and the core's
  // status, not yet converted.
  [[nodiscard]] absl::Status DoCreateChallenge(
      const grpc::ServerContextBase& context,
      const v1::CreateChallengeRequest& request, v1::ChallengeInfo* response);
  [[nodiscard]] absl::Status DoSetPhase(const grpc::ServerContextBase& context,
                                        const v1::SetPhaseRequest& request,
                                        v1::ChallengeInfo* response);
  [[nodiscard]] absl::Status DoRegisterLearner(
      const grpc::ServerContextBase& context,
      const v1::RegisterLearnerRequest& request,
      v1::RegisterLearnerResponse* response);
  [[nodiscard]] absl::Status DoRevokeLearner(
      const grpc::ServerContextBase& context,
      const v1::RevokeLearnerRequest& request);
  [[nodiscard]] absl::Status DoGrantBudget(
      const grpc::ServerContextBase& context,
      const v1::GrantBudgetRequest& request, v1::Usage* response);
  [[nodiscard]] absl::Status DoExportTranscripts(
      const grpc::ServerContextBase& context,
      const v1::ExportTranscriptsRequest& request,
      grpc::ServerWriter<v1::TranscriptEntry>* writer);

  OracleCore* core_;
  const Authenticator* authenticator_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_ADMIN_SERVICE_H_
