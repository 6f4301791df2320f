#include "server/service/oracle_server.h"

#include <arpa/inet.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "common/tls_files.h"
#include "server/core/memory_store.h"
#include "server/core/postgres_store.h"
#include "server/core/sqlite_store.h"
#include "server/service/metrics_interceptor.h"

namespace attnoracle {

namespace {

// 127.0.0.0/8 is the IPv4 loopback network.
constexpr uint32_t kLoopbackFirstOctet = 127;

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

// UNAVAILABLE, saying so, when another process listens on `address`
// (HOST:PORT, already checked) or the host does not resolve; OK otherwise,
// and for port 0 and unix sockets. Binds the way the listener will: with
// SO_REUSEADDR (a restarted server takes over a port whose old connections
// are in TIME_WAIT) and without SO_REUSEPORT (which would share a port that
// someone listens on). Other bind failures are left to gRPC to report.
absl::Status CheckAddressFree(const std::string& address) {
  if (address.empty() || absl::StartsWith(address, "unix")) {
    return absl::OkStatus();
  }
  const size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port == "0") return absl::OkStatus();
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints,
                  &found) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on \"", address, "\": the host does not resolve"));
  }
  bool in_use = false;
  for (addrinfo* a = found; a != nullptr && !in_use; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    in_use = bind(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EADDRINUSE;
    close(fd);
  }
  freeaddrinfo(found);
  if (in_use) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on \"", address,
        "\": address in use (is another oracle-server running on that port? "
        "pick another with --listen)"));
  }
  return absl::OkStatus();
}

constexpr int kMaxScoringThreads = 64;
constexpr int kMaxForwardThreads = 64;

// forward_threads 0 means one per core (at least 1, at most the cap).
int ForwardThreads(int option) {
  if (option > 0) return option;
  return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1,
                    kMaxForwardThreads);
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
  if (!std::isfinite(r.default_submissions_per_minute) ||
      r.default_submissions_per_minute < 0 || r.default_submission_burst < 0) {
    return absl::InvalidArgumentError(
        "the default submission rate and burst must be finite and >= 0");
  }
  if (o.scoring.threads < 1 || o.scoring.threads > kMaxScoringThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("scoring threads = ", o.scoring.threads, " must be 1 to ",
                     kMaxScoringThreads));
  }
  if (o.forward_threads < 0 || o.forward_threads > kMaxForwardThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward threads = ", o.forward_threads,
                     " must be 0 (one per core) to ", kMaxForwardThreads));
  }
  if (o.scoring.max_queued < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queued submissions = ", o.scoring.max_queued, " must be >= 0"));
  }
  if (o.max_submission_bytes < 1) {
    return absl::InvalidArgumentError(
        "the largest submission must be at least 1 byte");
  }
  if (o.metrics.max_learners < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics max_learners = ", o.metrics.max_learners,
                     " must be at least 0"));
  }
  if (r.max_streams_per_learner < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_streams_per_learner = ", r.max_streams_per_learner,
                     " must be at least 1"));
  }
  return absl::OkStatus();
}

// The listener's credentials; the files are read and checked here so that a
// wrong one is named, where gRPC would only fail to listen.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListenerCredentials(
    const ServerTlsOptions& tls) {
  if (!tls.enabled()) {
    if (!tls.client_ca_path.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("a TLS client CA (\"", tls.client_ca_path,
                       "\") needs a TLS certificate and key for the server"));
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert_path.empty() || tls.key_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS needs both a certificate and its private key; only the ",
        tls.cert_path.empty() ? "key \"" : "certificate \"",
        tls.cert_path.empty() ? tls.key_path : tls.cert_path, "\" was given"));
  }
  ATTN_ASSIGN_OR_RETURN(TlsKeyPair pair,
                        ReadTlsKeyPair(tls.cert_path, tls.key_path));
  grpc::SslServerCredentialsOptions ssl(
      GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!tls.client_ca_path.empty()) {
    ATTN_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                          ReadTlsCertificates(tls.client_ca_path));
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  ssl.pem_key_cert_pairs.push_back(
      {std::move(pair.private_key_pem), std::move(pair.cert_chain_pem)});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

bool IsLoopbackAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:") ||
      absl::StartsWith(address, "unix-abstract:")) {
    return true;
  }
  const size_t colon = address.rfind(':');
  absl::string_view host =
      colon == absl::string_view::npos ? address : address.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  const std::string literal(host);
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, literal.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == kLoopbackFirstOctet;
  }
  return inet_pton(AF_INET6, literal.c_str(), &v6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&v6);
}

// Every `period`, reads the shared store's generation and, when another
// server moved it, has the core apply what changed. A failed read or
// refresh is retried at the next tick (and said once on stderr, without
// the database's address).
class OracleServer::SharedRefresher {
 public:
  SharedRefresher(Store* store, OracleCore* core, int64_t generation,
                  absl::Duration period)
      : store_(store),
        core_(core),
        seen_(generation),
        period_(period),
        thread_([this] { Run(); }) {}
  ~SharedRefresher() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

