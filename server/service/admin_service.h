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
// admin call does not hold up queries. Each method takes the generated
// "streamed" form, which hands the handler the call's reader and writer on
// those same threads: reading the request itself, a handler can answer
// bytes that do not parse with INVALID_ARGUMENT.
#ifndef ATTNORACLE_SERVER_SERVICE_ADMIN_SERVICE_H_
#define ATTNORACLE_SERVER_SERVICE_ADMIN_SERVICE_H_

#include "attnoracle/v1/admin.grpc.pb.h"
#include "server/core/authenticator.h"
#include "server/core/oracle_core.h"

namespace attnoracle {

// v1::Admin::Service with every method "streamed": each handler reads its
// request itself (ServerUnaryStreamer / ServerSplitStreamer, still on
// gRPC's synchronous threads), so that bytes that do not parse get
// INVALID_ARGUMENT "the request could not be parsed as <type>"
// (request_parse.h) instead of gRPC's bare answer.
class AdminServiceImpl final : public v1::Admin::StreamedService {
 public:
  // `core` and `authenticator` must outlive the service.
  AdminServiceImpl(OracleCore* core, const Authenticator* authenticator);

  grpc::Status StreamedCreateChallenge(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::CreateChallengeRequest, v1::ChallengeInfo>*
          stream) override;
  grpc::Status StreamedSetPhase(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::SetPhaseRequest, v1::ChallengeInfo>* stream)
      override;
  grpc::Status StreamedRegisterLearner(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::RegisterLearnerRequest,
                                v1::RegisterLearnerResponse>* stream) override;
  grpc::Status StreamedRevokeLearner(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::RevokeLearnerRequest,
                                v1::RevokeLearnerResponse>* stream) override;
  grpc::Status StreamedGrantBudget(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::GrantBudgetRequest, v1::Usage>* stream)
      override;
  grpc::Status StreamedExportTranscripts(
      grpc::ServerContext* context,
      grpc::ServerSplitStreamer<v1::ExportTranscriptsRequest,
                                v1::TranscriptEntry>* stream) override;

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
      const v1::RevokeLearnerRequest& request, v1::RevokeLearnerResponse*);
  [[nodiscard]] absl::Status DoGrantBudget(
      const grpc::ServerContextBase& context,
      const v1::GrantBudgetRequest& request, v1::Usage* response);
  [[nodiscard]] absl::Status DoExportTranscripts(
      const grpc::ServerContextBase& context,
      const v1::ExportTranscriptsRequest& request,
      grpc::ServerSplitStreamer<v1::ExportTranscriptsRequest,
                                v1::TranscriptEntry>* stream);

  OracleCore* core_;
  const Authenticator* authenticator_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_ADMIN_SERVICE_H_
