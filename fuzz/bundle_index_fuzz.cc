// Fuzz target: a tensor bundle's `.index` (a LevelDB table: footer, block
// handles, block CRCs, BundleHeaderProto and BundleEntryProto values) beside a
// real data shard, then every entry read and the object graph parsed — what a
// follower does with an index a trainer is still writing or a disk corrupted.
// Seeds: the fixtures' `.index` files (bench/fuzz.sh).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"

namespace {
std::string prefix;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using swapserve::fuzz::Fixture;
  using swapserve::fuzz::ReadWholeFile;
  using swapserve::fuzz::WriteScratchFile;
  // Keys of the golf checkpoint, data of the same: entries point into a real shard.
  WriteScratchFile("ckpt.data-00000-of-00001",
                   ReadWholeFile(Fixture("golf_ckptmgr/checkpoints/ckpt-2.data-00000-of-00001")));
  prefix = swapserve::fuzz::ScratchDir() + "/ckpt";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  swapserve::fuzz::WriteScratchFile("ckpt.index", swapserve::fuzz::Bytes(data, size));
  swapserve::fuzz::ReadWholeBundle(prefix);
  return 0;
}
