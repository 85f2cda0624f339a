// swapserve.admin.v1.CheckpointAdmin: the followed checkpoint directories seen
// and steered from outside — history and files on disk (ListCheckpoints), Pin,
// Unpin, Rollback, and a Watch stream of events. Each call addresses a model by
// name and acts on the follower of its highest available version.
//
// Pin, Unpin and Rollback change what is served: with an admin token
// (admin_auth.h) they need it; ListCheckpoints and Watch never do.
//
// Thread safety: the methods run concurrently on gRPC's threads; state lives in
// the ModelManager, the followers and the EventLog (all thread-safe).
#ifndef SWAPSERVE_SERVER_ADMIN_SERVICE_H_
#define SWAPSERVE_SERVER_ADMIN_SERVICE_H_

#include "server/admin_auth.h"
#include "server/call_gate.h"
#include "server/event_log.h"
#include "server/model_manager.h"
#include "swapserve/admin/v1/admin.grpc.pb.h"

namespace swapserve::server {

class AdminServiceImpl final : public swapserve::admin::v1::CheckpointAdmin::Service {
 public:
  AdminServiceImpl(ModelManager* manager, EventLog* events, CallGate* gate, const AdminAuth* auth)
      : manager_(manager), events_(events), gate_(gate), auth_(auth) {}

  grpc::Status ListCheckpoints(grpc::ServerContext* context,
                               const swapserve::admin::v1::ListCheckpointsRequest* request,
                               swapserve::admin::v1::ListCheckpointsResponse* response) override;
  grpc::Status Pin(grpc::ServerContext* context, const swapserve::admin::v1::PinRequest* request,
                   swapserve::admin::v1::ServingState* response) override;
  grpc::Status Unpin(grpc::ServerContext* context,
                     const swapserve::admin::v1::UnpinRequest* request,
                     swapserve::admin::v1::ServingState* response) override;
  grpc::Status Rollback(grpc::ServerContext* context,
                        const swapserve::admin::v1::RollbackRequest* request,
                        swapserve::admin::v1::ServingState* response) override;
  // Streams until the client cancels or the server shuts down (gate closed).
  grpc::Status Watch(grpc::ServerContext* context,
                     const swapserve::admin::v1::WatchRequest* request,
                     grpc::ServerWriter<swapserve::admin::v1::CheckpointEvent>* writer) override;

 private:
  ModelManager* manager_;
  EventLog* events_;
  CallGate* gate_;
  const AdminAuth* auth_;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_ADMIN_SERVICE_H_
