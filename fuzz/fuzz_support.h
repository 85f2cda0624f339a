// What the fuzz targets share: a scratch directory of the process's own to write
// an input where a path-taking parser can read it, the fixtures the targets
// start from, and inputs to run a plan with once it has been built from fuzzed
// bytes (a malformed model must fail to load, never crash when it runs).
//
// A problem of the fuzzing environment — a fixture missing, /tmp unwritable —
// ends the process with a message (exit 77, "skipped", unless CI=true, then 1);
// it is never reported as a finding. Not thread-safe: libFuzzer runs one input
// at a time.
#ifndef SWAPSERVE_FUZZ_FUZZ_SUPPORT_H_
#define SWAPSERVE_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "model/graph/plan.h"
#include "model/loaded_model.h"
#include "model/tensor.h"

namespace swapserve::fuzz {

// A fresh directory under $TMPDIR (else /tmp), made on first use and removed
// when the process exits normally.
const std::string& ScratchDir();

// Writes `bytes` to ScratchDir()/`name` (replacing it) and returns the path.
std::string WriteScratchFile(const std::string& name, absl::string_view bytes);

// $SWAPSERVE_FIXTURES/`relative`, else the source tree's ../shared/fixtures;
// ends the process (see above) when it does not exist.
std::string Fixture(const std::string& relative);

// Copies the directory tree `from` to ScratchDir()/`name` and returns its path.
std::string CopyToScratch(const std::string& from, const std::string& name);

// The whole file at `path`; ends the process when it cannot be read.
std::string ReadWholeFile(const std::string& path);

// One input per plan input, in plan order: its declared shape with unknown
// dimensions 1 (unknown rank: a vector of 1), zeros or empty strings. Empty
// when the inputs would hold more than `max_elements` values in all (a fuzzed
// signature can declare any shape) or a dtype cannot be made.
std::vector<Tensor> ExampleInputs(const Plan& plan, int64_t max_elements = 1 << 16);

// Runs every plan of `model` that has weights with ExampleInputs, ignoring the
// result: what is checked is that running a model that loaded cannot crash.
void RunEveryPlan(const LoadedModel& model);

// Opens the tensor bundle at `prefix`, reads every entry and parses its object
// graph, ignoring every error: what both bundle targets do with their input.
void ReadWholeBundle(const std::string& prefix);

// The input as a string_view.
inline absl::string_view Bytes(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace swapserve::fuzz

#endif  // SWAPSERVE_FUZZ_FUZZ_SUPPORT_H_
