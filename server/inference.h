// TF Serving's request semantics on top of Plan::Run: Predict (named tensors in
// and out, output_filter), Classify and Regress (tf.Examples fed as serialized
// strings to a classify/regress signature) and the signature_def metadata — with
// TF Serving's validation, error codes and messages. No gRPC in here: the services
// only translate absl::Status to grpc::Status.
//
// Every function runs on the `weights` snapshot it is given, so a whole request
// computes with one WeightSet. Stateless, thread-safe.
#ifndef SWAPSERVE_SERVER_INFERENCE_H_
#define SWAPSERVE_SERVER_INFERENCE_H_

#include "absl/status/status.h"
#include "model/servable.h"
#include "server/model_manager.h"
#include "tensorflow_serving/apis/classification.pb.h"
#include "tensorflow_serving/apis/get_model_metadata.pb.h"
#include "tensorflow_serving/apis/predict.pb.h"
#include "tensorflow_serving/apis/regression.pb.h"

namespace swapserve::server {

inline constexpr char kClassifyMethod[] = "tensorflow/serving/classify";
inline constexpr char kRegressMethod[] = "tensorflow/serving/regress";

absl::Status RunPredict(const ServableHandle& handle, const ServedWeights& weights,
                        const tensorflow::serving::PredictRequest& request,
                        tensorflow::serving::PredictResponse* response);

absl::Status RunClassify(const ServableHandle& handle, const ServedWeights& weights,
                         const tensorflow::serving::ClassificationRequest& request,
                         tensorflow::serving::ClassificationResponse* response);

absl::Status RunRegress(const ServableHandle& handle, const ServedWeights& weights,
                        const tensorflow::serving::RegressionRequest& request,
                        tensorflow::serving::RegressionResponse* response);

// GetModelMetadata: only the "signature_def" field exists (as in TF Serving).
absl::Status GetMetadata(const ServableHandle& handle,
                         const tensorflow::serving::GetModelMetadataRequest& request,
                         tensorflow::serving::GetModelMetadataResponse* response);

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_INFERENCE_H_
