#include "bench/load_driver.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <deque>

namespace attnoracle {
namespace {

using Clock = std::chrono::steady_clock;

uint32_t MicrosSince(Clock::time_point start) {
  return static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                            start)
          .count());
}

// The process's CPU time and context switches so far.
struct ProcessUsage {
  double cpu_seconds = 0;
  uint64_t context_switches = 0;

  static ProcessUsage Now() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto seconds = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) +
             1e-6 * static_cast<double>(t.tv_usec);
    };
    return {seconds(u.ru_utime) + seconds(u.ru_stime),
            static_cast<uint64_t>(u.ru_nvcsw + u.ru_nivcsw)};
  }
};

// Records in `result` what the process spent since `before`.
void NoteUsageSince(const ProcessUsage& before, LoadResult* result) {
  const ProcessUsage now = ProcessUsage::Now();
  result->cpu_seconds = now.cpu_seconds - before.cpu_seconds;
  result->context_switches = now.context_switches - before.context_switches;
}

void NoteFailure(LoadResult* result, const std::string& what) {
  if (result->failures++ == 0) result->first_error = what;
}

// `call` numbers the calls of a run, for the rotating entry.
std::unique_ptr<grpc::ClientContext> NewContext(const LoadOptions& options,
                                                uint64_t call = 0) {
  auto context = std::make_unique<grpc::ClientContext>();
  for (const auto& [key, value] : options.metadata) {
    context->AddMetadata(key, value);
  }
  if (!options.rotating_values.empty()) {
    context->AddMetadata(
        options.rotating_key,
        options.rotating_values[call % options.rotating_values.size()]);
  }
  return context;
}

// One unary call slot; its address is the call's completion-queue tag.
struct UnarySlot {
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::QueryResponse>> reader;
  v1::QueryResponse response;
  grpc::Status status;
  Clock::time_point sent;
};

// One stream with its share of the requests. Every operation's tag is the
// address of one of the Op members, so a completion names its stream and
// what completed.
struct StreamState {
  enum class Kind { kStart, kWrite, kRead, kWritesDone, kFinish };
  struct Op {
    StreamState* stream;
    Kind kind;
  };

  Op start{this, Kind::kStart};
  Op write{this, Kind::kWrite};
  Op read{this, Kind::kRead};
  Op writes_done{this, Kind::kWritesDone};
  Op finish{this, Kind::kFinish};

  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<
      grpc::ClientAsyncReaderWriter<v1::QueryRequest, v1::QueryResponse>>
      rw;
  v1::QueryResponse response;
  grpc::Status status;
  std::deque<Clock::time_point> sent;  // of requests not yet answered
  int to_write = 0;                    // requests wanted but not yet written
  bool writing = false;                // a Write is pending
  bool reading = false;                // a Read is pending
  bool closing = false;                // WritesDone was called
  bool closed = false;                 // WritesDone completed
  bool broken = false;                 // an operation failed
  bool finishing = false;              // Finish was called
};

}  // namespace

void LoadResult::Merge(const LoadResult& other) {
  requests += other.requests;
  if (failures == 0 && other.failures > 0) first_error = other.first_error;
  failures += other.failures;
  seconds += other.seconds;
  cpu_seconds += other.cpu_seconds;
  context_switches += other.context_switches;
  latencies_us.insert(latencies_us.end(), other.latencies_us.begin(),
                      other.latencies_us.end());
}

