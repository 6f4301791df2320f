// oracle-server: hosts secret attention layers and answers queries over gRPC.
//
//   oracle-server                                # built-in challenges, open
//   mode
//   oracle-server --db contest.db --admin-token-file admin.token
//                 --config configs/default.textproto --listen 0.0.0.0:6000
//                 --tls-cert server.pem --tls-key server.key
//   oracle-server --http 127.0.0.1:8080 --metrics 127.0.0.1:9090
//
// SIGTERM or SIGINT: stop accepting calls, finish those in flight (their
// charges are committed), exit 0.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <tuple>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/flag_help.h"
#include "common/flag_names.h"
#include "server/http/http_server.h"
#include "server/service/oracle_server.h"
#include "server/serving_process.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "Address to listen on, host:port. Port 0 picks a free port; the "
          "chosen one is printed on stdout.");
ABSL_FLAG(std::string, http, "",
          "Address of the HTTP listener, host:port (port 0 picks a free "
          "port, printed on the startup line): the public competition page "
          "at /, its data as JSON under /api/, /healthz, /readyz, and "
          "/metrics unless --metrics names another address. Empty: no HTTP.");
ABSL_FLAG(std::string, metrics, "",
          "Address serving only the Prometheus /metrics page (and the "
          "probes), host:port, so an operator can keep it private; "
          "/metrics then leaves --http. Empty: /metrics is on --http, if "
          "any.");
ABSL_FLAG(int, metrics_max_learners, attnoracle::kDefaultMetricsMaxLearners,
          "Learners labelled by name in /metrics (the first seen); later "
          "ones are counted under learner=\"other\". 0 labels none.");
ABSL_FLAG(int, http_threads, attnoracle::kDefaultHttpThreads,
          "Threads serving HTTP requests on each HTTP listener, 1 to 64.");
ABSL_FLAG(std::string, config, "",
          "Challenge configuration file (protobuf text format of "
          "attnoracle.v1.ChallengeSet). Empty: the built-in challenges of "
          "configs/default.textproto. Challenges already in the database "
          "must match it exactly.");
ABSL_FLAG(std::string, db, "./attnoracle.db",
          "SQLite database holding challenges, learners, usage, transcripts "
          "and submissions; created if missing, and held by this server "
          "alone while it runs. ':memory:' keeps nothing (records are held "
          "in memory until the server stops). A postgresql:// (or "
          "postgres://) URI selects a PostgreSQL database, which several "
          "replicas may share; its password comes from PGPASSWORD or a "
          "passfile, never from the URI.");
ABSL_FLAG(int, refresh_ms, 250,
          "With a PostgreSQL --db shared by several servers: how often, in "
          "milliseconds, to look for what the others changed (challenges, "
          "phases, learners, submissions); a change is applied here within "
          "2 x this. Budgets and phases are checked in the database on "
          "every answer whatever it is. 1 to 60000.");
ABSL_FLAG(std::string, admin_token_file, "",
          "File whose first line is the admin token; turns on competition "
          "mode (every call needs a token). Default: $ATTNORACLE_ADMIN_TOKEN; "
          "neither: open demo mode.");
ABSL_FLAG(bool, open_learner_ids, false,
          "Open mode, for a class on a trusted network: a caller may name "
          "itself (oracle-client --learner NAME or $ATTNORACLE_LEARNER) and "
          "gets a budget, usage and transcript of its own; calls without a "
          "name are the learner \"anonymous\". Names are not "
          "authentication: anyone can use any name (competitions use "
          "tokens). Off: a call that gives a name is FAILED_PRECONDITION.");
ABSL_FLAG(int, max_open_learners, attnoracle::kDefaultMaxOpenLearners,
          "With --open_learner_ids: most distinct learner names the server "
          "takes (names with usage in the database count); a new name "
          "beyond them is RESOURCE_EXHAUSTED.");

ABSL_FLAG(double, max_requests_per_second, 0,
          "Query requests per second each learner may make on a challenge "
          "whose policy sets no rate (unary calls and stream messages, "
          "refused ones included); 0: no limit. Refused requests get "
          "RESOURCE_EXHAUSTED and a retry-after-ms hint.");
