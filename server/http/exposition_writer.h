// ExpositionWriter: Prometheus's text exposition format (version 0.0.4),
// written family by family: HELP and TYPE lines, then the samples, label
// values and help text escaped as the format requires.
//
//   ExpositionWriter w;
//   w.Family("attnoracle_rpcs_total", "counter", "RPCs finished.");
//   w.Sample("attnoracle_rpcs_total", {{"method", "Query"}, {"code", "OK"}},
//   3); w.HistogramSamples("attnoracle_rpc_duration_seconds", {}, histogram);
//   std::string text = w.Take();
//
// The caller keeps each family's samples together, after its Family line,
// and uses valid metric and label names ([a-zA-Z_:][a-zA-Z0-9_:]*). Not
// thread-safe: one writer per page.
#ifndef ATTNORACLE_SERVER_HTTP_EXPOSITION_WRITER_H_
#define ATTNORACLE_SERVER_HTTP_EXPOSITION_WRITER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/core/server_metrics.h"

namespace attnoracle {

// The content type of the format, for the HTTP response.
inline constexpr char kExpositionContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class ExpositionWriter {
 public:
  // `type`: "counter", "gauge", "histogram" or "untyped".
  void Family(absl::string_view name, absl::string_view type,
              absl::string_view help);
  void Sample(absl::string_view name, const MetricLabels& labels, double value);
  // The _bucket samples (with "le", +Inf last), _sum and _count of `h`.
  void HistogramSamples(absl::string_view name, const MetricLabels& labels,
                        const Histogram& h);
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

// A sample value as the format spells it: integers exactly, other values
// with 17 significant digits, "+Inf", "-Inf", "NaN".
std::string FormatSampleValue(double value);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_HTTP_EXPOSITION_WRITER_H_
