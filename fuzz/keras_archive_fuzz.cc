// Fuzz target: a `.keras` file's zip layer (libzip under our checks: entry
// names, duplicates, methods, encryption, declared sizes against the deflate
// bound before anything is allocated, CRC-32) and the metadata.json and
// config.json inside it, parsed into a model config. The weights image it
// hands back is HDF5, which the daemon parses only in a child process
// (keras_weights_child_fuzz). Seeds: the fixtures' `.keras` archives.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"
#include "model/formats/keras_archive.h"
#include "model/formats/keras_config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path =
      swapserve::fuzz::WriteScratchFile("model.keras", swapserve::fuzz::Bytes(data, size));
  (void)swapserve::IsZipFile(path);
  auto archive = swapserve::ReadKerasArchive(path, /*with_weights=*/true);
  if (archive.ok()) (void)swapserve::ParseKerasModelConfig(archive->config);
  return 0;
}
