// tf.Example ↔ JSON for `swapserve-cli classify|regress`, following TF Serving's
// REST convention: {"x": 1.5, "ids": [1, 2], "name": "abc", "raw": {"b64": "..."}}
// — floats become float_list, integers int64_list, strings bytes_list.
// Stateless, thread-safe.
#ifndef SWAPSERVE_CLIENT_EXAMPLE_JSON_H_
#define SWAPSERVE_CLIENT_EXAMPLE_JSON_H_

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "tensorflow/core/example/example.pb.h"

namespace swapserve::cli {

// Errors name the feature and the JSON value that cannot be a feature.
absl::StatusOr<tensorflow::Example> ExampleFromJson(const nlohmann::json& j);

}  // namespace swapserve::cli

#endif  // SWAPSERVE_CLIENT_EXAMPLE_JSON_H_
