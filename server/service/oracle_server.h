// OracleServer: a running oracle (registry, ledger, core, gRPC services,
// health and reflection) built from an Options struct.
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
#include "attnoracle/v1/admin.grpc.pb.h"
#include "server/core/challenge_registry.h"
#include "server/core/memory_ledger.h"
#include "server/core/oracle_core.h"
#include "server/service/oracle_service.h"

namespace attnoracle {

struct ServerOptions {
  // host:port; port 0 picks a free port (read it back with port()). Empty:
  // no network listener, for in-process tests.
  std::string listen_address = "127.0.0.1:50051";
  // A ChallengeSet text file; empty loads the built-in default set.
  std::string config_path;
  // Largest request accepted, in bytes (gRPC's default is 4 MiB).
  int max_receive_message_bytes = 64 << 20;
};

class OracleServer {
 public:
  // INVALID_ARGUMENT or NOT_FOUND for a bad configuration file,
  // UNAVAILABLE when the address cannot be bound.
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

  const ChallengeRegistry& registry() const { return registry_; }

 private:
  OracleServer() = default;

  ChallengeRegistry registry_;
  MemoryLedger ledger_;
  std::unique_ptr<OracleCore> core_;
  std::unique_ptr<OracleServiceImpl> oracle_service_;
  std::unique_ptr<v1::Admin::Service> admin_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_ORACLE_SERVER_H_
