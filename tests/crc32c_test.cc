#include "model/formats/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace swapserve::crc32c {
namespace {

TEST(Crc32cTest, StandardCheckValue) {
  // The CRC-32C check value from RFC 3720 / every CRC catalogue.
  const std::string s = "123456789";
  EXPECT_EQ(Value(s.data(), s.size()), 0xe3069283u);
}

TEST(Crc32cTest, Rfc3720Vectors) {
  std::string zeros(32, '\0');
  EXPECT_EQ(Value(zeros.data(), zeros.size()), 0x8a9136aau);
  std::string ones(32, '\xff');
  EXPECT_EQ(Value(ones.data(), ones.size()), 0x62a8ab43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(Value(inc.data(), inc.size()), 0x46dd794eu);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  const std::string s = "hello world, this is swapserve";
  const uint32_t whole = Value(s.data(), s.size());
  const uint32_t part = Extend(Value(s.data(), 7), s.data() + 7, s.size() - 7);
  EXPECT_EQ(whole, part);
  EXPECT_EQ(Value("", 0), 0u);
}

TEST(Crc32cTest, MaskRoundTripsAndDiffers) {
  for (uint32_t c : {0u, 1u, 0xe3069283u, 0xffffffffu}) {
    EXPECT_NE(Mask(c), c);
    EXPECT_EQ(Unmask(Mask(c)), c);
  }
}

}  // namespace
}  // namespace swapserve::crc32c
