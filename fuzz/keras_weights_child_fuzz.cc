// Fuzz target: `.weights.h5` (and `.keras`) bytes as a follower meets them in a
// training run's directory, read the way the daemon reads them — in a child
// process (`swapserve __read-keras-weights`, server/isolated_reader.h) with a
// time limit, its stream decoded with every length bounded. libhdf5 may crash
// or hang in the child on a corrupt file; what this proves is that the
// daemon's side only ever gets tensors or an error. An input that starts as a
// zip does ("PK") is named cp.keras; any other is read both as cp.weights.h5
// and as a legacy Keras model, cp.h5 (`swapserve __read-keras-h5`, whose
// stream the parent decodes into layers and weights).
// Seeds: the fixtures' small weights files and archives (bench/fuzz.sh).
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_support.h"
#include "server/isolated_reader.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes = swapserve::fuzz::Bytes(data, size);
  const std::string path = swapserve::fuzz::WriteScratchFile(
      absl::StartsWith(bytes, "PK") ? "cp.keras" : "cp.weights.h5", bytes);
  (void)swapserve::server::ReadKerasWeightsIsolated(SWAPSERVE_DAEMON_PATH, path,
                                                    absl::Seconds(5));
  if (!absl::StartsWith(bytes, "PK")) {
    const std::string h5 = swapserve::fuzz::WriteScratchFile("cp.h5", bytes);
    (void)swapserve::server::ReadKerasH5Isolated(SWAPSERVE_DAEMON_PATH, h5, absl::Seconds(5));
  }
  return 0;
}
