// Facts about TensorFlow's tensor-bundle (checkpoint) layout shared by BundleReader
// and BundleWriter: file names, the header key, the format version.
//
// A bundle with prefix P is P.index (a LevelDB-format table: key "" holds a
// BundleHeaderProto, every other key a BundleEntryProto) plus data shards
// P.data-00000-of-0000N holding the raw tensor bytes at each entry's offset.
#ifndef SWAPSERVE_MODEL_FORMATS_BUNDLE_FORMAT_H_
#define SWAPSERVE_MODEL_FORMATS_BUNDLE_FORMAT_H_

#include <string>
#include "absl/strings/string_view.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "model/formats/crc32c.h"

namespace swapserve {

// The key under which the index stores its BundleHeaderProto.
inline constexpr absl::string_view kBundleHeaderKey = "";
// The key of the serialized TrackableObjectGraph in TF2 object-based checkpoints.
inline constexpr absl::string_view kObjectGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH";
// TF's kTensorBundleVersion / kTensorBundleMinConsumer.
inline constexpr int kBundleVersion = 1;
// TF's table block size for bundle indexes.
inline constexpr size_t kBundleIndexBlockSize = 256 * 1024;

inline std::string BundleIndexFilename(absl::string_view prefix) {
  return absl::StrCat(prefix, ".index");
}

inline std::string BundleDataFilename(absl::string_view prefix, int shard,
                                      int num_shards) {
  return absl::StrFormat("%s.data-%05d-of-%05d", prefix, shard, num_shards);
}

// String tensors are stored as varint64 lengths, a 4-byte masked CRC32C of those
// lengths, then the string bytes. The length CRC covers each length as a
// little-endian uint32 (uint64 when it does not fit), not its varint bytes; the
// entry's CRC continues over the 4 checksum bytes and the string bytes.
inline uint32_t ExtendCrcWithStringLength(uint32_t crc, uint64_t length) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
  if (length <= UINT32_MAX) {
    const uint32_t narrow = static_cast<uint32_t>(length);
    return crc32c::Extend(crc, reinterpret_cast<const char*>(&narrow), 4);
  }
  return crc32c::Extend(crc, reinterpret_cast<const char*>(&length), 8);
}

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_BUNDLE_FORMAT_H_
