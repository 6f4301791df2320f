#include "server/service/oracle_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/core/sqlite_store.h"

namespace attnoracle {

namespace {

// gRPC takes "host:99999" and listens on 99999 - 65536: check the port here.
absl::Status CheckListenAddress(const std::string& address) {
  if (address.empty()) return absl::OkStatus();
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address,
                     "\" must be HOST:PORT with a port from 0 to 65535"));
  }
  return absl::OkStatus();
}

absl::Status CheckLimits(const ServerOptions& o) {
  if (o.max_receive_message_bytes <= 0 || o.max_metadata_bytes <= 0) {
    return absl::InvalidArgumentError(
        "the largest message and metadata sizes must be positive");
  }
  const RateLimiterOptions& r = o.rate_limits;
  if (!std::isfinite(r.default_requests_per_second) ||
      r.default_requests_per_second < 0 || r.default_request_burst < 0) {
    return absl::InvalidArgumentError(
        "the default request rate and burst must be finite and >= 0");
  }
  if (r.max_streams_per_learner < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_streams_per_learner = ", r.max_streams_per_learner,
                     " must be at least 1"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<OracleServer>> OracleServer::BuildAndStart(
    const ServerOptions& options) {
  ATTN_RETURN_IF_ERROR(CheckListenAddress(options.listen_address));
  ATTN_RETURN_IF_ERROR(CheckLimits(options));
  std::vector<ChallengeConfig> configs;
  if (options.config_path.empty()) {
    ATTN_ASSIGN_OR_RETURN(configs, ParseChallengeSet(DefaultChallengeSetText(),
                                                     "built-in challenges"));
  } else {
    ATTN_ASSIGN_OR_RETURN(configs, LoadChallengeSet(options.config_path));
  }
  std::unique_ptr<OracleServer> s(new OracleServer());
  ATTN_ASSIGN_OR_RETURN(
      s->store_, SqliteStore::Open(options.db_path.empty() ? ":memory:"
                                                           : options.db_path));
  s->registry_ = std::make_unique<ChallengeRegistry>(s->store_.get());
  ATTN_RETURN_IF_ERROR(s->registry_->Load());
  for (const ChallengeConfig& config : configs) {
    ATTN_RETURN_IF_ERROR(s->registry_->Ensure(config));
  }
  s->ledger_ = std::make_unique<Ledger>(s->store_.get());
  ATTN_RETURN_IF_ERROR(s->ledger_->Load());
  s->authenticator_ =
      std::make_unique<Authenticator>(s->store_.get(), options.admin_token);
  ATTN_RETURN_IF_ERROR(s->authenticator_->Load());
  s->core_ = std::make_unique<OracleCore>(s->registry_.get(), s->ledger_.get(),
                                          s->authenticator_.get(),
                                          s->store_.get(), options.rate_limits);
  s->oracle_service_ = std::make_unique<OracleServiceImpl>(
      s->core_.get(), s->authenticator_.get());
  s->admin_service_ = std::make_unique<AdminServiceImpl>(
      s->core_.get(), s->authenticator_.get());

  grpc::EnableDefaultHealthCheckService(true);
  // Without this call the linker drops the reflection plugin.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!options.listen_address.empty()) {
    builder.AddListeningPort(options.listen_address,
                             grpc::InsecureServerCredentials(), &s->port_);
  }
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE,
                             options.max_metadata_bytes);
  builder.RegisterService(s->oracle_service_.get());
  builder.RegisterService(s->admin_service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr ||
      (!options.listen_address.empty() && s->port_ == 0)) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on \"", options.listen_address,
                     "\" (address in use or not valid)"));
  }
  return s;
}

OracleServer::~OracleServer() {
  // BuildAndStart destroys a half-built server when it cannot listen.
  if (server_ == nullptr) return;
  Shutdown(std::chrono::milliseconds(0));
  Wait();
}

std::shared_ptr<grpc::Channel> OracleServer::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return server_->InProcessChannel(args);
}

void OracleServer::Shutdown(std::chrono::milliseconds grace) {
  server_->Shutdown(std::chrono::system_clock::now() + grace);
}

void OracleServer::Wait() { server_->Wait(); }

}  // namespace attnoracle
