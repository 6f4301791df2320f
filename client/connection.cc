#include "client/connection.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc/grpc_status.h"
#include "common/status_macros.h"
#include "common/tls_files.h"

namespace attnoracle {
namespace {

// `converted` with a hint for a server that could not be reached at all.
absl::Status ExplainUnreachable(absl::Status converted,
                                const ClientOptions& options) {
  if (converted.code() != absl::StatusCode::kUnavailable ||
      !absl::StartsWith(converted.message(),
                        "failed to connect to all addresses")) {
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

std::shared_ptr<grpc::Channel> NewChannel(const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
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
