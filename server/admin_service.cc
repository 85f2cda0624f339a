#include "server/admin_service.h"

#include "server/grpc_status.h"

namespace swapserve::server {
namespace {

namespace admin = swapserve::admin::v1;

constexpr size_t kHistoryLimit = 100;

// Runs `body` on the model's follower, then fills `state` from it.
template <typename Body>
grpc::Status OnFollower(ModelManager* manager, CallGate* gate, const std::string& model,
                        admin::ServingState* state, Body body) {
  CallGuard guard(gate);
  if (!guard.entered()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down");
  absl::StatusOr<std::shared_ptr<CheckpointFollower>> follower = manager->FindFollower(model);
  if (!follower.ok()) return ToGrpcStatus(follower.status());
  if (absl::Status s = body(**follower); !s.ok()) return ToGrpcStatus(s);
  if (state != nullptr) *state = (*follower)->State();
  return grpc::Status::OK;
}

}  // namespace

grpc::Status AdminServiceImpl::ListCheckpoints(grpc::ServerContext*,
                                               const admin::ListCheckpointsRequest* request,
                                               admin::ListCheckpointsResponse* response) {
  return OnFollower(manager_, gate_, request->model(), response->mutable_state(),
                    [&](CheckpointFollower& f) {
                      for (const CheckpointEvent& e : events_->History(request->model(), kHistoryLimit)) {
                        *response->add_history() = e;
                      }
                      for (const admin::CheckpointOnDisk& c : ListCheckpointsOnDisk(f.directory())) {
                        *response->add_on_disk() = c;
                      }
                      return absl::OkStatus();
                    });
}

grpc::Status AdminServiceImpl::Pin(grpc::ServerContext*, const admin::PinRequest* request,
                                   admin::ServingState* response) {
  if (request->prefix().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Pin needs a checkpoint prefix");
  }
  return OnFollower(manager_, gate_, request->model(), response,
                    [&](CheckpointFollower& f) { return f.Pin(request->prefix()); });
}

grpc::Status AdminServiceImpl::Unpin(grpc::ServerContext*, const admin::UnpinRequest* request,
                                     admin::ServingState* response) {
  return OnFollower(manager_, gate_, request->model(), response,
                    [](CheckpointFollower& f) { return f.Unpin(); });
}

grpc::Status AdminServiceImpl::Rollback(grpc::ServerContext*, const admin::RollbackRequest* request,
                                        admin::ServingState* response) {
  return OnFollower(manager_, gate_, request->model(), response,
                    [](CheckpointFollower& f) { return f.Rollback(); });
}

grpc::Status AdminServiceImpl::Watch(grpc::ServerContext* context,
                                     const admin::WatchRequest* request,
                                     grpc::ServerWriter<admin::CheckpointEvent>* writer) {
  uint64_t seen = events_->LastSequence();
  // The headers tell the client it is subscribed: every event after this one
  // reaches it (tests wait for them instead of sleeping).
  writer->SendInitialMetadata();
  // Deliberately not holding the gate: a stream may last forever; it ends when
  // the client cancels or the gate closes at shutdown.
  while (!context->IsCancelled()) {
    {
      CallGuard probe(gate_);
      if (!probe.entered()) return grpc::Status::OK;
    }
    for (const CheckpointEvent& e : events_->WaitForEvents(seen, absl::Milliseconds(250))) {
      seen = e.sequence();
      if (!request->model().empty() && e.model() != request->model()) continue;
      if (!writer->Write(e)) return grpc::Status::OK;
    }
  }
  return grpc::Status::OK;
}

}  // namespace swapserve::server
