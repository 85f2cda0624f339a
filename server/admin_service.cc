#include "server/admin_service.h"

#include "server/checkpoint_admin.h"
#include "server/grpc_status.h"

namespace swapserve::server {
namespace {

namespace admin = swapserve::admin::v1;

const grpc::Status kShuttingDown(grpc::StatusCode::UNAVAILABLE, "shutting down");

}  // namespace

grpc::Status AdminServiceImpl::ListCheckpoints(grpc::ServerContext*,
                                               const admin::ListCheckpointsRequest* request,
                                               admin::ListCheckpointsResponse* response) {
  CallGuard guard(gate_);
  if (!guard.entered()) return kShuttingDown;
  return ToGrpcStatus(server::ListCheckpoints(*manager_, *events_, *request, response));
}

grpc::Status AdminServiceImpl::Pin(grpc::ServerContext* context, const admin::PinRequest* request,
                                   admin::ServingState* response) {
  CallGuard guard(gate_);
  if (!guard.entered()) return kShuttingDown;
  if (absl::Status s = auth_->Check(AuthorizationOf(*context), "CheckpointAdmin.Pin"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(PinCheckpoint(*manager_, *request, response));
}

grpc::Status AdminServiceImpl::Unpin(grpc::ServerContext* context, const admin::UnpinRequest* request,
                                     admin::ServingState* response) {
  CallGuard guard(gate_);
  if (!guard.entered()) return kShuttingDown;
  if (absl::Status s = auth_->Check(AuthorizationOf(*context), "CheckpointAdmin.Unpin"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(UnpinCheckpoint(*manager_, *request, response));
}

grpc::Status AdminServiceImpl::Rollback(grpc::ServerContext* context, const admin::RollbackRequest* request,
                                        admin::ServingState* response) {
  CallGuard guard(gate_);
  if (!guard.entered()) return kShuttingDown;
  if (absl::Status s = auth_->Check(AuthorizationOf(*context), "CheckpointAdmin.Rollback"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(RollbackCheckpoint(*manager_, *request, response));
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
