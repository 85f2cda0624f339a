// The gRPC services of TF Serving's API: tensorflow.serving.PredictionService
// (Predict, Classify, Regress, GetModelMetadata) and ModelService
// (GetModelStatus, HandleReloadConfigRequest). Each call finds the model version
// through the ModelManager, takes one weights snapshot, and hands the work to
// server/inference.h; these classes only translate statuses and add the
// response trailers naming the weights that answered.
//
// PredictionService runs on gRPC's callback API, which costs less per call than
// its synchronous server (a thread hand-off and a completion-queue poll fewer).
// A call computes on the callback thread that received it, unless it may block
// — with batching on (it may wait for its batch) or a testing hold — when it
// runs on the BlockingPool instead: gRPC's few callback threads must never
// wait.
//
// Thread safety: the methods run concurrently on gRPC's threads; all state is in
// the (thread-safe) ModelManager. Calls arriving once the CallGate is closed
// (shutdown) are refused with UNAVAILABLE, and calls beyond the Admission
// bound with RESOURCE_EXHAUSTED; a call counts against the bound from its
// arrival until its answer is computed, and is inside the gate until the
// answer is handed to gRPC.
#ifndef SWAPSERVE_SERVER_SERVICES_H_
#define SWAPSERVE_SERVER_SERVICES_H_

#include <functional>

#include "server/admin_auth.h"
#include "server/admission.h"
#include "server/batching/batcher.h"
#include "server/blocking_pool.h"
#include "server/call_gate.h"
#include "server/inference.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "tensorflow_serving/apis/model_service.grpc.pb.h"
#include "tensorflow_serving/apis/prediction_service.grpc.pb.h"

namespace swapserve::server {

// With --testing_hooks, a PredictionService call carrying this metadata key waits
// its value in milliseconds (at most a minute) inside the handler, logging
// "testing hook: holding a call" first: the shutdown tests use it to have calls
// known to be in progress when SIGTERM comes. Off by default; never in production.
inline constexpr char kTestingHoldMetadata[] = "swapserve-testing-hold-ms";

// What a call arriving during shutdown is refused with (gRPC UNAVAILABLE, HTTP 503).
inline constexpr char kShuttingDownMessage[] =
    "swapserve is shutting down; retry on another replica";

class PredictionServiceImpl final
    : public tensorflow::serving::PredictionService::CallbackService {
 public:
  // `testing_hooks`: honour kTestingHoldMetadata (swapserve's own tests only).
  // `metrics`: where requests are recorded (null: nowhere). `batcher`: what
  // Predict, Classify and Regress run through (null: each call alone).
  // `blocking`: where calls that may block run — those of a server with
  // batching (a version may have its own batcher) and held calls; null: every
  // call runs on its callback thread, so nothing may block.
  // `admission`: the bound on inference calls in progress (shared with REST).
  PredictionServiceImpl(ModelManager* manager, CallGate* gate, Admission* admission,
                        Metrics* metrics, batching::Batcher* batcher, BlockingPool* blocking,
                        bool batching, bool testing_hooks)
      : manager_(manager),
        gate_(gate),
        admission_(admission),
        metrics_(metrics),
        batcher_(batcher),
        blocking_(blocking),
        batching_(batching),
        testing_hooks_(testing_hooks) {}

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const tensorflow::serving::PredictRequest* request,
                                    tensorflow::serving::PredictResponse* response) override;
  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const tensorflow::serving::ClassificationRequest* request,
                                     tensorflow::serving::ClassificationResponse* response) override;
  grpc::ServerUnaryReactor* Regress(grpc::CallbackServerContext* context,
                                    const tensorflow::serving::RegressionRequest* request,
                                    tensorflow::serving::RegressionResponse* response) override;
  grpc::ServerUnaryReactor* GetModelMetadata(
      grpc::CallbackServerContext* context,
      const tensorflow::serving::GetModelMetadataRequest* request,
      tensorflow::serving::GetModelMetadataResponse* response) override;

 private:
  Execution ExecutionFor(grpc::CallbackServerContext& context) const;
  // Answers the call through its reactor: `body` on one weights snapshot, on
  // this thread or (when it may block) on the BlockingPool.
  template <typename Body>
  grpc::ServerUnaryReactor* Serve(const char* api, grpc::CallbackServerContext* context,
                                  const tensorflow::serving::ModelSpec& spec, bool may_batch,
                                  Body body);
  // The call's status after `body` on one snapshot (inside the gate), with
  // its trailers and metrics.
  grpc::Status Answer(const char* api, grpc::CallbackServerContext* context,
                      const tensorflow::serving::ModelSpec& spec, absl::Time start,
                      SnapshotBody body);

  ModelManager* manager_;
  CallGate* gate_;
  Admission* admission_;
  Metrics* metrics_;
  batching::Batcher* batcher_;
  BlockingPool* blocking_;
  const bool batching_;
  const bool testing_hooks_;
};

class ModelServiceImpl final : public tensorflow::serving::ModelService::Service {
 public:
  // `apply` installs a new config (validating it) — the Server's own reload
  // path; HandleReloadConfigRequest needs the admin token (`auth`) if set.
  ModelServiceImpl(ModelManager* manager, CallGate* gate, const AdminAuth* auth,
                   std::function<absl::Status(const tensorflow::serving::ModelServerConfig&)> apply)
      : manager_(manager), gate_(gate), auth_(auth), apply_(std::move(apply)) {}

  grpc::Status GetModelStatus(grpc::ServerContext* context,
                              const tensorflow::serving::GetModelStatusRequest* request,
                              tensorflow::serving::GetModelStatusResponse* response) override;
  grpc::Status HandleReloadConfigRequest(grpc::ServerContext* context,
                                         const tensorflow::serving::ReloadConfigRequest* request,
                                         tensorflow::serving::ReloadConfigResponse* response) override;

 private:
  ModelManager* manager_;
  CallGate* gate_;
  const AdminAuth* auth_;
  std::function<absl::Status(const tensorflow::serving::ModelServerConfig&)> apply_;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_SERVICES_H_
