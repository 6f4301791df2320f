#include "client/connection.h"

#include <arpa/inet.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/grpc/grpc_status.h"
#include "common/status_macros.h"
#include "common/tls_files.h"

namespace attnoracle {
namespace {

// How a good target reads, for the refusals.
constexpr char kTargetForms[] =
    "give HOST:PORT, or several replicas as "
    "ipv4:HOST:PORT,HOST:PORT (ipv6:[ADDR]:PORT,...)";

absl::Status BadTarget(absl::string_view target, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--server \"", target, "\" ", why, ": ", kTargetForms));
}

// A port in 1..65535.
bool ValidPort(absl::string_view port) {
  int value = 0;
  return !port.empty() &&
         port.find_first_not_of("0123456789") == absl::string_view::npos &&
         absl::SimpleAtoi(port, &value) && value >= 1 && value <= 65535;
}

// `entry` of an ipv4: or ipv6: list: an address of that family and a port
// (gRPC's ipv4 and ipv6 resolvers need the port; ipv6 addresses in
// brackets).
bool ValidListEntry(absl::string_view entry, bool ipv6) {
  const size_t colon = entry.rfind(':');
  if (colon == absl::string_view::npos || !ValidPort(entry.substr(colon + 1))) {
    return false;
  }
  absl::string_view host = entry.substr(0, colon);
  if (ipv6 &&
      !(absl::ConsumePrefix(&host, "[") && absl::ConsumeSuffix(&host, "]"))) {
    return false;
  }
  const std::string address(host);
  unsigned char parsed[sizeof(struct in6_addr)];
  return inet_pton(ipv6 ? AF_INET6 : AF_INET, address.c_str(), parsed) == 1;
}

// gRPC's retry policy (A6) for the idempotent reads.
std::string BuildServiceConfigJson() {
  constexpr const char* kRetriedMethods[][2] = {
      {"attnoracle.v1.Oracle", "ListChallenges"},
      {"attnoracle.v1.Oracle", "DescribeChallenge"},
      {"attnoracle.v1.Oracle", "GetUsage"},
      {"attnoracle.v1.Oracle", "GetLeaderboard"},
      {"attnoracle.v1.Oracle", "GetTranscript"},
      {"attnoracle.v1.Oracle", "GetReveal"},
      {"grpc.health.v1.Health", "Check"},
  };
  std::vector<std::string> names;
  for (const auto& [service, method] : kRetriedMethods) {
    names.push_back(absl::StrCat("{\"service\":\"", service, "\",\"method\":\"",
                                 method, "\"}"));
  }
  return absl::StrCat(
      "{\"loadBalancingConfig\":[{\"round_robin\":{}}],"
      "\"methodConfig\":[{\"name\":[",
      absl::StrJoin(names, ","),
      "],\"retryPolicy\":{\"maxAttempts\":", kReadMaxAttempts,
      ",\"initialBackoff\":\"", kReadInitialBackoff, "\",\"maxBackoff\":\"",
      kReadMaxBackoff,
      "\",\"backoffMultiplier\":2,"
      "\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}");
}

// `converted` with a hint for a server that could not be reached at all.
absl::Status ExplainUnreachable(absl::Status converted,
                                const ClientOptions& options) {
  if (converted.ok()) return converted;
  if (absl::Status target = CheckServerTarget(options.server); !target.ok()) {
    return target;
  }
  // pick_first's words and round_robin's (every channel balances round
  // robin, NewChannel).
  if (converted.code() != absl::StatusCode::kUnavailable ||
      !(absl::StartsWith(converted.message(),
                         "failed to connect to all addresses") ||
        absl::StartsWith(converted.message(),
                         "connections to all backends failing"))) {
    return converted;
  }
  const std::string hint =
      options.tls.enabled
          ? absl::StrCat(
                "no oracle-server accepted a TLS connection at ",
                options.server,
                ": check that one runs there, that it serves TLS (a "
                "plaintext server fails the handshake), that --tls-ca "
                "holds the CA that signed its certificate and "
                "--tls-server-name a name it carries, and, if it asks for "
                "client certificates, --tls-cert and --tls-key")
          : absl::StrCat("no oracle-server answered in plaintext at ",
                         options.server,
                         ": check that one runs there; if it serves TLS, "
                         "connect with --tls-ca and its CA certificate");
  return absl::UnavailableError(
      absl::StrCat(hint, " (", converted.message(), ")"));
}

}  // namespace

