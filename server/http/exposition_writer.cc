#include "server/http/exposition_writer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace attnoracle {
namespace {

// Label values escape backslash, double quote and line feed; help text
// escapes backslash and line feed.
std::string Escape(absl::string_view s, bool quotes) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string LabelText(const MetricLabels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out, i > 0 ? "," : "", labels[i].first, "=\"",
                    Escape(labels[i].second, true), "\"");
  }
  return out + "}";
}

}  // namespace

// 2^53: above it not every integer is a double, so exact printing stops
// mattering.
constexpr double kExactIntegerLimit = 9007199254740992.0;

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < kExactIntegerLimit) {
    return absl::StrFormat("%.0f", value);
  }
  return absl::StrFormat("%.17g", value);
}

void ExpositionWriter::Family(absl::string_view name, absl::string_view type,
                              absl::string_view help) {
  absl::StrAppend(&text_, "# HELP ", name, " ", Escape(help, false), "\n",
                  "# TYPE ", name, " ", type, "\n");
}

void ExpositionWriter::Sample(absl::string_view name,
                              const MetricLabels& labels, double value) {
  absl::StrAppend(&text_, name, LabelText(labels), " ",
                  FormatSampleValue(value), "\n");
}

void ExpositionWriter::HistogramSamples(absl::string_view name,
                                        const MetricLabels& labels,
                                        const Histogram& h) {
  const std::string bucket = absl::StrCat(name, "_bucket");
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    MetricLabels with_le = labels;
    // Six significant digits name a bound well ("0.00025", not
    // "0.00025000000000000001").
    with_le.emplace_back("le", absl::StrCat(h.bounds[i]));
    Sample(bucket, with_le, static_cast<double>(h.counts[i]));
  }
  MetricLabels with_inf = labels;
  with_inf.emplace_back("le", "+Inf");
  Sample(bucket, with_inf, static_cast<double>(h.count));
  Sample(absl::StrCat(name, "_sum"), labels, h.sum);
  Sample(absl::StrCat(name, "_count"), labels, static_cast<double>(h.count));
}

}  // namespace attnoracle
