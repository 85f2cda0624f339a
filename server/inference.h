// TF Serving's request semantics on top of Plan::Run: Predict (named tensors in
// and out, output_filter), Classify and Regress (tf.Examples fed as serialized
// strings to a classify/regress signature), the signature_def metadata and
// GetModelStatus — with TF Serving's validation, error codes and messages. No
// transport in here: both fronts (gRPC in services.cc, REST in rest_service.cc)
// call these functions and only translate the request and the absl::Status, so
// the two cannot disagree.
//
// ServeOnSnapshot is every inference call's frame: it finds the version and
// takes one weights snapshot, so a whole request computes with one WeightSet and
// the response can name it. Stateless, thread-safe.
#ifndef SWAPSERVE_SERVER_INFERENCE_H_
#define SWAPSERVE_SERVER_INFERENCE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "model/servable.h"
#include "server/batching/batcher.h"
#include "server/model_manager.h"
#include "tensorflow_serving/apis/classification.pb.h"
#include "tensorflow_serving/apis/get_model_metadata.pb.h"
#include "tensorflow_serving/apis/get_model_status.pb.h"
#include "tensorflow_serving/apis/predict.pb.h"
#include "tensorflow_serving/apis/regression.pb.h"

namespace swapserve::server {

inline constexpr char kClassifyMethod[] = "tensorflow/serving/classify";
inline constexpr char kRegressMethod[] = "tensorflow/serving/regress";

// The weights that answered a call, as its response names them (gRPC trailers,
// REST headers): swapserve-checkpoint is the checkpoint's basename or
// "saved_model", swapserve-weights-version the snapshot's generation.
inline constexpr char kCheckpointKey[] = "swapserve-checkpoint";
inline constexpr char kWeightsVersionKey[] = "swapserve-weights-version";
struct AnsweredBy {
  std::string checkpoint;  // empty: no version was found, nothing ran
  int64_t generation = 0;
  absl::Duration runtime;  // spent inside the snapshot (the runtime latency)
};

using SnapshotBody = absl::FunctionRef<absl::Status(const ServableHandle&, const ServedWeights&)>;

// Finds the version `spec` names (ModelManager::Find's codes), runs `body` on one
// snapshot of its weights, and records that snapshot in *answered (also when
// `body` fails). Returns body's status.
absl::Status ServeOnSnapshot(const ModelManager& manager,
                             const tensorflow::serving::ModelSpec& spec, SnapshotBody body,
                             AnsweredBy* answered);

// The inputs (alias -> dtype) of signature `signature` ("" = serving_default),
// with the error Predict gives for an unknown signature.
absl::StatusOr<std::map<std::string, tensorflow::DataType>> SignatureInputs(
    const ServableHandle& handle, const std::string& signature);

// How a call runs its plan: alone on the calling thread, or through a batcher
// (merged with concurrent calls on the same weights snapshot) — the version's
// own (ServableHandle::batcher, per-model batching parameters) if it has one,
// else `batcher`.
struct Execution {
  batching::Batcher* batcher = nullptr;
  batching::CallInfo call;
};

// Plan::Run with the error context every front gives (what the signature
// takes); what the batcher runs each batch with.
absl::StatusOr<std::vector<Tensor>> RunPlan(const Plan& plan, const WeightSet& weights,
                                            const std::vector<Tensor>& inputs);

absl::Status RunPredict(const ServableHandle& handle, const ServedWeights& weights,
                        const tensorflow::serving::PredictRequest& request,
                        tensorflow::serving::PredictResponse* response,
                        const Execution& execution = {});

absl::Status RunClassify(const ServableHandle& handle, const ServedWeights& weights,
                         const tensorflow::serving::ClassificationRequest& request,
                         tensorflow::serving::ClassificationResponse* response,
                         const Execution& execution = {});

absl::Status RunRegress(const ServableHandle& handle, const ServedWeights& weights,
                        const tensorflow::serving::RegressionRequest& request,
                        tensorflow::serving::RegressionResponse* response,
                        const Execution& execution = {});

// GetModelMetadata: only the "signature_def" field exists (as in TF Serving).
absl::Status GetMetadata(const ServableHandle& handle,
                         const tensorflow::serving::GetModelMetadataRequest& request,
                         tensorflow::serving::GetModelMetadataResponse* response);

// GetModelStatus: every version of the model, or the one the spec names (by
// version or by label), with TF Serving's errors.
absl::Status GetModelStatus(const ModelManager& manager,
                            const tensorflow::serving::GetModelStatusRequest& request,
                            tensorflow::serving::GetModelStatusResponse* response);

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_INFERENCE_H_
