// MetricsInterceptorFactory: counts every gRPC call the server finishes, by
// method and status code, and times it from its arrival to its status,
// into ServerMetrics. Calls refused before any handler runs (a bad token, a
// message over the size limit) are counted too.
//
//   std::vector<std::unique_ptr<
//       grpc::experimental::ServerInterceptorFactoryInterface>> factories;
//   factories.push_back(std::make_unique<MetricsInterceptorFactory>(&metrics));
//   builder.experimental().SetInterceptorCreators(std::move(factories));
//
// Thread-safe; `metrics` must outlive the server.
#ifndef ATTNORACLE_SERVER_SERVICE_METRICS_INTERCEPTOR_H_
#define ATTNORACLE_SERVER_SERVICE_METRICS_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include "server/core/server_metrics.h"

namespace attnoracle {

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(ServerMetrics* metrics)
      : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  ServerMetrics* metrics_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_METRICS_INTERCEPTOR_H_
