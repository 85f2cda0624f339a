#include "server/checkpoint_admin.h"

#include "model/util/status_macros.h"

namespace swapserve::server {
namespace {

namespace admin = swapserve::admin::v1;

// Runs `body` on the model's follower, then fills `state` from it.
template <typename Body>
absl::Status OnFollower(const ModelManager& manager, const std::string& model,
                        admin::ServingState* state, Body body) {
  ASSIGN_OR_RETURN(std::shared_ptr<CheckpointFollower> follower, manager.FindFollower(model));
  RETURN_IF_ERROR(body(*follower));
  *state = follower->State();
  return absl::OkStatus();
}

}  // namespace

absl::Status ListCheckpoints(const ModelManager& manager, const EventLog& events,
                             const admin::ListCheckpointsRequest& request,
                             admin::ListCheckpointsResponse* response) {
  return OnFollower(manager, request.model(), response->mutable_state(),
                    [&](CheckpointFollower& f) {
                      for (const CheckpointEvent& e :
                           events.History(request.model(), kCheckpointHistoryLimit)) {
                        *response->add_history() = e;
                      }
                      for (const admin::CheckpointOnDisk& c : ListCheckpointsOnDisk(f.directory())) {
                        *response->add_on_disk() = c;
                      }
                      return absl::OkStatus();
                    });
}

absl::Status PinCheckpoint(const ModelManager& manager, const admin::PinRequest& request,
                           admin::ServingState* state) {
  if (request.prefix().empty()) return absl::InvalidArgumentError("Pin needs a checkpoint prefix");
  return OnFollower(manager, request.model(), state,
                    [&](CheckpointFollower& f) { return f.Pin(request.prefix()); });
}

absl::Status UnpinCheckpoint(const ModelManager& manager, const admin::UnpinRequest& request,
                             admin::ServingState* state) {
  return OnFollower(manager, request.model(), state,
                    [](CheckpointFollower& f) { return f.Unpin(); });
}

absl::Status RollbackCheckpoint(const ModelManager& manager,
                                const admin::RollbackRequest& request,
                                admin::ServingState* state) {
  return OnFollower(manager, request.model(), state,
                    [](CheckpointFollower& f) { return f.Rollback(); });
}

}  // namespace swapserve::server
