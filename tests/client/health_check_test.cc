// CheckHealth against a real gRPC server's default health service on
// loopback: SERVING, NOT_SERVING, an unknown service, and no server at all.
#include "client/health_check.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

class HealthCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    // The health service needs the server to serve some callback service.
    builder.RegisterCallbackGenericService(&generic_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    options_.server = "127.0.0.1:" + std::to_string(port);
    options_.deadline = std::chrono::seconds(5);
    channel_ = NewChannel(options_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  grpc::CallbackGenericService generic_;
  std::unique_ptr<grpc::Server> server_;
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(HealthCheckTest, ServingIsOk) {
  EXPECT_TRUE(CheckHealth(channel_, options_, "").ok());
}

TEST_F(HealthCheckTest, NotServingIsUnavailable) {
  server_->GetHealthCheckService()->SetServingStatus(false);
  const absl::Status status = CheckHealth(channel_, options_, "");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("NOT_SERVING"));
}

TEST_F(HealthCheckTest, UnknownServiceIsNotFound) {
  const absl::Status status =
      CheckHealth(channel_, options_, "no.such.Service");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
}

TEST_F(HealthCheckTest, NoServerIsUnavailable) {
  const std::string address = options_.server;
  server_->Shutdown();
  server_.reset();
  ClientOptions options = options_;
  options.deadline = std::chrono::seconds(2);
  const absl::Status status = CheckHealth(NewChannel(options), options, "");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr(address));
}

}  // namespace
}  // namespace attnoracle
