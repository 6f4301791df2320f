#include "server/service/query_stream_reactor.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <cassert>
#include <utility>

#include "common/codec.h"

namespace attnoracle {

void QueryStreamReactor::Start() {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    assert(!reading_ && slots_.empty() && !finished_);  // called once
    actions = StartReadLocked();
  }
  Act(actions);
}

void QueryStreamReactor::OnReadDone(bool ok) {
  Slot* slot = nullptr;
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    if (!ok || broken_) {  // half-closed, or nobody to answer any more
      Recycle(std::move(slots_.back()));
      slots_.pop_back();
      reading_ = false;
      if (!ok) done_reading_ = true;
      actions = NextLocked();
    } else {
      slot = slots_.back().get();
    }
  }
  if (slot == nullptr) {
    Act(actions);
    return;
  }
  // reading_ stays set until the request is handed to Answer, so no other
  // thread starts the next read before: the stream's requests are answered
  // (for the oracle: charged and chained) in order.
  if (grpc::SerializationTraits<v1::QueryRequest>::Deserialize(
          &slot->request_bytes, &slot->request)
          .ok()) {
    Answer(slot->request, &slot->response,
           [this, slot](const absl::Status& s) { Answered(slot, s); });
  } else {
    slot->request.Clear();
    Answered(slot, absl::InvalidArgumentError(kUnparsableMessage));
  }
  {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    actions = NextLocked();
  }
  Act(actions);
}

void QueryStreamReactor::Answered(Slot* slot, const absl::Status& status) {
  if (!status.ok()) {
    slot->response.Clear();
    slot->response.set_request_id(slot->request.request_id());
    QueryErrorToProto(status, slot->response.mutable_error());
  }
  // Serialised here, on the answering thread, as gRPC would at StartWrite.
  bool own_buffer = false;
  if (!grpc::SerializationTraits<v1::QueryResponse>::Serialize(
           slot->response, &slot->response_bytes, &own_buffer)
           .ok()) {
    // Only a response over protobuf's 2 GiB limit fails; say so in-band.
    slot->response.Clear();
    slot->response.set_request_id(slot->request.request_id());
    QueryErrorToProto(absl::InternalError("the answer could not be encoded"),
                      slot->response.mutable_error());
    slot->response_bytes.Clear();
    grpc::SerializationTraits<v1::QueryResponse>::Serialize(
        slot->response, &slot->response_bytes, &own_buffer)
        .IgnoreError();
  }
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    slot->answered = true;
    actions = NextLocked();
  }
  Act(actions);
}

void QueryStreamReactor::OnWriteDone(bool ok) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    Recycle(std::move(slots_.front()));
    slots_.pop_front();
    if (!ok) broken_ = true;  // the client went away
    actions = NextLocked();
  }
  Act(actions);
}

QueryStreamReactor::Actions QueryStreamReactor::NextLocked() {
  Actions actions;
  if (broken_) {
    // Nothing more is written; answered slots are dropped, the others are
    // waited for (their callbacks point into them).
    while (!writing_ && !slots_.empty() && slots_.front()->answered) {
      Recycle(std::move(slots_.front()));
      slots_.pop_front();
    }
  } else if (!writing_ && !slots_.empty() && slots_.front()->answered) {
    writing_ = true;
    actions.write = &slots_.front()->response_bytes;
    actions.more_ready = slots_.size() > 1 && slots_[1]->answered;
  }
  if (!reading_ && !done_reading_ && !broken_ &&
      slots_.size() < kMaxRequestsInFlight) {
    actions.read = StartReadLocked().read;
  }
  if (!finished_ && !reading_ && !writing_ && slots_.empty() &&
      (done_reading_ || broken_)) {
    finished_ = true;
    actions.finish = true;
  }
  return actions;
}

QueryStreamReactor::Actions QueryStreamReactor::StartReadLocked() {
  std::unique_ptr<Slot> slot;
  if (free_.empty()) {
    slot = std::make_unique<Slot>();
  } else {
    slot = std::move(free_.back());
    free_.pop_back();
  }
  slot->answered = false;
  slot->response.Clear();
  slot->response_bytes.Clear();
  Actions actions;
  actions.read = &slot->request_bytes;
  slots_.push_back(std::move(slot));
  reading_ = true;
  return actions;
}

void QueryStreamReactor::Recycle(std::unique_ptr<Slot> slot) {
  free_.push_back(std::move(slot));
}

void QueryStreamReactor::Act(const Actions& actions) {
  if (actions.write != nullptr) {
    grpc::WriteOptions options;
    if (actions.more_ready) options.set_buffer_hint();
    StartWrite(actions.write, options);
  }
  if (actions.read != nullptr) StartRead(actions.read);
  if (actions.finish) Finish(grpc::Status::OK);
}

}  // namespace attnoracle