 private:
  void Run() {
    bool failing = false;
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), period_)) {
      mu_.Unlock();
      absl::StatusOr<int64_t> generation = store_->LoadGeneration();
      absl::Status s = generation.status();
      if (s.ok() && *generation != seen_) {
        s = core_->RefreshShared();
        if (s.ok()) seen_ = *generation;
      }
      if (!s.ok() && !failing) {
        std::fprintf(stderr,
                     "oracle-server: cannot refresh from the shared "
                     "database (will retry): %s\n",
                     s.ToString().c_str());
      }
      failing = !s.ok();
      mu_.Lock();
    }
  }

  Store* const store_;
  OracleCore* const core_;
  int64_t seen_;  // only the thread touches it
  const absl::Duration period_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<OracleServer>> OracleServer::BuildAndStart(
    const ServerOptions& options) {
  ATTN_RETURN_IF_ERROR(CheckListenAddress(options.listen_address));
  ATTN_RETURN_IF_ERROR(CheckLimits(options));
  // Before the database, so a second server on a taken port neither
  // creates nor claims one.
  ATTN_RETURN_IF_ERROR(CheckAddressFree(options.listen_address));
  // Before the database: a bad TLS file must not leave a fresh database
  // behind, and fails fast.
  ATTN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                        ListenerCredentials(options.tls));
  std::vector<ChallengeConfig> configs;
  if (options.config_path.empty()) {
    ATTN_ASSIGN_OR_RETURN(configs, ParseChallengeSet(DefaultChallengeSetText(),
                                                     "built-in challenges"));
  } else {
    ATTN_ASSIGN_OR_RETURN(configs, LoadChallengeSet(options.config_path));
  }
  std::unique_ptr<OracleServer> s(new OracleServer());
  if (options.tls.enabled()) {
    s->transport_security_ =
        options.tls.client_ca_path.empty() ? "tls" : "mutual tls";
  }
  if (options.refresh_ms < 1 || options.refresh_ms > 60000) {
    return absl::InvalidArgumentError(
        absl::StrCat("refresh_ms = ", options.refresh_ms,
                     " must be 1 to 60000 milliseconds"));
  }
  if (options.db_path.empty() || options.db_path == ":memory:") {
    s->store_ = std::make_unique<MemoryStore>();
  } else if (PostgresStore::IsUri(options.db_path)) {
    ATTN_ASSIGN_OR_RETURN(s->store_, PostgresStore::Open(options.db_path));
  } else {
    ATTN_ASSIGN_OR_RETURN(s->store_, SqliteStore::Open(options.db_path));
  }
  s->registry_ = std::make_unique<ChallengeRegistry>(s->store_.get());
  ATTN_RETURN_IF_ERROR(s->registry_->Load());
  for (const ChallengeConfig& config : configs) {
    ATTN_RETURN_IF_ERROR(s->registry_->Ensure(config));
  }
  if (options.collect_metrics) {
    s->metrics_ = std::make_unique<ServerMetrics>(options.metrics);
  }
  s->ledger_ = std::make_unique<Ledger>(s->store_.get());
  s->ledger_->set_metrics(s->metrics_.get());
  ATTN_RETURN_IF_ERROR(s->ledger_->Load());
  s->authenticator_ = std::make_unique<Authenticator>(
      s->store_.get(), options.admin_token, options.open_learners);
  ATTN_RETURN_IF_ERROR(s->authenticator_->Load());
  s->core_ = std::make_unique<OracleCore>(
      s->registry_.get(), s->ledger_.get(), s->authenticator_.get(),
      s->store_.get(), options.rate_limits, options.scoring,
      ForwardOptions{.threads = ForwardThreads(options.forward_threads)});
  s->core_->set_metrics(s->metrics_.get());
  s->oracle_service_ = std::make_unique<OracleServiceImpl>(
      s->core_.get(), s->authenticator_.get(),
      OracleServiceOptions{.max_submission_bytes =
                               options.max_submission_bytes});
  s->admin_service_ = std::make_unique<AdminServiceImpl>(
      s->core_.get(), s->authenticator_.get());

  grpc::EnableDefaultHealthCheckService(true);
  // Without this call the linker drops the reflection plugin.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!options.listen_address.empty()) {
    builder.AddListeningPort(options.listen_address, credentials, &s->port_);
  }
  // gRPC turns SO_REUSEPORT on by default: a second server on the same port
  // would then also listen, and the kernel would split the calls between
  // two ledgers (two budgets for one learner). The server owns its port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE,
                             options.max_metadata_bytes);
  if (s->metrics_ != nullptr) {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(
        std::make_unique<MetricsInterceptorFactory>(s->metrics_.get()));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  builder.RegisterService(s->oracle_service_.get());
  builder.RegisterService(s->admin_service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr ||
      (!options.listen_address.empty() && s->port_ == 0)) {
    // The check above passed, so the address was taken in between, or
    // gRPC refused it for a reason of its own; say which where possible.
    ATTN_RETURN_IF_ERROR(CheckAddressFree(options.listen_address));
    return absl::UnavailableError(
        absl::StrCat("cannot listen on \"", options.listen_address,
                     "\" (address in use or not valid)"));
  }
  if (s->store_->shared()) {
    ATTN_ASSIGN_OR_RETURN(const int64_t generation,
                          s->store_->LoadGeneration());
    s->refresher_ = std::make_unique<SharedRefresher>(
        s->store_.get(), s->core_.get(), generation,
        absl::Milliseconds(options.refresh_ms));
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
