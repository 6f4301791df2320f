// RenderMetricsPage: the /metrics page, in Prometheus's text exposition
// format, from a snapshot of the server's metrics and the process's memory.
//
//   std::string text = RenderMetricsPage(metrics.Read(), ReadProcessMemory(),
//                                        /*max_learners=*/100);
//
// Families (counters per challenge and learner, "other" past the learner
// bound): attnoracle_queries_answered_total, attnoracle_tokens_answered_total,
// attnoracle_submissions_total, attnoracle_requests_refused_total (with
// "code"); per RPC: attnoracle_rpcs_total (with "code") and the histogram
// attnoracle_rpc_duration_seconds; the store's attnoracle_store_commit_seconds
// and attnoracle_store_commit_entries histograms; attnoracle_metrics_learners
// and attnoracle_metrics_max_learners; process_resident_memory_bytes and
// process_virtual_memory_bytes.
#ifndef ATTNORACLE_SERVER_HTTP_METRICS_PAGE_H_
#define ATTNORACLE_SERVER_HTTP_METRICS_PAGE_H_

#include <cstdint>
#include <string>

#include "server/core/server_metrics.h"

namespace attnoracle {

struct ProcessMemory {
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
};

// From /proc/self/statm; zeros where it cannot be read.
ProcessMemory ReadProcessMemory();

std::string RenderMetricsPage(const ServerMetrics::Snapshot& s,
                              const ProcessMemory& memory, int max_learners);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_HTTP_METRICS_PAGE_H_
