// TLS: the PEM file checks (named files, exact codes, no key material in
// messages), OracleServer::BuildAndStart's refusal of bad TLS setups, and
// real TLS and mutual TLS connections over loopback with throwaway
// certificates: trusted, untrusted and plaintext clients.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "client/connection.h"
#include "client/oracle_client.h"
#include "common/tls_files.h"
#include "server/service/oracle_server.h"
#include "tests/tls_test_util.h"

namespace attnoracle {
namespace {

// Aggregates spelled out: GCC warns about designated initializers that leave
// fields to their defaults.
ServerTlsOptions Tls(std::string cert, std::string key,
                     std::string client_ca = "") {
  ServerTlsOptions tls;
  tls.cert_path = std::move(cert);
  tls.key_path = std::move(key);
  tls.client_ca_path = std::move(client_ca);
  return tls;
}

ClientTlsFiles Files(std::string ca, std::string cert = "",
                     std::string key = "", std::string server_name = "") {
  ClientTlsFiles files;
  files.ca_path = std::move(ca);
  files.cert_path = std::move(cert);
  files.key_path = std::move(key);
  files.server_name = std::move(server_name);
  return files;
}

using ::attnoracle::test::ScopedTempDir;
using ::attnoracle::test::TestCa;
using ::attnoracle::test::TestCert;
using ::attnoracle::test::WriteFile;
using ::testing::HasSubstr;
using ::testing::Not;

// Every PEM file a test needs, written to a fresh directory: a CA, a server
// certificate it signed for localhost and 127.0.0.1, a client certificate
// it signed, and an unrelated CA with a client certificate of its own.
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestCa ca = TestCa::Make("test CA");
    TestCa other = TestCa::Make("other CA");
    const TestCert server =
        ca.Issue("localhost", {"DNS:localhost", "IP:127.0.0.1"});
    const TestCert client = ca.Issue("alice");
    const TestCert stranger = other.Issue("mallory");
    WriteFile(ca_, ca.cert_pem());
    WriteFile(other_ca_, other.cert_pem());
    WriteFile(server_cert_, server.cert_pem);
    WriteFile(server_key_, server.key_pem);
    WriteFile(client_cert_, client.cert_pem);
    WriteFile(client_key_, client.key_pem);
    WriteFile(stranger_cert_, stranger.cert_pem);
    WriteFile(stranger_key_, stranger.key_pem);
    WriteFile(garbage_, kGarbage);
  }

  static ServerOptions Listening(ServerTlsOptions tls) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.tls = std::move(tls);
    return options;
  }

  ServerOptions TlsServer(const std::string& client_ca = "") const {
    return Listening(Tls(server_cert_, server_key_, client_ca));
  }

  // ListChallenges over a fresh channel with `files` (plaintext when none).
  absl::Status Call(const OracleServer& server, const ClientTlsFiles& files) {
    absl::StatusOr<ClientTlsOptions> tls = ReadClientTls(files);
    if (!tls.ok()) return tls.status();
    ClientOptions options;
    options.server = absl::StrCat("127.0.0.1:", server.port());
    options.deadline = std::chrono::seconds(10);
    options.tls = *std::move(tls);
    return OracleClient::Connect(options)->ListChallenges().status();
  }

  // Must never show up in an error message.
  static constexpr char kGarbage[] = "not a pem file: secret-ish bytes 7f3a";

  ScopedTempDir dir_;
  const std::string ca_ = dir_.File("ca.pem");
  const std::string other_ca_ = dir_.File("other-ca.pem");
  const std::string server_cert_ = dir_.File("server.pem");
  const std::string server_key_ = dir_.File("server.key");
  const std::string client_cert_ = dir_.File("client.pem");
  const std::string client_key_ = dir_.File("client.key");
  const std::string stranger_cert_ = dir_.File("stranger.pem");
  const std::string stranger_key_ = dir_.File("stranger.key");
  const std::string garbage_ = dir_.File("garbage.pem");
  const std::string missing_ = dir_.File("missing.pem");
};

TEST_F(TlsTest, ReadsCertificatesAndMatchingKeys) {
  absl::StatusOr<std::string> ca = ReadTlsCertificates(ca_);
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_THAT(*ca, HasSubstr("BEGIN CERTIFICATE"));
  absl::StatusOr<TlsKeyPair> pair = ReadTlsKeyPair(server_cert_, server_key_);
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_THAT(pair->private_key_pem, HasSubstr("PRIVATE KEY"));
}

TEST_F(TlsTest, MissingFileIsNotFoundAndNamed) {
  absl::StatusOr<std::string> ca = ReadTlsCertificates(missing_);
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ca.status().message(), HasSubstr(missing_));
  absl::StatusOr<TlsKeyPair> pair = ReadTlsKeyPair(server_cert_, missing_);
  EXPECT_EQ(pair.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(pair.status().message(), HasSubstr(missing_));
}

