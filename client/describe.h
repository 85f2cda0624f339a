// What `swapserve-cli show` prints: a model path described as JSON (signatures,
// variables, checkpoint) and rendered for people. Errors reading a single variable
// are recorded on that variable, not fatal.
#ifndef SWAPSERVE_CLIENT_DESCRIBE_H_
#define SWAPSERVE_CLIENT_DESCRIBE_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace swapserve::cli {

// {"path", "format", "signatures", "variables", "checkpoint"} for any path
// ResolveModelPath accepts.
absl::StatusOr<nlohmann::json> DescribeModel(const std::string& path);

// The same description as aligned text.
std::string RenderDescription(const nlohmann::json& description);

}  // namespace swapserve::cli

#endif  // SWAPSERVE_CLIENT_DESCRIBE_H_
