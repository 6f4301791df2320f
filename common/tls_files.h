// Reads the PEM files of a TLS setup (certificates, private keys) and checks
// them with OpenSSL before gRPC sees them, so a wrong file is reported by
// name instead of as a failed handshake or a listener that never starts.
// Error messages name files and never contain their contents.
//
//   absl::StatusOr<TlsKeyPair> pair =
//       ReadTlsKeyPair("certs/server.pem", "certs/server.key");
//   absl::StatusOr<std::string> ca = ReadTlsCertificates("certs/ca.pem");
#ifndef ATTNORACLE_COMMON_TLS_FILES_H_
#define ATTNORACLE_COMMON_TLS_FILES_H_

#include <string>

#include "absl/status/statusor.h"

namespace attnoracle {

// A certificate chain and the private key of its first certificate, PEM.
struct TlsKeyPair {
  std::string cert_chain_pem;
  std::string private_key_pem;
};

// The text of a PEM file holding one or more X.509 certificates (a chain, or
// a bundle of trusted CAs). NOT_FOUND when the file cannot be read,
// INVALID_ARGUMENT when it holds no certificate or a malformed one.
[[nodiscard]] absl::StatusOr<std::string> ReadTlsCertificates(
    const std::string& path);

// A certificate chain and its unencrypted private key. NOT_FOUND when a file
// cannot be read; INVALID_ARGUMENT when the chain is malformed, the key file
// holds no unencrypted private key, or the key does not belong to the first
// certificate.
[[nodiscard]] absl::StatusOr<TlsKeyPair> ReadTlsKeyPair(
    const std::string& cert_path, const std::string& key_path);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_TLS_FILES_H_
