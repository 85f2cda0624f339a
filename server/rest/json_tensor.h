// The JSON codec of TF Serving's REST API (/v1/models/...:predict, :classify,
// :regress): request bodies -> tensorflow.serving request protos, and responses
// -> JSON, with the rules of TF Serving's util/json_tensor (row "instances" and
// columnar "inputs", {"b64": ...} binary strings, NaN/Infinity literals, the
// "_bytes" output suffix, its error messages). Decoded tensors carry their
// values as tensor_content (strings in string_val), as TensorToProto writes
// them, so a REST request reaches the engine as the same TensorProto a gRPC
// client sends.
//
// Hostile bodies are refused, not crashed on: nesting deeper than
// kMaxJsonDepth, invalid UTF-8, numbers beyond their dtype. Errors are
// INVALID_ARGUMENT unless noted.
//
// Stateless; every function is safe to call from many threads at once.
#ifndef SWAPSERVE_SERVER_REST_JSON_TENSOR_H_
#define SWAPSERVE_SERVER_REST_JSON_TENSOR_H_

#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tensorflow/core/framework/tensor.pb.h"
#include "tensorflow/core/framework/types.pb.h"
#include "tensorflow_serving/apis/classification.pb.h"
#include "tensorflow_serving/apis/predict.pb.h"
#include "tensorflow_serving/apis/regression.pb.h"

namespace swapserve::server::rest {

// Arrays and objects nested deeper than this are a parse error.
inline constexpr int kMaxJsonDepth = 100;

enum class JsonFormat { kRow, kColumnar };

// The inputs (alias -> dtype) of a signature ("" = the default signature). An
// error it returns is returned as is.
using InputDtypes =
    std::function<absl::StatusOr<std::map<std::string, tensorflow::DataType>>(
        const std::string& signature_name)>;

// Parses a predict body: {"signature_name"?: s, "instances": [...]} (row) or
// {"signature_name"?: s, "inputs": value|{alias: value}} (columnar). Sets
// request->model_spec().signature_name when given, replaces request->inputs,
// and reports which format the body used (the response must use the same).
// Dtypes without a JSON form (complex, ...) are UNIMPLEMENTED, as in TF
// Serving.
absl::Status FillPredictRequestFromJson(
    absl::string_view body, const InputDtypes& dtypes,
    tensorflow::serving::PredictRequest* request, JsonFormat* format);

// {"predictions": [row, ...]} for kRow (the batch dimension split into rows,
// each an object when there are several outputs), {"outputs": tensor|{alias:
// tensor}} for kColumnar. Reads typed *_val fields and tensor_content alike.
absl::StatusOr<std::string> MakeJsonFromTensors(
    const google::protobuf::Map<std::string, tensorflow::TensorProto>& outputs,
    JsonFormat format);

// Classify / regress bodies: {"signature_name"?: s, "context"?: {feature:
// value|list}, "examples": [{feature: value|list}, ...]}. Integers and booleans
// -> int64_list, other numbers -> float_list, strings and {"b64"} ->
// bytes_list. With a context the examples go to example_list_with_context.
absl::Status FillClassificationRequestFromJson(
    absl::string_view body,
    tensorflow::serving::ClassificationRequest* request);
absl::Status FillRegressionRequestFromJson(
    absl::string_view body, tensorflow::serving::RegressionRequest* request);

// {"results": [[[label, score], ...], ...]} and {"results": [value, ...]}.
absl::StatusOr<std::string> MakeJsonFromClassificationResult(
    const tensorflow::serving::ClassificationResult& result);
absl::StatusOr<std::string> MakeJsonFromRegressionResult(
    const tensorflow::serving::RegressionResult& result);

}  // namespace swapserve::server::rest

#endif  // SWAPSERVE_SERVER_REST_JSON_TENSOR_H_
