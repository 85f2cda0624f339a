#include "trainer/export_hook.h"

namespace swapserve::trainer {

absl::Status ExportTrainedModel(const Network&, const std::string& dir) {
  return absl::UnimplementedError("--export_dir " + dir +
                                  ": the SavedModel exporter is not part of this build yet");
}

}  // namespace swapserve::trainer
