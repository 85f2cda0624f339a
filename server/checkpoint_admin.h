// The checkpoint admin's semantics (swapserve.admin.v1), without a transport:
// ListCheckpoints, Pin, Unpin and Rollback on the follower of a model's highest
// available version. The gRPC service (admin_service.h) and the REST routes
// (rest_service.h) both call these, so the two answer alike.
//
// Errors: NOT_FOUND for an unknown model, FAILED_PRECONDITION when it follows no
// checkpoint directory or has no version yet, INVALID_ARGUMENT for a Pin without
// a prefix, and the follower's own errors for a prefix it cannot serve.
//
// Thread-safe (the manager, the followers and the EventLog are).
#ifndef SWAPSERVE_SERVER_CHECKPOINT_ADMIN_H_
#define SWAPSERVE_SERVER_CHECKPOINT_ADMIN_H_

#include "absl/status/status.h"
#include "server/event_log.h"
#include "server/model_manager.h"
#include "swapserve/admin/v1/admin.pb.h"

namespace swapserve::server {

// The newest history entries ListCheckpoints returns.
inline constexpr size_t kCheckpointHistoryLimit = 100;

absl::Status ListCheckpoints(const ModelManager& manager, const EventLog& events,
                             const swapserve::admin::v1::ListCheckpointsRequest& request,
                             swapserve::admin::v1::ListCheckpointsResponse* response);
absl::Status PinCheckpoint(const ModelManager& manager,
                           const swapserve::admin::v1::PinRequest& request,
                           swapserve::admin::v1::ServingState* state);
absl::Status UnpinCheckpoint(const ModelManager& manager,
                             const swapserve::admin::v1::UnpinRequest& request,
                             swapserve::admin::v1::ServingState* state);
absl::Status RollbackCheckpoint(const ModelManager& manager,
                                const swapserve::admin::v1::RollbackRequest& request,
                                swapserve::admin::v1::ServingState* state);

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_CHECKPOINT_ADMIN_H_
