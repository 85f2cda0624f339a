// CRC32C (Castagnoli) as TensorFlow and LevelDB use it, computed by ISA-L.
// TF stores checksums "masked" (rotated and offset) so that a CRC of data that itself
// contains CRCs stays well distributed; Mask/Unmask convert. Stateless, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_CRC32C_H_
#define SWAPSERVE_MODEL_FORMATS_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace swapserve::crc32c {

// The CRC32C of data[0, n) appended to a stream whose CRC32C so far is `crc`.
uint32_t Extend(uint32_t crc, const char* data, size_t n);

inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }

inline constexpr uint32_t kMaskDelta = 0xa282ead8u;

inline uint32_t Mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

inline uint32_t Unmask(uint32_t masked) {
  const uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace swapserve::crc32c

#endif  // SWAPSERVE_MODEL_FORMATS_CRC32C_H_