absl::StatusOr<ClientTlsOptions> ReadClientTls(const ClientTlsFiles& files) {
  ClientTlsOptions tls;
  if (!files.any()) return tls;
  tls.enabled = true;
  tls.server_name = files.server_name;
  if (!files.ca_path.empty()) {
    ATTN_ASSIGN_OR_RETURN(tls.root_certs_pem,
                          ReadTlsCertificates(files.ca_path));
  }
  if (files.cert_path.empty() != files.key_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a TLS client certificate needs its private key; only the ",
        files.cert_path.empty() ? "key \"" : "certificate \"",
        files.cert_path.empty() ? files.key_path : files.cert_path,
        "\" was given"));
  }
  if (!files.cert_path.empty()) {
    ATTN_ASSIGN_OR_RETURN(TlsKeyPair pair,
                          ReadTlsKeyPair(files.cert_path, files.key_path));
    tls.cert_chain_pem = std::move(pair.cert_chain_pem);
    tls.private_key_pem = std::move(pair.private_key_pem);
  }
  return tls;
}

absl::Status CheckServerTarget(absl::string_view target) {
  if (target.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server is empty: ", kTargetForms));
  }
  for (const char c : target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return BadTarget(target, "holds a blank or control character");
    }
  }
  for (const bool ipv6 : {false, true}) {
    absl::string_view list = target;
    if (!absl::ConsumePrefix(&list, ipv6 ? "ipv6:" : "ipv4:")) continue;
    if (list.empty()) return BadTarget(target, "lists no address");
    for (absl::string_view entry : absl::StrSplit(list, ',')) {
      if (entry.empty()) return BadTarget(target, "has an empty address");
      if (!ValidListEntry(entry, ipv6)) {
        return BadTarget(
            target,
            absl::StrCat("has \"", entry, "\", which is not an ",
                         ipv6 ? "[IPv6]" : "IPv4", " address with a port"));
      }
    }
    return absl::OkStatus();
  }
  for (const absl::string_view scheme : {"dns:", "unix:", "unix-abstract:"}) {
    if (absl::StartsWith(target, scheme)) {
      if (target.size() == scheme.size()) {
        return BadTarget(target, "names no address after its scheme");
      }
      return absl::OkStatus();
    }
  }
  if (absl::StrContains(target, ',')) {
    return BadTarget(target,
                     "lists several addresses without gRPC's ipv4: or ipv6: "
                     "prefix");
  }
  const size_t colon = target.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return BadTarget(target, "is not HOST:PORT");
  }
  if (!ValidPort(target.substr(colon + 1))) {
    return BadTarget(target, "has no port in 1..65535");
  }
  return absl::OkStatus();
}

const std::string& ChannelServiceConfigJson() {
  static const std::string* const json =
      new std::string(BuildServiceConfigJson());
  return *json;
}

std::shared_ptr<grpc::Channel> NewChannel(const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetServiceConfigJSON(ChannelServiceConfigJson());
  if (!options.tls.enabled) {
    return grpc::CreateCustomChannel(options.server,
                                     grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.tls.root_certs_pem;
  ssl.pem_cert_chain = options.tls.cert_chain_pem;
  ssl.pem_private_key = options.tls.private_key_pem;
  if (!options.tls.server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls.server_name);
  }
  return grpc::CreateCustomChannel(options.server, grpc::SslCredentials(ssl),
                                   args);
}

void PrepareContext(const ClientOptions& options,
                    grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + options.deadline);
  if (!options.token.empty()) {
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", options.token));
  }
  if (!options.learner.empty()) {
    context->AddMetadata("x-attnoracle-learner", options.learner);
  }
}

absl::Status CallStatus(const grpc::Status& status,
                        const grpc::ClientContext& context,
                        const ClientOptions& options) {
  return ExplainUnreachable(FromGrpcStatus(status, context), options);
}

absl::Status CallStatus(const grpc::Status& status,
                        const ClientOptions& options) {
  return ExplainUnreachable(FromGrpcStatus(status), options);
}

}  // namespace attnoracle
