#include "server/http/http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/message_quote.h"
#include "server/http/exposition_writer.h"
#include "server/http/metrics_page.h"
#include "server/http/public_view.h"
#include "server/http/site_pages.h"

namespace attnoracle {
namespace {

constexpr int kMaxHttpThreads = 64;
constexpr int kMaxRefreshSeconds = 3600;
constexpr char kHtml[] = "text/html; charset=utf-8";
constexpr char kJson[] = "application/json";
constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kSvg[] = "image/svg+xml";
// The pages load only their own script, styles, chart and JSON.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src "
    "'unsafe-inline'; img-src 'self'; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

// The reason phrase of the statuses this server sends.
const char* ReasonOf(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 503:
      return "Service Unavailable";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

struct HostPort {
  std::string host;
  int port = 0;
};

absl::StatusOr<HostPort> ParseAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address ", QuoteForMessage(address),
                     " must be HOST:PORT with a port from 0 to 65535"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return HostPort{host, static_cast<int>(port)};
}

// SO_REUSEADDR only: a restarted server takes over a port whose old
// connections are in TIME_WAIT. httplib's default adds SO_REUSEPORT, with
// which a second server would silently share a port someone listens on.
void ListenerSocketOptions(socket_t sock) {
  const int one = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
}

void Reply(httplib::Response& res, int status, std::string body,
           const char* content_type) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(std::move(body), content_type);
}

bool IsApi(const httplib::Request& req) {
  return req.path.rfind("/api/", 0) == 0 || req.path == "/api";
}

// An error as JSON under /api, as a page elsewhere.
void ReplyError(const httplib::Request& req, httplib::Response& res, int status,
                absl::string_view code, absl::string_view message) {
  if (IsApi(req)) {
    nlohmann::ordered_json j = {
        {"error", {{"code", code}, {"message", message}}}};
    Reply(res, status, j.dump(2) + "\n", kJson);
  } else {
    Reply(res, status, RenderErrorPage(status, ReasonOf(status), message),
          kHtml);
  }
}

void ReplyStatus(const httplib::Request& req, httplib::Response& res,
                 const absl::Status& status) {
  ReplyError(req, res, HttpStatusOf(status.code()),
             absl::StatusCodeToString(status.code()), status.message());
}

void ReplyJson(httplib::Response& res, const nlohmann::ordered_json& j) {
  Reply(res, 200, j.dump(2) + "\n", kJson);
}

}  // namespace

HttpServer::HttpServer(const HttpServerOptions& options)
    : options_(options), server_(std::make_unique<httplib::Server>()) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options) {
  absl::StatusOr<HostPort> address = ParseAddress(options.address);
  if (!address.ok()) return address.status();
  if (options.threads < 1 || options.threads > kMaxHttpThreads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP threads = ", options.threads, " must be 1 to ", kMaxHttpThreads));
  }
  if (options.refresh_seconds < 1 ||
      options.refresh_seconds > kMaxRefreshSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("page refresh = ", options.refresh_seconds,
                     " s must be 1 to ", kMaxRefreshSeconds));
  }
  std::unique_ptr<HttpServer> s(new HttpServer(options));
  httplib::Server& server = *s->server_;
  const int threads = options.threads;
  server.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  server.set_socket_options(ListenerSocketOptions);
  server.set_keep_alive_timeout(kKeepAliveSeconds);
  server.set_read_timeout(kKeepAliveSeconds);
  server.set_write_timeout(kKeepAliveSeconds);
  // No route takes a body.
  server.set_payload_max_length(0);
  s->Route();
  if (address->port == 0) {
    s->port_ = server.bind_to_any_port(address->host);
  } else if (server.bind_to_port(address->host, address->port)) {
    s->port_ = address->port;
  } else {
    s->port_ = -1;
  }
  if (s->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on HTTP address ", QuoteForMessage(options.address),
        ": address in use, or the host does not resolve to a local address"));
  }
  s->listener_ =
      std::thread([server = s->server_.get(), ended = s->listening_ended_] {
        server->listen_after_bind();
        ended->store(true);
      });
  // httplib 0.11's stop() does nothing until its listener has marked itself
  // running (it has no wait_until_ready), so a Stop() right after Start()
  // would wait forever: wait for that mark. It is the listener's first
  // step, so this takes microseconds.
  while (!server.is_running() && !s->listening_ended_->load()) {
    std::this_thread::yield();
  }
  if (!server.is_running()) {
    s->listener_.join();
    return absl::UnavailableError(absl::StrCat("the HTTP listener on ",
                                               QuoteForMessage(options.address),
                                               " stopped at once"));
  }
  return s;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (!listener_.joinable()) return;
  server_->stop();
  listener_.join();
}

void HttpServer::Attach(const OracleCore* core, const ServerMetrics* metrics,
                        int metrics_max_learners) {
  absl::MutexLock lock(&mu_);
  core_ = core;
  metrics_ = metrics;
  metrics_max_learners_ = metrics_max_learners;
  attached_ = true;
}

void HttpServer::SetDraining() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

