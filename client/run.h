// swapserve-cli run: offline inference (like saved_model_cli run). Reads the input
// JSON ({"inputs": {ALIAS: tensor}}, the format of fixtures/expected/*.json), runs
// one signature, returns {"outputs": {ALIAS: tensor}}.
#ifndef SWAPSERVE_CLIENT_RUN_H_
#define SWAPSERVE_CLIENT_RUN_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace swapserve::cli {

struct RunRequest {
  std::string model_path;
  std::string signature;   // empty: serving_default
  std::string checkpoint;  // empty: the model's own weights
  nlohmann::json input;    // {"inputs": {...}} (extra top-level keys ignored)
};

absl::StatusOr<nlohmann::json> RunModel(const RunRequest& request);

}  // namespace swapserve::cli

#endif  // SWAPSERVE_CLIENT_RUN_H_
