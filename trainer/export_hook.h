// The trainer's side of --export_dir: turns a Network's parameters into the
// weight map the SavedModel exporter takes. Stateless, thread-safe.
#ifndef SWAPSERVE_TRAINER_EXPORT_HOOK_H_
#define SWAPSERVE_TRAINER_EXPORT_HOOK_H_

#include <string>

#include "absl/status/status.h"
#include "trainer/network.h"

namespace swapserve::trainer {

// Writes DIR as a SavedModel of `network` with its current weights.
absl::Status ExportTrainedModel(const Network& network, const std::string& dir);

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_EXPORT_HOOK_H_
