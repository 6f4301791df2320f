#include "bench/floor_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "bench/answer_fields.h"
#include "common/attention.h"
#include "common/codec.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "common/transcript.h"

namespace attnoracle {
namespace {

// In the order of Steps(), cheapest first.
enum Step { kShape, kForward, kDigests, kKept, kDurable, kStepCount };

// Syncs `fd`'s data; an error names `what`.
absl::Status Sync(int fd, absl::string_view what) {
  if (fdatasync(fd) != 0) {
    return absl::UnavailableError(
        absl::StrCat("syncing ", what, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Writes all of `bytes` at `offset` of `fd`; an error names `what`.
absl::Status WriteAt(int fd, absl::string_view bytes, off_t offset,
                     absl::string_view what) {
  while (!bytes.empty()) {
    const ssize_t n = pwrite(fd, bytes.data(), bytes.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat("writing ", what, ": ",
                       n < 0 ? std::strerror(errno) : "no byte was written"));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return absl::OkStatus();
}

// Writes `bytes` zero bytes from the start of `fd` and syncs them.
absl::Status WriteZeros(int fd, uint64_t bytes, absl::string_view what) {
  const std::string zeros(1 << 20, '\0');
  for (uint64_t at = 0; at < bytes; at += zeros.size()) {
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(zeros.size(), bytes - at));
    ATTN_RETURN_IF_ERROR(WriteAt(fd, absl::string_view(zeros).substr(0, n),
                                 static_cast<off_t>(at), what));
  }
  return Sync(fd, what);
}

}  // namespace

const std::vector<std::string>& FloorServiceImpl::Steps() {
  static const auto* kSteps = new std::vector<std::string>{
      "shape", "forward", "digests", "kept", "durable"};
  assert(kSteps->size() == kStepCount);
  return *kSteps;
}

FloorServiceImpl::FloorServiceImpl(LayerSpec spec, LayerParams params,
                                   const std::string& durable_path,
                                   uint64_t log_bytes)
    : spec_(std::move(spec)),
      params_(std::move(params)),
      log_bytes_(log_bytes),
      log_name_(absl::StrCat("the floor's file ", durable_path)) {
  if (durable_path.empty()) {
    durable_error_ = "the floor has no file for its durable step";
    return;
  }
  fd_ = open(durable_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
             0600);
  if (fd_ < 0) {
    durable_error_ =
        absl::StrCat("opening ", log_name_, ": ", std::strerror(errno));
    return;
  }
  const absl::Status prepared = log_bytes_ == 0
                                    ? absl::OkStatus()
                                    : WriteZeros(fd_, log_bytes_, log_name_);
  if (!prepared.ok()) {
    durable_error_ =
        absl::StrCat("preparing the floor's log: ", prepared.message());
    close(fd_);
    fd_ = -1;
    return;
  }
  writer_ = std::thread([this] { WriteLoop(); });
}

FloorServiceImpl::~FloorServiceImpl() {
  if (writer_.joinable()) {
    {
      absl::MutexLock lock(&write_mu_);
      stopping_ = true;
    }
    writer_.join();
  }
  if (fd_ >= 0) close(fd_);
}

grpc::ServerUnaryReactor* FloorServiceImpl::Query(
    grpc::CallbackServerContext* context, const v1::QueryRequest* request,
    v1::QueryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::optional<std::string> to_write;
  grpc::Status status = Answer(*request, response, &to_write);
  if (status.ok() && to_write.has_value()) {
    // The durable step: the writer finishes the call once its bytes are
    // synced.
    absl::MutexLock lock(&write_mu_);
    pending_bytes_ += *to_write;
    pending_calls_.push_back(reactor);
    return reactor;
  }
  if (!status.ok()) response->Clear();
  reactor->Finish(status);
  return reactor;
}

void FloorServiceImpl::WriteLoop() {
  std::string bytes;
  std::vector<grpc::ServerUnaryReactor*> calls;
  absl::MutexLock lock(&write_mu_);
  while (true) {
    write_mu_.Await(absl::Condition(
        +[](FloorServiceImpl* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(f->write_mu_) {
          return f->stopping_ || !f->pending_calls_.empty();
        },
        this));
    if (pending_calls_.empty()) return;  // stopping, nothing left
    bytes.swap(pending_bytes_);
    calls.swap(pending_calls_);
    // Back to the start when the batch does not fit before the log's end
    // (one larger than the whole log grows the file).
    if (write_offset_ + bytes.size() > log_bytes_) write_offset_ = 0;
    const auto offset = static_cast<off_t>(write_offset_);
    write_offset_ += bytes.size();
    write_mu_.Unlock();
    absl::Status written = WriteAt(fd_, bytes, offset, log_name_);
    if (written.ok()) written = Sync(fd_, log_name_);
    // Counted before the calls finish, so that a caller who has its answer
    // finds its bytes counted.
    write_mu_.Lock();
    if (written.ok()) durable_bytes_ += bytes.size();
    write_mu_.Unlock();
    const grpc::Status status =
        written.ok() ? grpc::Status::OK
                     : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    std::string(written.message()));
    for (grpc::ServerUnaryReactor* call : calls) call->Finish(status);
    calls.clear();
    bytes.clear();
    write_mu_.Lock();
  }
}

grpc::Status FloorServiceImpl::Answer(const v1::QueryRequest& request,
                                      v1::QueryResponse* response,
                                      std::optional<std::string>* to_write) {
  const std::vector<std::string>& steps = Steps();
  const auto found =
      std::find(steps.begin(), steps.end(), request.challenge_id());
  if (found == steps.end()) {
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("no floor step \"", request.challenge_id(), "\": one of ",
                     absl::StrJoin(steps, ", ")));
  }
  const auto step = static_cast<Step>(found - steps.begin());
  if (step == kDurable && fd_ < 0) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, durable_error_);
  }
  response->set_request_id(request.request_id());
  std::vector<ConstMatrixMap> inputs;
  std::vector<ConstMatrixMap> answers;
  inputs.reserve(request.sequences_size());
  answers.reserve(request.sequences_size());
  for (int i = 0; i < request.sequences_size(); ++i) {
    absl::StatusOr<ConstMatrixMap> x =
        MatrixView(request.sequences(i), absl::StrCat("sequences[", i, "]"));
    if (!x.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          std::string(x.status().message()));
    }
    if (x->cols() != spec_.d_model) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("sequences[", i, "] has ", x->cols(),
                       " columns; the floor's layer takes ", spec_.d_model));
    }
    inputs.push_back(*x);
    MatrixMap out =
        MutableMatrixProto(OutputRows(spec_, static_cast<int>(x->rows())),
                           spec_.out_dim, response->add_outputs());
    if (step == kShape) {
      // The input's last rows and first columns, as far as they fit.
      const Eigen::Index cols = std::min(out.cols(), x->cols());
      out.setZero();
      out.leftCols(cols) = x->bottomRows(out.rows()).leftCols(cols);
    } else {
      ForwardInto(spec_, params_, *x, out);
    }
    answers.emplace_back(out.data(), out.rows(), out.cols());
  }
  const uint64_t index =
      next_index_.fetch_add(static_cast<uint64_t>(request.sequences_size()),
                            std::memory_order_relaxed);
  SetAnswerFields(response);
  if (step >= kDigests) {
    std::string request_bytes = EncodeMatrices(inputs);
    std::string response_bytes = EncodeMatrices(answers);
    // Chained onto the constant head where the oracle takes the learner's
    // last one: the same cost.
    response->set_transcript_head(ChainHash(response->transcript_head(),
                                            RequestDigest(index, request_bytes),
                                            Sha256(response_bytes)));
    if (step == kKept) {
      absl::MutexLock lock(&mu_);
      kept_.Keep(request_bytes);
      kept_.Keep(response_bytes);
    } else if (step == kDurable) {
      *to_write = std::move(request_bytes);
      (*to_write)->append(response_bytes);
    }
  }
  return grpc::Status::OK;
}

uint64_t FloorServiceImpl::kept_bytes() const {
  absl::MutexLock lock(&mu_);
  return kept_.kept();
}

absl::Status FloorServiceImpl::durable_status() const {
  return fd_ >= 0 ? absl::OkStatus()
                  : absl::FailedPreconditionError(durable_error_);
}

uint64_t FloorServiceImpl::durable_bytes() const {
  absl::MutexLock lock(&write_mu_);
  return durable_bytes_;
}

void FloorServiceImpl::Forget() {
  {
    absl::MutexLock lock(&mu_);
    kept_.Rewind({});
  }
  absl::MutexLock lock(&write_mu_);
  durable_bytes_ = 0;
  write_offset_ = 0;
}

}  // namespace attnoracle
