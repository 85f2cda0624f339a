// swapserve-cli's remote commands: calls to a running server (swapserve or
// tensorflow_model_server) through TF Serving's gRPC API and the standard health
// service. JSON in and out as for `run`; a failed call prints its gRPC status to
// stderr and exits 1 (usage errors exit 2).
#ifndef SWAPSERVE_CLIENT_REMOTE_H_
#define SWAPSERVE_CLIENT_REMOTE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/args.h"
#include "tensorflow_serving/apis/predict.pb.h"

namespace swapserve::cli {

// True for the commands below.
bool IsRemoteCommand(const std::string& command);

// Runs `command` (predict, classify, regress, metadata, status, health,
// reload-config) with its words; returns the process exit code.
int RunRemoteCommand(const std::string& command, const std::vector<std::string>& words);

// The PredictRequest of --model/--version/--label/--signature and --input
// FILE.json ({"inputs": {alias: tensor JSON}}), as `predict` sends it.
absl::StatusOr<tensorflow::serving::PredictRequest> PredictRequestFromArgs(const Args& args);

// The usage lines of the remote commands.
extern const char kRemoteUsage[];

}  // namespace swapserve::cli

#endif  // SWAPSERVE_CLIENT_REMOTE_H_
