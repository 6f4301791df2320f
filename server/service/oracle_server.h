// OracleServer: a running oracle (store, registry, ledger, authenticator,
// core, gRPC services, health and reflection) built from an Options struct.
//
//   absl::StatusOr<std::unique_ptr<OracleServer>> s =
//       OracleServer::BuildAndStart({.listen_address = "127.0.0.1:0"});
//   int port = (*s)->port();
//   (*s)->Shutdown();   // stop accepting, finish in-flight calls
//
// With TLS: .tls = {.cert_path = "server.pem", .key_path = "server.key"}, and
// .client_ca_path = "ca.pem" for mutual TLS.
#ifndef ATTNORACLE_SERVER_SERVICE_ORACLE_SERVER_H_
#define ATTNORACLE_SERVER_SERVICE_ORACLE_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/core/authenticator.h"
#include "server/core/challenge_registry.h"
#include "server/core/ledger.h"
#include "server/core/oracle_core.h"
#include "server/core/server_metrics.h"
#include "server/core/store.h"
#include "server/service/admin_service.h"
#include "server/service/oracle_service.h"

namespace attnoracle {

// PEM files of the listener's TLS setup. All empty: a plaintext listener.
struct ServerTlsOptions {
  // The server's certificate chain and its private key; both or neither.
  std::string cert_path;
  std::string key_path;
  // Mutual TLS when not empty: every client must present a certificate
  // signed by a CA in this file, or the handshake fails.
  std::string client_ca_path;

  bool enabled() const { return !cert_path.empty() || !key_path.empty(); }
};

struct ServerOptions {
  // host:port; port 0 picks a free port (read it back with port()). Empty:
  // no network listener, for in-process tests.
  std::string listen_address = "127.0.0.1:50051";
  // A ChallengeSet text file; empty loads the built-in default set. Its
  // challenges are created in the store unless it has them already (with
  // exactly the same configuration).
  std::string config_path;
  // SQLite database; empty or ":memory:": a MemoryStore (nothing
  // survives); a postgresql:// or postgres:// URI: a PostgresStore
  // (INVALID_ARGUMENT when the URI carries a password).
  std::string db_path;
  // Competition mode when not empty: every call needs a token.
  std::string admin_token;
  // Open mode only: callers may name themselves, each name its own learner.
  OpenLearnerOptions open_learners;
  // TLS on the network listener (the in-process channel is never encrypted).
  ServerTlsOptions tls;
  // Largest request accepted, in bytes (gRPC's default is 4 MiB).
  int max_receive_message_bytes = 64 << 20;
  // Largest request metadata (headers) accepted, in bytes.
  int max_metadata_bytes = 8 << 10;
  // Default request and submission rates per learner and the cap on
  // concurrent streams.
  RateLimiterOptions rate_limits;
  // The pool that scores submissions (1 to 64 threads) and its queue.
  ScoringOptions scoring;
  // Threads one large forward pass may use (ForwardOptions), 1 to 64; 0:
  // one per hardware thread (std::thread::hardware_concurrency()).
  int forward_threads = 0;
  // Largest SubmitRequest taken, in bytes (OracleServiceOptions).
  size_t max_submission_bytes = kDefaultMaxSubmissionBytes;
  // Counts calls, answers, refusals, submissions and store commits into
  // metrics() (for an HTTP /metrics page); off, metrics() is nullptr and
  // nothing is counted.
  bool collect_metrics = false;
  ServerMetricsOptions metrics;
  // On a store shared with other servers (PostgreSQL): how often, in
  // milliseconds, to look for their changes (challenges, phases, learners,
  // submissions); each is applied within 2 x refresh_ms. 1 to 60000.
  int refresh_ms = 250;
};

class OracleServer {
 public:
  // INVALID_ARGUMENT or NOT_FOUND for a bad configuration file, address or
  // limit, and for TLS files that are missing (NOT_FOUND), malformed, or given
  // without their pair (a certificate without a key, a client CA without a
  // server certificate: INVALID_ARGUMENT); the message names the file.
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
  // The core the services call, for other edges (the HTTP page).
  const OracleCore& core() const { return *core_; }
  // nullptr unless ServerOptions::collect_metrics.
  const ServerMetrics* metrics() const { return metrics_.get(); }
  bool competition_mode() const { return authenticator_->competition_mode(); }
  // "insecure", "tls" or "mutual tls": what protects the network listener.
  const char* transport_security() const { return transport_security_; }

 private:
  OracleServer() = default;

  // Declared in dependency order: destroyed in reverse, server first.
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ChallengeRegistry> registry_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<OracleCore> core_;
  std::unique_ptr<OracleServiceImpl> oracle_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<grpc::Server> server_;
  // Polls a shared store's generation; stopped first, before the core.
  class SharedRefresher;
  std::unique_ptr<SharedRefresher> refresher_;
  int port_ = 0;
  const char* transport_security_ = "insecure";
};

// True when `address` (host:port, as ServerOptions::listen_address) can only
// be reached from this machine: 127.0.0.0/8, ::1, localhost, unix sockets.
// Tokens sent to any other listener without TLS cross the network in clear.
bool IsLoopbackAddress(absl::string_view address);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_ORACLE_SERVER_H_
