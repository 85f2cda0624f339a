#include "model/formats/bundle_writer.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/formats/bundle_format.h"
#include "model/formats/bundle_reader.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using ::swapserve::testing::ReadFileOrDie;
using ::swapserve::testing::TempDir;

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Rewrites Keras's cp-0000 with our writer, adding tensors in the order TF laid
// them out in the data file: the result must read back identically and be
// byte-for-byte the files TF wrote.
TEST(BundleWriterTest, RewritesKerasCheckpointByteForByte) {
  SS_REQUIRE_FIXTURE(tf_prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  auto tf = BundleReader::Open(tf_prefix);
  ASSERT_TRUE(tf.ok()) << tf.status();
  std::vector<BundleEntry> by_offset = (*tf)->entries();
  std::sort(by_offset.begin(), by_offset.end(),
            [](const BundleEntry& a, const BundleEntry& b) { return a.offset < b.offset; });

  TempDir dir;
  const std::string prefix = dir.Join("cp-0000.ckpt");
  {
    BundleWriter writer(prefix);
    for (const BundleEntry& e : by_offset) {
      auto t = (*tf)->Read(e);
      ASSERT_TRUE(t.ok()) << t.status();
      ASSERT_TRUE(writer.Add(e.key, *t).ok());
    }
    ASSERT_TRUE(writer.Finish().ok());
  }
  EXPECT_EQ(ListDir(dir.path()),
            (std::vector<std::string>{"cp-0000.ckpt.data-00000-of-00001",
                                      "cp-0000.ckpt.index"}));

  auto ours = BundleReader::Open(prefix);
  ASSERT_TRUE(ours.ok()) << ours.status();
  ASSERT_EQ((*ours)->entries().size(), (*tf)->entries().size());
  for (const BundleEntry& e : (*tf)->entries()) {
    SCOPED_TRACE(e.key);
    auto a = (*tf)->Read(e.key);
    auto b = (*ours)->Read(e.key);
    ASSERT_TRUE(a.ok() && b.ok()) << b.status();
    EXPECT_TRUE(a->Equals(*b));
    const BundleEntry* mine = (*ours)->Find(e.key);
    EXPECT_EQ(mine->offset, e.offset);
    EXPECT_EQ(mine->size, e.size);
    EXPECT_EQ(mine->masked_crc32c, e.masked_crc32c);
  }
  EXPECT_EQ(ReadFileOrDie(BundleDataFilename(prefix, 0, 1)),
            ReadFileOrDie(BundleDataFilename(tf_prefix, 0, 1)));
  EXPECT_EQ(ReadFileOrDie(BundleIndexFilename(prefix)),
            ReadFileOrDie(BundleIndexFilename(tf_prefix)));
}

template <typename T>
Tensor Filled(DataType dtype, TensorShape shape, std::vector<T> values) {
  auto t = Tensor::Allocate(dtype, shape);
  EXPECT_TRUE(t.ok());
  std::copy(values.begin(), values.end(), t->data<T>());
  return *t;
}

TEST(BundleWriterTest, RoundTripsEveryDtype) {
  TempDir dir;
  const std::string prefix = dir.Join("all");
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"f32", Filled<float>(tensorflow::DT_FLOAT, {2, 2}, {1.5f, -2, 3, 1e-30f})},
      {"f64", Filled<double>(tensorflow::DT_DOUBLE, {3}, {1.0 / 3, -0.0, 1e300})},
      {"half", Filled<uint16_t>(tensorflow::DT_HALF, {2}, {0x3c00, 0xc000})},
      {"bf16", Filled<uint16_t>(tensorflow::DT_BFLOAT16, {2}, {0x3f80, 0x4000})},
      {"i8", Filled<int8_t>(tensorflow::DT_INT8, {3}, {-128, 0, 127})},
      {"i16", Filled<int16_t>(tensorflow::DT_INT16, {2}, {-32768, 32767})},
      {"i32", Filled<int32_t>(tensorflow::DT_INT32, {}, {42})},
      {"i64", Filled<int64_t>(tensorflow::DT_INT64, {2}, {INT64_MIN, INT64_MAX})},
      {"u8", Filled<uint8_t>(tensorflow::DT_UINT8, {4}, {0, 1, 254, 255})},
      {"bool", Filled<uint8_t>(tensorflow::DT_BOOL, {2}, {1, 0})},
      {"empty", Filled<float>(tensorflow::DT_FLOAT, {0, 7}, {})},
  };
  auto strings = Tensor::Allocate(tensorflow::DT_STRING, TensorShape{4});
  ASSERT_TRUE(strings.ok());
  strings->strings() = {"", "a", std::string(300, 'x'), std::string("\0\xff", 2)};
  tensors.emplace_back("str", *strings);

  BundleWriter writer(prefix);
  for (const auto& [key, t] : tensors) ASSERT_TRUE(writer.Add(key, t).ok()) << key;
  ASSERT_TRUE(writer.Finish().ok());

  auto reader = BundleReader::Open(prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->entries().size(), tensors.size());
  for (const auto& [key, t] : tensors) {
    SCOPED_TRACE(key);
    auto back = (*reader)->Read(key);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(back->Equals(t)) << back->DebugString() << " vs " << t.DebugString();
  }
}

TEST(BundleWriterTest, RejectsDuplicateAndReservedKeys) {
  TempDir dir;
  BundleWriter writer(dir.Join("x"));
  Tensor t = Filled<float>(tensorflow::DT_FLOAT, {1}, {1});
  ASSERT_TRUE(writer.Add("k", t).ok());
  EXPECT_EQ(writer.Add("k", t).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(writer.Add("", t).code(), absl::StatusCode::kInvalidArgument);
}

TEST(BundleWriterTest, AbandonedWriterLeavesNothing) {
  TempDir dir;
  {
    BundleWriter writer(dir.Join("x"));
    ASSERT_TRUE(writer.Add("k", Filled<float>(tensorflow::DT_FLOAT, {1}, {1})).ok());
  }
  EXPECT_TRUE(ListDir(dir.path()).empty());
}

TEST(BundleWriterTest, UnwritableDirectoryIsAnError) {
  BundleWriter writer("/nonexistent/dir/x");
  EXPECT_FALSE(writer.Add("k", Filled<float>(tensorflow::DT_FLOAT, {1}, {1})).ok());
  EXPECT_FALSE(writer.Finish().ok());
}

}  // namespace
}  // namespace swapserve