void HttpServer::Route() {
  httplib::Server& server = *server_;
  // Before any route: the methods and path lengths this server serves.
  server.set_pre_routing_handler([](const httplib::Request& req,
                                    httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      ReplyError(req, res, 405, "METHOD_NOT_ALLOWED",
                 absl::StrCat("method ", QuoteForMessage(req.method),
                              " is not served; use GET"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.path.size() > kMaxPathBytes) {
      ReplyError(req, res, 414, "URI_TOO_LONG",
                 absl::StrCat("the path is ", req.path.size(),
                              " bytes; the longest served is ", kMaxPathBytes));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Routing failures and httplib's own refusals (a malformed request line,
  // a URI over its limit) get a body that says what happened.
  server.set_error_handler(
      [](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        const int status = res.status;
        ReplyError(
            req, res, status, status == 404 ? "NOT_FOUND" : "HTTP_ERROR",
            status == 404
                ? absl::StrCat("no page at ", QuoteForMessage(req.path))
                : absl::StrCat("the request was refused: ", ReasonOf(status)));
      });

  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    Reply(res, 200, "ok\n", kText);
  });
  // Browsers ask for it on every page; there is none.
  server.Get("/favicon.ico", [](const httplib::Request&,
                                httplib::Response& res) { res.status = 204; });
  server.Get("/readyz",
             [this](const httplib::Request&, httplib::Response& res) {
               absl::MutexLock lock(&mu_);
               if (draining_) {
                 Reply(res, 503, "not ready: the server is stopping\n", kText);
               } else if (!attached_) {
                 Reply(res, 503,
                       "not ready: the store is not open or the challenges "
                       "are not loaded yet\n",
                       kText);
               } else {
                 Reply(res, 200, "ready\n", kText);
               }
             });

  // The core, or a 503 reply when the server is not ready for it yet.
  auto core_or_reply = [this](const httplib::Request& req,
                              httplib::Response& res) -> const OracleCore* {
    absl::MutexLock lock(&mu_);
    if (core_ == nullptr) {
      ReplyError(req, res, 503, "UNAVAILABLE",
                 "the server is starting: the challenges are not loaded yet");
    }
    return core_;
  };
  const int refresh = options_.refresh_seconds;
  if (options_.serve_site) {
    // A page: its JSON from PublicView, rendered to HTML or SVG.
    auto page =
        [core_or_reply](
            std::function<void(const PublicView&, const httplib::Request&,
                               httplib::Response&)>
                serve) {
          return [core_or_reply, serve](const httplib::Request& req,
                                        httplib::Response& res) {
            const OracleCore* core = core_or_reply(req, res);
            if (core == nullptr) return;
            res.set_header("Content-Security-Policy", kContentSecurityPolicy);
            serve(PublicView(core), req, res);
          };
        };
    // An /api document, or the error it met.
    auto api = [page](std::function<absl::StatusOr<nlohmann::ordered_json>(
                          const PublicView&, const std::string& id)>
                          read) {
      return page([read](const PublicView& view, const httplib::Request& req,
                         httplib::Response& res) {
        absl::StatusOr<nlohmann::ordered_json> doc =
            read(view, req.matches.size() > 1 ? req.matches[1].str() : "");
        if (!doc.ok()) return ReplyStatus(req, res, doc.status());
        ReplyJson(res, *doc);
      });
    };
    server.Get(
        "/", page([refresh](const PublicView& view, const httplib::Request&,
                            httplib::Response& res) {
          Reply(res, 200, RenderIndexPage(view.Challenges(), refresh), kHtml);
        }));
    server.Get(
        R"(/challenges/([^/]*))",
        page([refresh](const PublicView& view, const httplib::Request& req,
                       httplib::Response& res) {
          absl::StatusOr<nlohmann::ordered_json> ch =
              view.Challenge(req.matches[1].str());
          if (!ch.ok()) return ReplyStatus(req, res, ch.status());
          Reply(res, 200, RenderChallengePage(*ch, refresh), kHtml);
        }));
    server.Get(R"(/challenges/([^/]*)/chart\.svg)",
               page([](const PublicView& view, const httplib::Request& req,
                       httplib::Response& res) {
                 absl::StatusOr<nlohmann::ordered_json> ch =
                     view.Challenge(req.matches[1].str());
                 if (!ch.ok()) return ReplyStatus(req, res, ch.status());
                 Reply(res, 200, RenderLeaderboardChart(*ch), kSvg);
               }));
    server.Get(
        "/api/challenges", api([](const PublicView& view, const std::string&) {
          return absl::StatusOr<nlohmann::ordered_json>(view.Challenges());
        }));
    server.Get(R"(/api/challenges/([^/]*))",
               api([](const PublicView& view, const std::string& id) {
                 return view.Challenge(id);
               }));
    server.Get(R"(/api/challenges/([^/]*)/leaderboard)",
               api([](const PublicView& view, const std::string& id) {
                 return view.Leaderboard(id);
               }));
    server.Get(R"(/api/challenges/([^/]*)/reveal)",
               api([](const PublicView& view, const std::string& id) {
                 return view.Reveal(id);
               }));
  }
  if (options_.serve_metrics) {
    server.Get("/metrics",
               [this](const httplib::Request& req, httplib::Response& res) {
                 const ServerMetrics* metrics = nullptr;
                 int max_learners = 0;
                 {
                   absl::MutexLock lock(&mu_);
                   metrics = metrics_;
                   max_learners = metrics_max_learners_;
                 }
                 if (metrics == nullptr) {
                   return ReplyError(req, res, 503, "UNAVAILABLE",
                                     "the server is starting: no metrics yet");
                 }
                 Reply(res, 200,
                       RenderMetricsPage(metrics->Read(), ReadProcessMemory(),
                                         max_learners),
                       kExpositionContentType);
               });
  }
}

}  // namespace attnoracle
