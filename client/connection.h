// ClientOptions and what every client stub needs from them: a channel to the
// server, and Call, which makes one unary call with a prepared context
// (deadline, token, learner name) and turns its status back into an
// absl::Status. Shared by OracleClient and AdminClient so both speak to the
// server alike.
//
//   ClientOptions options{.server = "127.0.0.1:50051", .token = token};
//   // Or several replicas, calls spread round robin:
//   //   .server = "ipv4:127.0.0.1:7001,127.0.0.1:7002"
//   if (absl::Status ok = CheckServerTarget(options.server); !ok.ok()) ...
//   std::shared_ptr<grpc::Channel> channel = NewChannel(options);
//   auto stub = v1::Oracle::NewStub(channel);
//   absl::StatusOr<v1::Usage> usage =
//       Call(*stub, &v1::Oracle::Stub::GetUsage, request, options);
//
// Over TLS, trusting one CA:
//   absl::StatusOr<ClientTlsOptions> tls = ReadClientTls({.ca_path =
//   "ca.pem"}); if (tls.ok()) options.tls = *tls;
#ifndef ATTNORACLE_CLIENT_CONNECTION_H_
#define ATTNORACLE_CLIENT_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace attnoracle {

// The channel's TLS setup, PEM text (not paths, so that connecting cannot
// fail on a file: ReadClientTls reads and checks them first).
struct ClientTlsOptions {
  // false: a plaintext channel, and the fields below are ignored.
  bool enabled = false;
  // CAs trusted to sign the server's certificate; empty: gRPC's default
  // roots.
  std::string root_certs_pem;
  // The client's certificate chain and key, for servers that demand mutual
  // TLS; both or neither.
  std::string cert_chain_pem;
  std::string private_key_pem;
  // Checked against the server's certificate instead of the host in
  // ClientOptions::server (e.g. when connecting by IP to a cert for a name).
  std::string server_name;
};

// The PEM files a user names on the command line.
struct ClientTlsFiles {
  std::string ca_path;
  std::string cert_path;
  std::string key_path;
  std::string server_name;

  // Any of them asks for TLS (without ca_path, trusting gRPC's default
  // roots).
  bool any() const {
    return !ca_path.empty() || !cert_path.empty() || !key_path.empty() ||
           !server_name.empty();
  }
};

// TLS options from files (enabled when files.any()). NOT_FOUND when a file
// cannot be read; INVALID_ARGUMENT when one is malformed, the key does not
// belong to the certificate, or only one of cert_path and key_path is given.
// Messages name the file, never its contents.
[[nodiscard]] absl::StatusOr<ClientTlsOptions> ReadClientTls(
    const ClientTlsFiles& files);

struct ClientOptions {
  // A gRPC target: host:port, or several addresses in gRPC's own syntax,
  // "ipv4:127.0.0.1:7001,127.0.0.1:7002" (ipv6: "ipv6:[::1]:7001,..."),
  // or any other scheme gRPC resolves (dns:, unix:). The channel balances
  // its calls round robin over every address the target resolves to.
  std::string server = "127.0.0.1:50051";
  // Deadline of every call (of a whole stream for streaming calls).
  std::chrono::milliseconds deadline = std::chrono::seconds(30);
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string token;
  // Sent as "x-attnoracle-learner: <learner>" when not empty: the name this
  // caller goes by on an open-mode server started with --open_learner_ids
  // (any other server refuses it, or ignores it where a token decides).
  // Servers take 1 to 64 of [a-z0-9._-]; gRPC aborts the process on a
  // value that is not printable ASCII, so check a name from users first.
  std::string learner;
  // Plaintext unless tls.enabled. Bearer tokens cross the network in clear
  // on a plaintext channel.
  ClientTlsOptions tls;
};

// OK when `target` is a gRPC target a channel can use (ClientOptions::server);
// else INVALID_ARGUMENT naming --server: empty, blanks or control
// characters, a host:port without a port or with one outside 1..65535, an
// ipv4:/ipv6: list with no address, an empty entry or an entry that is not
// an address of its family, and several addresses without the ipv4:/ipv6:
// prefix gRPC needs to read them as a list. Other schemes (dns:, unix:) are
// left to gRPC's resolver once their rest is not empty.
[[nodiscard]] absl::Status CheckServerTarget(absl::string_view target);

// Attempts of one idempotent read (the first and its retries) when a replica
// answers UNAVAILABLE, and the backoff between them (gRPC's retry policy:
// each wait is random in [0, min(initial * multiplier^(n-1), max)]).
inline constexpr int kReadMaxAttempts = 4;
inline constexpr char kReadInitialBackoff[] = "0.1s";
inline constexpr char kReadMaxBackoff[] = "1s";

// The service config every channel carries, as JSON: the round_robin
// policy, and a retry policy on UNAVAILABLE for the reads that change
// nothing (ListChallenges, DescribeChallenge, GetUsage, GetLeaderboard,
// GetTranscript, GetReveal, grpc.health.v1.Health/Check). Query,
// QueryStream, Sample, Submit and every Admin method are never retried:
// each charges or changes, and a retry after a lost answer would charge
// twice.
const std::string& ChannelServiceConfigJson();

// A channel to options.server (TLS when options.tls.enabled) with no limit
// on the size of received messages (answers and transcript pages can be
// large) and ChannelServiceConfigJson()'s balancing and retries. Connects
// lazily: a refused handshake shows as UNAVAILABLE on the first call. A
// target CheckServerTarget refuses gives a channel whose calls fail with
// that check's INVALID_ARGUMENT (through CallStatus).
std::shared_ptr<grpc::Channel> NewChannel(const ClientOptions& options);

// Sets the deadline and, when there is a token, the authorization metadata,
// and when there is a learner name, the learner metadata.
void PrepareContext(const ClientOptions& options, grpc::ClientContext* context);

// A finished call's status as an absl::Status, with the retry hint the
// server sent in `context`'s trailing metadata (common/retry_hint.h). When
// gRPC reached no server at all (its "failed to connect to all addresses",
// which the oracle server never sends; a proxy relaying gRPC's words would
// get the hint too), the message says where it tried and what to check:
// that a server runs there, and that the client's TLS setting matches the
// server's (a TLS server closes a plaintext connection unexplained). A
// failed call on a target CheckServerTarget refuses returns that refusal.
absl::Status CallStatus(const grpc::Status& status,
                        const grpc::ClientContext& context,
                        const ClientOptions& options);
// The same for a status alone: no retry hint.
absl::Status CallStatus(const grpc::Status& status,
                        const ClientOptions& options);

// One unary call of `method` on `stub` with a context from PrepareContext;
// the response, or the call's status from CallStatus (so a rate-limited
// refusal keeps its RetryAfter() hint, whatever the method). Every unary
// method of OracleClient and AdminClient goes through here.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Call(Stub& stub,
                              grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                           const Request&,
                                                           Response*),
                              const Request& request,
                              const ClientOptions& options) {
  grpc::ClientContext context;
  PrepareContext(options, &context);
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  if (absl::Status converted = CallStatus(status, context, options);
      !converted.ok()) {
    return converted;
  }
  return response;
}

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_CONNECTION_H_