TEST_F(TlsTest, MalformedFilesAreInvalidAndNotEchoed) {
  absl::StatusOr<std::string> ca = ReadTlsCertificates(garbage_);
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ca.status().message(), HasSubstr(garbage_));
  EXPECT_THAT(ca.status().message(), Not(HasSubstr("secret-ish")));

  // A key where a certificate belongs, and the other way round: the key's
  // text must not leak into the message.
  absl::StatusOr<std::string> key_as_cert = ReadTlsCertificates(server_key_);
  EXPECT_EQ(key_as_cert.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<TlsKeyPair> cert_as_key =
      ReadTlsKeyPair(server_cert_, server_cert_);
  EXPECT_EQ(cert_as_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cert_as_key.status().message(),
              HasSubstr("holds no unencrypted PEM private key"));
  EXPECT_THAT(cert_as_key.status().message(), Not(HasSubstr("BEGIN")));

  // A certificate cut short in the middle of its body.
  const std::string whole = test::ReadText(server_cert_);
  const std::string truncated = dir_.File("truncated.pem");
  WriteFile(truncated, whole.substr(0, whole.size() / 2) +
                           "\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(ReadTlsCertificates(truncated).status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(ReadTlsCertificates(dir_.File("")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TlsTest, KeyOfAnotherCertificateIsRefused) {
  absl::StatusOr<TlsKeyPair> pair = ReadTlsKeyPair(server_cert_, client_key_);
  EXPECT_EQ(pair.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pair.status().message(), HasSubstr("does not belong"));
  EXPECT_THAT(pair.status().message(), HasSubstr(client_key_));
}

TEST_F(TlsTest, ServerRefusesBadTlsSetupsWithExactCodes) {
  struct Case {
    const char* what;
    ServerTlsOptions tls;
    absl::StatusCode code;
    std::string named;  // the file the message must name
  };
  const Case cases[] = {
      {"missing certificate", Tls(missing_, server_key_),
       absl::StatusCode::kNotFound, missing_},
      {"missing key", Tls(server_cert_, missing_), absl::StatusCode::kNotFound,
       missing_},
      {"certificate without key", Tls(server_cert_, ""),
       absl::StatusCode::kInvalidArgument, server_cert_},
      {"key without certificate", Tls("", server_key_),
       absl::StatusCode::kInvalidArgument, server_key_},
      {"client CA without server certificate", Tls("", "", ca_),
       absl::StatusCode::kInvalidArgument, ca_},
      {"malformed certificate", Tls(garbage_, server_key_),
       absl::StatusCode::kInvalidArgument, garbage_},
      {"key of another certificate", Tls(server_cert_, client_key_),
       absl::StatusCode::kInvalidArgument, client_key_},
      {"missing client CA", Tls(server_cert_, server_key_, missing_),
       absl::StatusCode::kNotFound, missing_},
      {"malformed client CA", Tls(server_cert_, server_key_, garbage_),
       absl::StatusCode::kInvalidArgument, garbage_},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    absl::StatusOr<std::unique_ptr<OracleServer>> server =
        OracleServer::BuildAndStart(Listening(c.tls));
    EXPECT_EQ(server.status().code(), c.code) << server.status();
    EXPECT_THAT(server.status().message(), HasSubstr(c.named));
  }
}

TEST_F(TlsTest, TlsServerAnswersClientsThatTrustItsCa) {
  absl::StatusOr<std::unique_ptr<OracleServer>> server =
      OracleServer::BuildAndStart(TlsServer());
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_STREQ((*server)->transport_security(), "tls");

  EXPECT_TRUE(Call(**server, Files(ca_)).ok());
  EXPECT_TRUE(Call(**server, Files(ca_, "", "", "localhost")).ok());
  // A client certificate is harmless when the server does not ask for one.
  EXPECT_TRUE(Call(**server, Files(ca_, client_cert_, client_key_)).ok());

  EXPECT_EQ(Call(**server, Files("")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Call(**server, Files(other_ca_)).code(),
            absl::StatusCode::kUnavailable);
  // gRPC's default roots do not hold a throwaway CA.
  EXPECT_EQ(Call(**server, Files("", "", "", "localhost")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Call(**server, Files(ca_, "", "", "elsewhere.example")).code(),
            absl::StatusCode::kUnavailable);
  // The in-process channel is unaffected by the listener's TLS.
  EXPECT_TRUE(
      OracleClient((*server)->InProcessChannel(), {}).ListChallenges().ok());
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  absl::StatusOr<std::unique_ptr<OracleServer>> server =
      OracleServer::BuildAndStart(TlsServer(ca_));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_STREQ((*server)->transport_security(), "mutual tls");

  EXPECT_TRUE(Call(**server, Files(ca_, client_cert_, client_key_)).ok());
  EXPECT_EQ(Call(**server, Files(ca_)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Call(**server, Files(ca_, stranger_cert_, stranger_key_)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Call(**server, Files("")).code(), absl::StatusCode::kUnavailable);
}

TEST_F(TlsTest, PlaintextServerRefusesTlsClients) {
  absl::StatusOr<std::unique_ptr<OracleServer>> server =
      OracleServer::BuildAndStart(Listening({}));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_STREQ((*server)->transport_security(), "insecure");
  EXPECT_TRUE(Call(**server, Files("")).ok());
  EXPECT_EQ(Call(**server, Files(ca_)).code(), absl::StatusCode::kUnavailable);
}

// A mismatched TLS setting shows on the client as gRPC's bare "failed to
// connect" (for a plaintext client: "Socket closed"); the client says
// where it tried and which setting to check.
TEST_F(TlsTest, MismatchedTlsIsExplainedToTheClient) {
  absl::StatusOr<std::unique_ptr<OracleServer>> tls_server =
      OracleServer::BuildAndStart(TlsServer());
  ASSERT_TRUE(tls_server.ok()) << tls_server.status();
  const absl::Status plaintext = Call(**tls_server, Files(""));
  EXPECT_EQ(plaintext.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(plaintext.message(),
              HasSubstr(absl::StrCat("127.0.0.1:", (*tls_server)->port())));
  EXPECT_THAT(plaintext.message(), HasSubstr("if it serves TLS"));
  EXPECT_THAT(plaintext.message(), HasSubstr("--tls-ca"));

  absl::StatusOr<std::unique_ptr<OracleServer>> plain_server =
      OracleServer::BuildAndStart(Listening({}));
  ASSERT_TRUE(plain_server.ok()) << plain_server.status();
  const absl::Status tls = Call(**plain_server, Files(ca_));
  EXPECT_EQ(tls.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(tls.message(), HasSubstr("a plaintext server fails"));
  // gRPC's own words stay, for whoever needs the detail (round_robin's,
  // the policy of every client channel).
  EXPECT_THAT(tls.message(), HasSubstr("connections to all backends failing"));
}

// Only gRPC's failure to reach a server gets the hint: an UNAVAILABLE the
// server sent (its store failed, say) reaches the caller as it was.
TEST(CallStatusTest, StatusesFromTheServerAreUnchanged) {
  ClientOptions options;
  options.server = "127.0.0.1:1";
  const std::string sent =
      "the store failed to commit charges (disk I/O error); restart the "
      "server";
  const absl::Status status =
      CallStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, sent), options);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), sent);
  EXPECT_TRUE(CallStatus(grpc::Status::OK, options).ok());
}

TEST_F(TlsTest, ClientTlsFilesAreCheckedBeforeConnecting) {
  absl::StatusOr<ClientTlsOptions> none = ReadClientTls(Files(""));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->enabled);

  absl::StatusOr<ClientTlsOptions> ca_only = ReadClientTls(Files(ca_));
  ASSERT_TRUE(ca_only.ok()) << ca_only.status();
  EXPECT_TRUE(ca_only->enabled);
  EXPECT_TRUE(ca_only->cert_chain_pem.empty());

  // A server name alone asks for TLS too (trusting the default roots).
  absl::StatusOr<ClientTlsOptions> name_only =
      ReadClientTls(Files("", "", "", "localhost"));
  ASSERT_TRUE(name_only.ok()) << name_only.status();
  EXPECT_TRUE(name_only->enabled);
  EXPECT_TRUE(name_only->root_certs_pem.empty());

  EXPECT_EQ(ReadClientTls(Files(missing_)).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<ClientTlsOptions> no_key =
      ReadClientTls(Files(ca_, client_cert_));
  EXPECT_EQ(no_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_key.status().message(), HasSubstr(client_cert_));
  EXPECT_EQ(
      ReadClientTls(Files(ca_, client_cert_, server_key_)).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(LoopbackAddressTest, OnlyLocalListenersCountAsLoopback) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackAddress("127.1.2.3:0"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:50051"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50051"));
  EXPECT_TRUE(IsLoopbackAddress("unix:/tmp/oracle.sock"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.5:6000"));
  EXPECT_FALSE(IsLoopbackAddress("oracle.example.org:443"));
  EXPECT_FALSE(IsLoopbackAddress("127.example.org:443"));
}

}  // namespace
}  // namespace attnoracle
