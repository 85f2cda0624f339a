// The JSON tensor format of swapserve-cli (and of ../shared/fixtures/expected):
// {"dtype": "DT_FLOAT", "shape": [2, 3], "values": [row-major numbers]} — strings
// as JSON strings or, for binary data, {"b64": "..."} (TF Serving's REST
// convention), bools as true/false. Stateless, thread-safe.
#ifndef SWAPSERVE_CLIENT_TENSOR_JSON_H_
#define SWAPSERVE_CLIENT_TENSOR_JSON_H_

#include "absl/status/statusor.h"
#include "model/tensor.h"
#include "nlohmann/json.hpp"

namespace swapserve::cli {

// Errors name `what` (e.g. "input 'x'") and the mismatch.
absl::StatusOr<Tensor> TensorFromJson(const nlohmann::json& j, const std::string& what);
nlohmann::json TensorToJson(const Tensor& t);

}  // namespace swapserve::cli

#endif  // SWAPSERVE_CLIENT_TENSOR_JSON_H_