ABSL_FLAG(int, request_burst, 0,
          "Requests a learner may make at once after idling, with "
          "--max_requests_per_second; 0: one second's worth.");
ABSL_FLAG(double, max_submissions_per_minute, 60,
          "Submit calls per minute each learner may make on a challenge "
          "whose policy sets no submission rate (refused ones included); 0: "
          "no limit. Refused calls get RESOURCE_EXHAUSTED and a "
          "retry-after-ms hint.");
ABSL_FLAG(int, submission_burst, 0,
          "Submissions a learner may make at once after idling, with "
          "--max_submissions_per_minute; 0: one minute's worth.");
ABSL_FLAG(int, scoring_threads, 1,
          "Threads that score submissions, beside those answering queries "
          "(which never wait behind scoring); 1 to 64.");
ABSL_FLAG(int, forward_threads, 0,
          "Threads one large forward pass (a layer of 4 million "
          "multiply-adds or more) may use, its query's own included, when "
          "they are idle; 1 to 64, 0: one per core.");
ABSL_FLAG(int, max_queued_submissions, 4,
          "Submissions that may wait for a scoring thread; one more is "
          "RESOURCE_EXHAUSTED with a retry-after-ms hint.");
ABSL_FLAG(int, max_submission_mib, 16,
          "Largest Submit request accepted, in MiB (1 to 1024), checked "
          "before it is parsed; a larger one is INVALID_ARGUMENT.");
ABSL_FLAG(int, max_streams_per_learner, 16,
          "Concurrent QueryStreams one learner may hold open.");
ABSL_FLAG(int, max_message_mib, 64,
          "Largest request message accepted, in MiB.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of the server; with --tls-key, the listener "
          "speaks TLS only.");
ABSL_FLAG(std::string, tls_key, "",
          "PEM private key of --tls-cert (unencrypted).");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates; turns on mutual TLS: every client must "
          "present a certificate signed by one of them.");

namespace {

// --help's listing: every flag above, in the groups an operator looks for.
constexpr attnoracle::FlagDoc kNetworkFlags[] = {{"listen", "HOST:PORT"},
                                                 {"max_message_mib", "MIB"}};
constexpr attnoracle::FlagDoc kHttpFlags[] = {{"http", "HOST:PORT"},
                                              {"metrics", "HOST:PORT"},
                                              {"metrics_max_learners", "N"},
                                              {"http_threads", "N"}};
constexpr attnoracle::FlagDoc kTlsFlags[] = {
    {"tls_cert", "FILE"}, {"tls_key", "FILE"}, {"tls_client_ca", "FILE"}};
constexpr attnoracle::FlagDoc kStorageFlags[] = {
    {"db", "FILE|URI"}, {"refresh_ms", "MS"}, {"config", "FILE"}};
constexpr attnoracle::FlagDoc kAccessFlags[] = {
    {"admin_token_file", "FILE"},
    {"max_requests_per_second", "RATE"},
    {"request_burst", "N"},
    {"max_streams_per_learner", "N"},
    {"forward_threads", "N"}};
constexpr attnoracle::FlagDoc kSubmissionFlags[] = {
    {"max_submissions_per_minute", "RATE"},
    {"submission_burst", "N"},
    {"scoring_threads", "N"},
    {"max_queued_submissions", "N"},
    {"max_submission_mib", "MIB"}};
constexpr attnoracle::FlagGroup kFlagGroups[] = {
    {"Network", kNetworkFlags},
    {"Web page and metrics", kHttpFlags},
    {"TLS", kTlsFlags},
    {"Storage and challenges", kStorageFlags},
    {"Access and limits", kAccessFlags},
    {"Submissions", kSubmissionFlags}};
constexpr char kMainPath[] = "server/main.cc";

// Answered here rather than by absl, whose --help lists flags by file with
// no grouping and knows no -h.
bool WantsHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-help" || arg == "-h") return true;
  }
  return false;
}

