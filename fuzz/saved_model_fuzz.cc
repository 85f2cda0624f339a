// Fuzz target: `saved_model.pb` through everything a load does with it — the
// MetaGraphDef, signatures, function library inlining, the restore map,
// planning and constant folding — beside real variables, and every plan that
// loads run once: a malformed graph must fail to load, never crash at run
// time. Each input is tried in two directories, with half_plus_two's TF1
// (VariableV2, name-based keys) and TF2 (VarHandleOp, object-based keys)
// variables, so mutations of either kind of graph can reach the kernels.
// Seeds: every fixture's saved_model.pb.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_support.h"
#include "model/loaded_model.h"

namespace {
std::string tf1_dir, tf2_dir;

void LoadAndRun(const std::string& dir, absl::string_view bytes) {
  swapserve::fuzz::WriteScratchFile(dir + "/saved_model.pb", bytes);
  auto model = swapserve::LoadModel(swapserve::fuzz::ScratchDir() + "/" + dir, {});
  if (model.ok()) swapserve::fuzz::RunEveryPlan(**model);
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using swapserve::fuzz::CopyToScratch;
  using swapserve::fuzz::Fixture;
  CopyToScratch(Fixture("tf_serving/saved_model_half_plus_two_cpu/00000123"), "tf1");
  CopyToScratch(Fixture("tf_serving/saved_model_half_plus_two_tf2_cpu/00000123"), "tf2");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes = swapserve::fuzz::Bytes(data, size);
  LoadAndRun("tf1", bytes);
  LoadAndRun("tf2", bytes);
  return 0;
}
