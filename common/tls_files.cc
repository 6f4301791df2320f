#include "common/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace attnoracle {

namespace {

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// OpenSSL keeps failures on a thread-local queue: the parse below reads it,
// so it starts empty, and leaves it empty for unrelated callers (gRPC's
// handshakes on this thread).
struct ClearOpenSslErrors {
  ClearOpenSslErrors() { ERR_clear_error(); }
  ~ClearOpenSslErrors() { ERR_clear_error(); }
};

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", path, "\" is a directory, not a PEM file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " \"", path,
                                            "\": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())),
                BIO_free);
}

// Refuses to decrypt: an encrypted key would otherwise make OpenSSL prompt
// for a passphrase on the terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

// The first certificate of `pem`, after checking that every PEM block in it
// is a well-formed certificate; nullptr when there is none or one is bad.
X509Ptr ParseCertificates(const std::string& pem) {
  BioPtr bio = MemoryBio(pem);
  X509Ptr first(nullptr, X509_free);
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr),
                 X509_free);
    if (cert == nullptr) break;
    if (first == nullptr) first = std::move(cert);
  }
  // Running out of PEM blocks ends the loop with "no start line"; anything
  // else is a malformed block.
  const unsigned long error = ERR_peek_last_error();
  if (error != 0 && !(ERR_GET_LIB(error) == ERR_LIB_PEM &&
                      ERR_GET_REASON(error) == PEM_R_NO_START_LINE)) {
    return X509Ptr(nullptr, X509_free);
  }
  return first;
}

}  // namespace

absl::StatusOr<std::string> ReadTlsCertificates(const std::string& path) {
  ClearOpenSslErrors clear;
  absl::StatusOr<std::string> pem = ReadFile(path, "TLS certificate file");
  if (!pem.ok()) return pem.status();
  if (ParseCertificates(*pem) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS certificate file \"", path,
                     "\" is not a PEM file of X.509 certificates (\"-----BEGIN "
                     "CERTIFICATE-----\" blocks)"));
  }
  return pem;
}

absl::StatusOr<TlsKeyPair> ReadTlsKeyPair(const std::string& cert_path,
                                          const std::string& key_path) {
  ClearOpenSslErrors clear;
  TlsKeyPair pair;
  absl::StatusOr<std::string> chain = ReadTlsCertificates(cert_path);
  if (!chain.ok()) return chain.status();
  pair.cert_chain_pem = *std::move(chain);
  absl::StatusOr<std::string> key = ReadFile(key_path, "TLS key file");
  if (!key.ok()) return key.status();
  pair.private_key_pem = *std::move(key);

  BioPtr bio = MemoryBio(pair.private_key_pem);
  KeyPtr pkey(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr),
      EVP_PKEY_free);
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS key file \"", key_path,
                     "\" holds no unencrypted PEM private key"));
  }
  X509Ptr cert = ParseCertificates(pair.cert_chain_pem);
  if (cert == nullptr || X509_check_private_key(cert.get(), pkey.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the private key in \"", key_path,
        "\" does not belong to the certificate in \"", cert_path, "\""));
  }
  return pair;
}

}  // namespace attnoracle
