// HttpServer: the server's HTTP edge, beside the gRPC one and over the same
// core: the public competition page ("/", "/challenges/ID" and its chart),
// the same data as JSON ("/api/..."), Prometheus metrics ("/metrics"), and
// the probes "/healthz" (the process serves) and "/readyz" (the store is
// open and the challenges are loaded, and the server is not stopping).
//
//   auto http = HttpServer::Start({.address = "127.0.0.1:0"});  // binds now
//   ... open the store, load challenges ...
//   (*http)->Attach(&core, &metrics, max_learners);            // now ready
//   (*http)->SetDraining();   // readyz says 503 while the server stops
//   (*http)->Stop();          // before the core goes away
//
// Only GET (and HEAD) are served: other methods get 405 with "Allow: GET,
// HEAD". An unknown path or challenge is 404, a malformed challenge id 400,
// a path longer than kMaxPathBytes 414; before Attach every page but the
// probes is 503. Errors under /api are JSON ({"error": {"code", "message"}}).
// The pages show only what GetLeaderboard shows a learner.
//
// Thread-safe. Requests are served by a pool of `threads` threads (a
// connection kept alive holds its thread until it idles for
// kKeepAliveSeconds).
#ifndef ATTNORACLE_SERVER_HTTP_HTTP_SERVER_H_
#define ATTNORACLE_SERVER_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/oracle_core.h"
#include "server/core/server_metrics.h"

namespace httplib {
class Server;
}

namespace attnoracle {

// Longest request path served; the longest real one (a challenge's chart)
// is under 100 bytes.
inline constexpr size_t kMaxPathBytes = 1024;
// How long an idle kept-alive connection holds a pool thread.
inline constexpr int kKeepAliveSeconds = 2;
inline constexpr int kDefaultHttpThreads = 4;
inline constexpr int kDefaultRefreshSeconds = 5;

struct HttpServerOptions {
  // HOST:PORT; port 0 picks a free port (read it back with port()).
  std::string address;
  // The page, the chart and /api.
  bool serve_site = true;
  // /metrics.
  bool serve_metrics = true;
  // Request threads, 1 to 64.
  int threads = kDefaultHttpThreads;
  // How often the page reloads its data, 1 to 3600 seconds.
  int refresh_seconds = kDefaultRefreshSeconds;
};

class HttpServer {
 public:
  // Binds the address and serves the probes at once. INVALID_ARGUMENT for
  // an address that is not HOST:PORT with a port from 0 to 65535 or bad
  // limits, UNAVAILABLE when the address is taken or cannot be bound (the
  // message names it).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options);

  ~HttpServer();  // Stop()

  int port() const { return port_; }

  // Serves the pages and metrics from `core` and `metrics` (either may be
  // nullptr when its pages are off) and turns ready. Both must outlive
  // Stop().
  void Attach(const OracleCore* core, const ServerMetrics* metrics,
              int metrics_max_learners) ABSL_LOCKS_EXCLUDED(mu_);
  // From now on /readyz answers 503: the server is stopping.
  void SetDraining() ABSL_LOCKS_EXCLUDED(mu_);
  // Stops accepting, waits for requests in progress. Idempotent.
  void Stop();

 private:
  explicit HttpServer(const HttpServerOptions& options);
  void Route();

  const HttpServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  // Set by the listener thread when httplib's listen loop has returned
  // (at once, when it cannot listen).
  std::shared_ptr<std::atomic<bool>> listening_ended_ =
      std::make_shared<std::atomic<bool>>(false);
  int port_ = 0;
  mutable absl::Mutex mu_;
  const OracleCore* core_ ABSL_GUARDED_BY(mu_) = nullptr;
  const ServerMetrics* metrics_ ABSL_GUARDED_BY(mu_) = nullptr;
  int metrics_max_learners_ ABSL_GUARDED_BY(mu_) = 0;
  bool attached_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_HTTP_HTTP_SERVER_H_
