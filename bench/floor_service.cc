#include "bench/floor_service.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/answer_fields.h"
#include "common/attention.h"
#include "common/codec.h"
#include "common/hashing.h"
#include "common/transcript.h"

namespace attnoracle {
namespace {

// In the order of Steps(), cheapest first.
enum Step { kShape, kForward, kDigests, kKept, kStepCount };

}  // namespace

const std::vector<std::string>& FloorServiceImpl::Steps() {
  static const auto* kSteps =
      new std::vector<std::string>{"shape", "forward", "digests", "kept"};
  assert(kSteps->size() == kStepCount);
  return *kSteps;
}

FloorServiceImpl::FloorServiceImpl(LayerSpec spec, LayerParams params)
    : spec_(std::move(spec)), params_(std::move(params)) {}

grpc::ServerUnaryReactor* FloorServiceImpl::Query(
    grpc::CallbackServerContext* context, const v1::QueryRequest* request,
    v1::QueryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = Answer(*request, response);
  if (!status.ok()) response->Clear();
  reactor->Finish(status);
  return reactor;
}

grpc::Status FloorServiceImpl::Answer(const v1::QueryRequest& request,
                                      v1::QueryResponse* response) {
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
    if (step >= kKept) {
      absl::MutexLock lock(&mu_);
      kept_.Keep(request_bytes);
      kept_.Keep(response_bytes);
    }
  }
  return grpc::Status::OK;
}

uint64_t FloorServiceImpl::kept_bytes() const {
  absl::MutexLock lock(&mu_);
  return kept_.kept();
}

void FloorServiceImpl::Forget() {
  absl::MutexLock lock(&mu_);
  kept_.Rewind({});
}

}  // namespace attnoracle
