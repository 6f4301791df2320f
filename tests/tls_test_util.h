// Throwaway certificates for TLS tests, made in memory with OpenSSL: a CA and
// leaf certificates it signs (P-256 keys, valid for a day), as PEM text, and
// a directory to write them to.
//
//   TestCa ca = TestCa::Make("test CA");
//   TestCert server = ca.Issue("localhost", {"DNS:localhost", "IP:127.0.0.1"});
//   ScopedTempDir dir;
//   WriteFile(dir.File("server.pem"), server.cert_pem);
#ifndef ATTNORACLE_TESTS_TLS_TEST_UTIL_H_
#define ATTNORACLE_TESTS_TLS_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace attnoracle::test {

struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

namespace tls_internal {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

// Certificates outlive no test run.
constexpr long kValiditySeconds = 24 * 60 * 60;

inline KeyPtr NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (key == nullptr) std::abort();
  return key;
}

inline std::string KeyPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                           nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size);
}

inline std::string CertPem(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size);
}

inline void AddExtension(X509* cert, X509* issuer, int nid,
                         const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, const_cast<char*>(value.c_str()));
  if (ext == nullptr) std::abort();
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// An unsigned certificate for `common_name` and `key`, issued by `issuer`
// (by itself when `issuer` is null).
inline X509Ptr NewCert(const std::string& common_name, EVP_PKEY* key,
                       X509* issuer, long serial) {
  X509Ptr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);  // v3, for extensions
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(
      cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  return cert;
}

}  // namespace tls_internal

class TestCa {
 public:
  static TestCa Make(const std::string& name) {
    using namespace tls_internal;
    TestCa ca(NewKey());
    ca.cert_ = NewCert(name, ca.key_.get(), nullptr, 1);
    AddExtension(ca.cert_.get(), ca.cert_.get(), NID_basic_constraints,
                 "critical,CA:TRUE");
    X509_sign(ca.cert_.get(), ca.key_.get(), EVP_sha256());
    return ca;
  }

  std::string cert_pem() const { return tls_internal::CertPem(cert_.get()); }

  // A leaf certificate; `alt_names` like "DNS:localhost", "IP:127.0.0.1".
  TestCert Issue(const std::string& common_name,
                 const std::vector<std::string>& alt_names = {}) {
    using namespace tls_internal;
    KeyPtr key = NewKey();
    X509Ptr cert = NewCert(common_name, key.get(), cert_.get(), ++serial_);
    if (!alt_names.empty()) {
      AddExtension(cert.get(), cert_.get(), NID_subject_alt_name,
                   absl::StrJoin(alt_names, ","));
    }
    X509_sign(cert.get(), key_.get(), EVP_sha256());
    return {CertPem(cert.get()), KeyPem(key.get())};
  }

 private:
  explicit TestCa(tls_internal::KeyPtr key)
      : key_(std::move(key)), cert_(nullptr, X509_free) {}

  tls_internal::KeyPtr key_;
  tls_internal::X509Ptr cert_;
  long serial_ = 1;
};

// A fresh directory for the current test, unique to it and this process
// (tests of one binary run in parallel), removed on destruction.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        absl::StrCat(info == nullptr ? "no-test" : info->test_suite_name(), ".",
                     info == nullptr ? "" : info->name(), ".", getpid());
    std::replace(name.begin(), name.end(), '/', '_');
    path_ = (std::filesystem::path(::testing::TempDir()) / name).string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  // `name` inside the directory.
  std::string File(const std::string& name) const {
    return (std::filesystem::path(path_) / name).string();
  }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_TLS_TEST_UTIL_H_
