// Fuzz target: a tensor bundle's data shard under a real, valid `.index` — every
// entry read (bounds against the shard's size, CRC32C, string tensors' varint
// lengths and their own CRC) and the object graph, a string tensor, parsed.
// The index is golf_ckptmgr's ckpt-2 (a CheckpointManager checkpoint: floats,
// int64 counters and the object graph); its data shard is the seed.
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
  WriteScratchFile("ckpt.index", ReadWholeFile(Fixture("golf_ckptmgr/checkpoints/ckpt-2.index")));
  prefix = swapserve::fuzz::ScratchDir() + "/ckpt";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  swapserve::fuzz::WriteScratchFile("ckpt.data-00000-of-00001",
                                    swapserve::fuzz::Bytes(data, size));
  swapserve::fuzz::ReadWholeBundle(prefix);
  return 0;
}