void PrintHelp() {
  std::cout << "oracle-server: hosts secret attention layers and answers "
               "learners' queries over gRPC.\n\n"
               "Usage: oracle-server [flags]\n\n";
  attnoracle::PrintFlagGroups(std::cout, kFlagGroups, kMainPath);
  std::cout << "\nFlags may be spelled with dashes or underscores "
               "(--admin-token-file,\n--admin_token_file). --helpfull also "
               "lists the libraries' flags.\n";
}

// The admin token from --admin-token-file or the environment; "" for open
// mode. Exits with a message when the file cannot be read or is empty.
std::string AdminToken() {
  const std::string path = absl::GetFlag(FLAGS_admin_token_file);
  std::string token;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in || !std::getline(in, token)) {
      std::cerr << "oracle-server: cannot read --admin-token-file \"" << path
                << "\"\n";
      std::exit(1);
    }
  } else if (const char* env = std::getenv("ATTNORACLE_ADMIN_TOKEN")) {
    token = env;
  } else {
    return "";
  }
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.empty()) {
    std::cerr << "oracle-server: the admin token is empty\n";
    std::exit(1);
  }
  return token;
}

// The startup line's tail naming the page and the metrics, with the ports
// chosen: ", page http://127.0.0.1:8080/, metrics
// http://127.0.0.1:8080/metrics"; empty without HTTP.
std::string HttpAddresses(const attnoracle::HttpServer* http,
                          const std::string& http_address,
                          const attnoracle::HttpServer* metrics,
                          const std::string& metrics_address) {
  auto url = [](const std::string& address, int port) {
    const std::string host = address.substr(0, address.rfind(':'));
    const std::string shown =
        host.empty() || host == "0.0.0.0" || host == "[::]" ? "127.0.0.1"
                                                            : host;
    return absl::StrCat("http://", shown, ":", port, "/");
  };
  std::string out;
  if (http != nullptr) {
    absl::StrAppend(&out, ", page ", url(http_address, http->port()));
  }
  if (metrics != nullptr) {
    absl::StrAppend(&out, ", metrics ", url(metrics_address, metrics->port()),
                    "metrics");
  } else if (http != nullptr) {
    absl::StrAppend(&out, ", metrics ", url(http_address, http->port()),
                    "metrics");
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Hosts secret attention layers and answers learners' queries over "
      "gRPC.\nUsage: oracle-server [--listen HOST:PORT] [--config FILE] "
      "[--db FILE] [--admin-token-file FILE]\n"
      "                     [--tls-cert FILE --tls-key FILE "
      "[--tls-client-ca FILE]]");
  attnoracle::SetFlagsUsageConfigFor(__FILE__, kMainPath);
  if (WantsHelp(argc, argv)) {
    PrintHelp();
    return 0;
  }
  std::vector<std::string> storage;
  std::vector<char*> args = attnoracle::NormalizeFlagNames(argc, argv, storage);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  attnoracle::TuneProcessForServing();

  // Block the stop signals before any thread starts, so only the waiter
  // below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  attnoracle::ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.config_path = absl::GetFlag(FLAGS_config);
  options.db_path = absl::GetFlag(FLAGS_db);
  options.refresh_ms = absl::GetFlag(FLAGS_refresh_ms);
  options.admin_token = AdminToken();
  options.open_learners.enabled = absl::GetFlag(FLAGS_open_learner_ids);
  options.open_learners.max_learners = absl::GetFlag(FLAGS_max_open_learners);
  const int max_message_mib = absl::GetFlag(FLAGS_max_message_mib);
  if (max_message_mib < 1 || max_message_mib > 1024) {
    std::cerr << "oracle-server: --max_message_mib must be 1 to 1024\n";
    return 1;
  }
  options.max_receive_message_bytes = max_message_mib << 20;
  options.rate_limits.default_requests_per_second =
      absl::GetFlag(FLAGS_max_requests_per_second);
  options.rate_limits.default_request_burst =
      absl::GetFlag(FLAGS_request_burst);
  options.rate_limits.default_submissions_per_minute =
      absl::GetFlag(FLAGS_max_submissions_per_minute);
  options.rate_limits.default_submission_burst =
      absl::GetFlag(FLAGS_submission_burst);
  options.scoring.threads = absl::GetFlag(FLAGS_scoring_threads);
  options.forward_threads = absl::GetFlag(FLAGS_forward_threads);
  options.scoring.max_queued = absl::GetFlag(FLAGS_max_queued_submissions);
  const int max_submission_mib = absl::GetFlag(FLAGS_max_submission_mib);
  if (max_submission_mib < 1 || max_submission_mib > 1024) {
    std::cerr << "oracle-server: --max_submission_mib must be 1 to 1024\n";
    return 1;
  }
  options.max_submission_bytes = static_cast<size_t>(max_submission_mib) << 20;
  options.rate_limits.max_streams_per_learner =
      absl::GetFlag(FLAGS_max_streams_per_learner);
  options.tls.cert_path = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_path = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_path = absl::GetFlag(FLAGS_tls_client_ca);
  // The HTTP listeners bind before the store opens: a taken address fails
  // before any database is created, and /readyz says "not ready" while the
  // challenges load.
  const std::string http_address = absl::GetFlag(FLAGS_http);
  const std::string metrics_address = absl::GetFlag(FLAGS_metrics);
  std::unique_ptr<attnoracle::HttpServer> http;
  std::unique_ptr<attnoracle::HttpServer> metrics_http;
  for (const auto& [address, flag, site] :
       {std::tuple{http_address, "--http", true},
        std::tuple{metrics_address, "--metrics", false}}) {
    if (address.empty()) continue;
    auto started = attnoracle::HttpServer::Start(
        {.address = address,
         .serve_site = site,
         .serve_metrics = !site || metrics_address.empty(),
         .threads = absl::GetFlag(FLAGS_http_threads)});
    if (!started.ok()) {
      std::cerr << "oracle-server: " << flag << ": "
                << started.status().message() << "\n";
      return 1;
    }
    (site ? http : metrics_http) = *std::move(started);
  }
  options.collect_metrics = http != nullptr || metrics_http != nullptr;
  options.metrics.max_learners = absl::GetFlag(FLAGS_metrics_max_learners);
  auto server = attnoracle::OracleServer::BuildAndStart(options);
  if (!server.ok()) {
    std::cerr << "oracle-server: " << server.status().message() << "\n";
    return 1;
  }
  for (attnoracle::HttpServer* h : {http.get(), metrics_http.get()}) {
    if (h != nullptr) {
      h->Attach(&(*server)->core(), (*server)->metrics(),
                options.metrics.max_learners);
    }
  }
  // Before the startup line, which scripts wait for: the warning is then
  // already there when they look.
  if ((*server)->competition_mode() && !options.tls.enabled() &&
      !attnoracle::IsLoopbackAddress(options.listen_address)) {
    std::cerr << "oracle-server: warning: competition mode without TLS on "
              << options.listen_address
              << ": tokens cross the network in clear (see --tls-cert)"
              << std::endl;
  }
  const auto challenges = (*server)->registry().List();
  std::cout << "oracle-server listening on port " << (*server)->port() << " ("
            << options.listen_address << "), " << challenges.size()
            << (challenges.size() == 1 ? " challenge, " : " challenges, ")
            << ((*server)->competition_mode() ? "competition mode"
                                              : "open mode")
            << ", " << (*server)->transport_security() << ", database "
            << options.db_path << ", malloc " << attnoracle::MallocLibrary()
            << HttpAddresses(http.get(), http_address, metrics_http.get(),
                             metrics_address)
            << std::endl;

  std::thread waiter([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    std::cerr << "oracle-server: signal " << signal
              << ", finishing in-flight calls" << std::endl;
    for (attnoracle::HttpServer* h : {http.get(), metrics_http.get()}) {
      if (h != nullptr) h->SetDraining();
    }
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  // Before the core they read goes away.
  for (attnoracle::HttpServer* h : {http.get(), metrics_http.get()}) {
    if (h != nullptr) h->Stop();
  }
  std::cerr << "oracle-server: stopped" << std::endl;
  return 0;
}
