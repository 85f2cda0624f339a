// Fuzz target: the `checkpoint` pointer file (text-format CheckpointState, as
// tf.train.CheckpointManager and Keras 2 ModelCheckpoint write it) in a
// directory that also holds real checkpoints — parsed, resolved, and walked the
// way a follower walks it: the latest, the listing `checkpoints list` shows,
// and the fallbacks a version starts on when the latest is unusable.
// Seeds: the fixtures' pointer files.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"
#include "model/formats/checkpoint_dir.h"
#include "model/formats/checkpoint_state.h"
#include "server/checkpoint_follower.h"

namespace {
std::string dir;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using swapserve::fuzz::Fixture;
  using swapserve::fuzz::ReadWholeFile;
  using swapserve::fuzz::WriteScratchFile;
  for (const char* file : {"ckpt-1.index", "ckpt-1.data-00000-of-00001", "ckpt-2.index"}) {
    WriteScratchFile(file, ReadWholeFile(Fixture(std::string("golf_ckptmgr/checkpoints/") + file)));
  }
  dir = swapserve::fuzz::ScratchDir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  swapserve::fuzz::WriteScratchFile("checkpoint", swapserve::fuzz::Bytes(data, size));
  auto state = swapserve::ReadCheckpointState(dir);
  if (state.ok()) {
    for (const std::string& path : state->all_model_checkpoint_paths()) {
      (void)swapserve::CheckpointStep(path);
    }
  }
  auto latest = swapserve::LatestCheckpointInDir(dir);
  (void)swapserve::server::ListCheckpointsOnDisk(dir);
  (void)swapserve::server::FallbackCheckpoints(dir, latest.ok() ? *latest : std::string());
  return 0;
}
