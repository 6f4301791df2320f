// OracleServer: a running oracle (store, registry, ledger, authenticator,
// core, gRPC services, health and reflection) built from an Options struct.
//
//   absl::StatusOr<std::unique_ptr<OracleServer>> s =
//       OracleServer::BuildAndStart({.listen_address = "127.0.0.1:0"});
//   int port = (*s)->port();
//   (*s)->Shutdown();   // stop accepting, finish in-flight calls
#ifndef ATTNORACLE_SERVER_SERVICE_ORACLE_SERVER_H_
#define ATTNORACLE_SERVER_SERVICE_ORACLE_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/authenticator.h"
#include "server/core/challenge_registry.h"
#include "server/core/ledger.h"
#include "server/core/oracle_core.h"
#include "server/core/store.h"
#include "server/service/admin_service.h"
#include "server/service/oracle_service.h"

namespace attnoracle {

struct ServerOptions {
  // host:port; port 0 picks a free port (read it back with port()). Empty:
  // no network listener, for in-process tests.
  std::string listen_address = "127.0.0.1:50051";
  // A ChallengeSet text file; empty loads the built-in default set. Its
  // challenges are created in the store unless it has them already (with
  // exactly the same configuration).
  std::string config_path;
  // SQLite database; empty: a private in-memory one (nothing survives).
  std::string db_path;
  // Competition mode when not empty: every call needs a token.
  std::string admin_token;
  // Largest request accepted, in bytes (gRPC's default is 4 MiB).
  int max_receive_message_bytes = 64 << 20;
  // Largest request metadata (headers) accepted, in bytes.
  int max_metadata_bytes = 8 << 10;
  // Default request rate per learner and the cap on concurrent streams.
  RateLimiterOptions rate_limits;
};

class OracleServer {
 public:
  // INVALID_ARGUMENT or NOT_FOUND for a bad configuration file, address or
  // limit,
  // FAILED_PRECONDITION when the store holds a different challenge of the
  // same id, UNAVAILABLE when the database cannot be opened or the address
  // cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<OracleServer>>
  BuildAndStart(const ServerOptions& options);

  ~OracleServer();

  int port() const { return port_; }
  // A channel to this server that bypasses the network.
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Stops accepting calls and waits for in-flight calls, cancelling those
  // still running after `grace`. Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Blocks until the server has shut down.
  void Wait();

  const ChallengeRegistry& registry() const { return *registry_; }
  bool competition_mode() const { return authenticator_->competition_mode(); }

 private:
  OracleServer() = default;

  // Declared in dependency order: destroyed in reverse, server first.
  std::unique_ptr<Store> store_;
  std::unique_ptr<ChallengeRegistry> registry_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<OracleCore> core_;
  std::unique_ptr<OracleServiceImpl> oracle_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_ORACLE_SERVER_H_
