#include "model/formats/crc32c.h"

#include <algorithm>
#include <climits>

#include <isa-l/crc.h>

namespace swapserve::crc32c {

uint32_t Extend(uint32_t crc, const char* data, size_t n) {
  // ISA-L works on the raw register (no pre/post inversion) and takes an int length,
  // so invert around it and feed large buffers in pieces.
  uint32_t reg = ~crc;
  auto* p = reinterpret_cast<unsigned char*>(const_cast<char*>(data));
  while (n > 0) {
    const size_t chunk = std::min<size_t>(n, INT_MAX / 2);
    reg = crc32_iscsi(p, static_cast<int>(chunk), reg);
    p += chunk;
    n -= chunk;
  }
  return ~reg;
}

}  // namespace swapserve::crc32c
