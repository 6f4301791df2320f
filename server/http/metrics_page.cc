#include "server/http/metrics_page.h"

#include <unistd.h>

#include <fstream>

#include "server/http/exposition_writer.h"

namespace attnoracle {

ProcessMemory ReadProcessMemory() {
  ProcessMemory m;
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0;
  uint64_t resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return m;
  const auto page_bytes = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  m.virtual_bytes = size_pages * page_bytes;
  m.resident_bytes = resident_pages * page_bytes;
  return m;
}

std::string RenderMetricsPage(const ServerMetrics::Snapshot& s,
                              const ProcessMemory& memory, int max_learners) {
  ExpositionWriter w;
  struct PerLearner {
    const char* name;
    const char* help;
    uint64_t ServerMetrics::LearnerCounts::*field;
  };
  const PerLearner per_learner[] = {
      {"attnoracle_queries_answered_total",
       "Query sequences answered and durably charged, per challenge and "
       "learner.",
       &ServerMetrics::LearnerCounts::queries},
      {"attnoracle_tokens_answered_total",
       "Tokens answered and durably charged, per challenge and learner.",
       &ServerMetrics::LearnerCounts::tokens},
      {"attnoracle_submissions_total",
       "Submissions scored and stored, per challenge and learner.",
       &ServerMetrics::LearnerCounts::submissions},
  };
  for (const PerLearner& family : per_learner) {
    w.Family(family.name, "counter", family.help);
    for (const auto& [key, counts] : s.learners) {
      w.Sample(family.name, {{"challenge", key.first}, {"learner", key.second}},
               static_cast<double>(counts.*family.field));
    }
  }
  w.Family("attnoracle_requests_refused_total", "counter",
           "Queries and submissions the core refused, per challenge, learner "
           "and status code (challenge \"other\": an id the server does not "
           "host).");
  for (const auto& [key, n] : s.refused) {
    const auto& [challenge, learner, code] = key;
    w.Sample("attnoracle_requests_refused_total",
             {{"challenge", challenge}, {"learner", learner}, {"code", code}},
             static_cast<double>(n));
  }
  w.Family("attnoracle_rpcs_total", "counter",
           "gRPC calls finished, per method and status code.");
  for (const auto& [key, n] : s.rpcs) {
    w.Sample("attnoracle_rpcs_total",
             {{"method", key.first}, {"code", key.second}},
             static_cast<double>(n));
  }
  w.Family("attnoracle_rpc_duration_seconds", "histogram",
           "Time from a gRPC call's arrival to its status, per method.");
  for (const auto& [method, h] : s.rpc_seconds) {
    w.HistogramSamples("attnoracle_rpc_duration_seconds", {{"method", method}},
                       h);
  }
  w.Family("attnoracle_store_commit_seconds", "histogram",
           "Duration of one store transaction of the group commit.");
  w.HistogramSamples("attnoracle_store_commit_seconds", {}, s.commit_seconds);
  w.Family("attnoracle_store_commit_entries", "histogram",
           "Transcript entries (answered requests) per store transaction.");
  w.HistogramSamples("attnoracle_store_commit_entries", {}, s.commit_entries);
  w.Family("attnoracle_metrics_learners", "gauge",
           "Learners with a label of their own.");
  w.Sample("attnoracle_metrics_learners", {}, s.labelled_learners);
  w.Family("attnoracle_metrics_max_learners", "gauge",
           "Most learners with a label of their own (--metrics-max-learners); "
           "later ones count as \"other\".");
  w.Sample("attnoracle_metrics_max_learners", {}, max_learners);
  w.Family("process_resident_memory_bytes", "gauge",
           "Resident memory size in bytes.");
  w.Sample("process_resident_memory_bytes", {},
           static_cast<double>(memory.resident_bytes));
  w.Family("process_virtual_memory_bytes", "gauge",
           "Virtual memory size in bytes.");
  w.Sample("process_virtual_memory_bytes", {},
           static_cast<double>(memory.virtual_bytes));
  return w.Take();
}

}  // namespace attnoracle
