// The server assembly owns its listening port: a second server on a taken
// port fails with a clear "address in use", the first keeps serving, and no
// other process can share the port through SO_REUSEPORT.
#include "server/service/oracle_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/oracle_client.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::MessageOf;
using ::testing::HasSubstr;

// An in-memory server listening on a free loopback port.
std::unique_ptr<OracleServer> StartOnFreePort() {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<OracleServer>> server =
      OracleServer::BuildAndStart(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(OracleServerPortTest, SecondServerOnTakenPortIsRefusedAndFirstServes) {
  std::unique_ptr<OracleServer> first = StartOnFreePort();
  ASSERT_NE(first, nullptr);
  const std::string address = absl::StrCat("127.0.0.1:", first->port());

  ServerOptions options;
  options.listen_address = address;
  absl::StatusOr<std::unique_ptr<OracleServer>> second =
      OracleServer::BuildAndStart(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(MessageOf(second.status()), HasSubstr("address in use"));
  EXPECT_THAT(MessageOf(second.status()), HasSubstr(address));

  // Every call still reaches the first server, over the network.
  OracleClient client(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()),
      ClientOptions{});
  absl::StatusOr<std::vector<ChallengeInfo>> list = client.ListChallenges();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_FALSE(list->empty());
}

TEST(OracleServerOptionsTest, ForwardThreadsOutOfRangeAreRefused) {
  for (int threads : {-1, 65}) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.forward_threads = threads;
    absl::StatusOr<std::unique_ptr<OracleServer>> server =
        OracleServer::BuildAndStart(options);
    ASSERT_FALSE(server.ok()) << threads;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(MessageOf(server.status()),
                HasSubstr(absl::StrCat("forward threads = ", threads)));
  }
  for (int threads : {0, 1, 64}) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.forward_threads = threads;
    EXPECT_TRUE(OracleServer::BuildAndStart(options).ok()) << threads;
  }
}

// gRPC listens with SO_REUSEPORT unless told not to; then any process of the
// same user could bind the port with SO_REUSEPORT too and take half the
// connections. The server must refuse to share.
TEST(OracleServerPortTest, PortCannotBeSharedThroughReusePort) {
  std::unique_ptr<OracleServer> server = StartOnFreePort();
  ASSERT_NE(server, nullptr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  const int one = 1;
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  close(fd);
  EXPECT_EQ(rc, -1) << "a second socket shared the server's port";
  EXPECT_EQ(bind_errno, EADDRINUSE);
}

}  // namespace
}  // namespace attnoracle