LoadResult RunUnary(const QueryMethods& methods,
                    const v1::QueryRequest& request,
                    const LoadOptions& options) {
  const ProcessUsage before = ProcessUsage::Now();
  LoadResult result;
  grpc::CompletionQueue cq;
  std::vector<UnarySlot> slots(static_cast<size_t>(options.in_flight));
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + absl::ToChronoNanoseconds(options.duration);
  uint64_t calls = 0;
  auto start_call = [&](UnarySlot& slot) {
    slot.context = NewContext(options, calls++);
    slot.response.Clear();
    slot.sent = Clock::now();
    slot.reader = methods.prepare_unary(slot.context.get(), request, &cq);
    slot.reader->StartCall();
    slot.reader->Finish(&slot.response, &slot.status, &slot);
  };
  for (UnarySlot& slot : slots) start_call(slot);
  size_t active = slots.size();
  void* tag = nullptr;
  bool ok = false;
  while (active > 0 && cq.Next(&tag, &ok)) {
    UnarySlot& slot = *static_cast<UnarySlot*>(tag);
    if (slot.status.ok()) {
      ++result.requests;
      result.latencies_us.push_back(MicrosSince(slot.sent));
    } else {
      NoteFailure(&result, slot.status.error_message());
    }
    // A failing server fails fast: stop this slot rather than spin.
    if (slot.status.ok() && Clock::now() < deadline) {
      start_call(slot);
    } else {
      --active;
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  NoteUsageSince(before, &result);
  return result;
}

LoadResult RunStream(const QueryMethods& methods,
                     const v1::QueryRequest& request,
                     const LoadOptions& options) {
  const ProcessUsage before = ProcessUsage::Now();
  LoadResult result;
  grpc::CompletionQueue cq;
  const int stream_count =
      std::max(1, std::min(options.in_flight, options.streams));
  std::vector<StreamState> streams(static_cast<size_t>(stream_count));
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + absl::ToChronoNanoseconds(options.duration);
  for (int i = 0; i < stream_count; ++i) {
    StreamState& s = streams[static_cast<size_t>(i)];
    // The in-flight requests are shared out as evenly as they go.
    s.to_write = options.in_flight / stream_count +
                 (i < options.in_flight % stream_count ? 1 : 0);
    s.context = NewContext(options);
    s.rw = methods.prepare_stream(s.context.get(), &cq);
    s.rw->StartCall(&s.start);
  }
  // Starts whatever the stream can do now: the next write, a read for
  // an answer owed, the half-close once nothing is owed either way, and
  // Finish once no operation is pending. gRPC allows one pending operation
  // of each kind per stream.
  auto pump = [&](StreamState& s) {
    if (!s.broken && !s.closing) {
      if (Clock::now() >= deadline) s.to_write = 0;
      if (!s.writing && s.to_write > 0) {
        s.writing = true;
        --s.to_write;
        s.sent.push_back(Clock::now());
        s.rw->Write(request, &s.write);
      }
      if (!s.reading && !s.sent.empty()) {
        s.reading = true;
        s.rw->Read(&s.response, &s.read);
      }
      if (!s.writing && s.sent.empty() && s.to_write == 0) {
        s.closing = true;
        s.rw->WritesDone(&s.writes_done);
      }
    }
    if (!s.finishing && !s.reading && !s.writing &&
        (s.closed || (s.broken && !s.closing))) {
      s.finishing = true;
      s.rw->Finish(&s.status, &s.finish);
    }
  };
  int active = stream_count;
  void* tag = nullptr;
  bool ok = false;
  while (active > 0 && cq.Next(&tag, &ok)) {
    StreamState::Op& op = *static_cast<StreamState::Op*>(tag);
    StreamState& s = *op.stream;
    switch (op.kind) {
      case StreamState::Kind::kStart:
        if (!ok) s.broken = true;
        break;
      case StreamState::Kind::kWrite:
        s.writing = false;
        if (!ok) s.broken = true;
        break;
      case StreamState::Kind::kRead:
        s.reading = false;
        if (!ok) {  // the server ended the stream
          s.broken = true;
          break;
        }
        if (s.response.has_error()) {
          NoteFailure(&result, s.response.error().message());
          // A refused request stops this stream; cancelling completes
          // whatever is pending so that Finish can follow.
          s.broken = true;
          s.context->TryCancel();
        } else {
          ++result.requests;
        }
        if (!s.sent.empty()) {
          result.latencies_us.push_back(MicrosSince(s.sent.front()));
          s.sent.pop_front();
        }
        // One answered, one more asked for, until the deadline.
        ++s.to_write;
        break;
      case StreamState::Kind::kWritesDone:
        s.closed = true;
        if (!ok) s.broken = true;
        break;
      case StreamState::Kind::kFinish:
        if (!s.status.ok()) NoteFailure(&result, s.status.error_message());
        --active;
        continue;
    }
    pump(s);
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  NoteUsageSince(before, &result);
  return result;
}

uint32_t Percentile(std::vector<uint32_t>& latencies_us, double q) {
  if (latencies_us.empty()) return 0;
  const size_t rank = std::min(
      latencies_us.size() - 1,
      static_cast<size_t>(q * static_cast<double>(latencies_us.size())));
  std::nth_element(latencies_us.begin(),
                   latencies_us.begin() + static_cast<std::ptrdiff_t>(rank),
                   latencies_us.end());
  return latencies_us[rank];
}

}  // namespace attnoracle
