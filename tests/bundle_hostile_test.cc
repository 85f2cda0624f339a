// Hand-built bundle indexes with hostile metadata: each must be a clear error on the
// affected key (or on Open), never a crash or an allocation the file cannot back.
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "leveldb/env.h"
#include "leveldb/options.h"
#include "leveldb/table_builder.h"
#include "model/formats/bundle_format.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/crc32c.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using ::swapserve::testing::TempDir;
using ::swapserve::testing::WriteFileOrDie;

class BundleHostileTest : public ::testing::Test {
 protected:
  BundleHostileTest() {
    header_.set_num_shards(1);
    prefix_ = dir_.Join("hostile");
    WriteFileOrDie(BundleDataFilename(prefix_, 0, 1), std::string(16, '\0'));
  }

  // An entry describing a float[2,2] at offset 0 (16 bytes, zeros).
  static tensorflow::BundleEntryProto GoodEntry() {
    tensorflow::BundleEntryProto e;
    e.set_dtype(tensorflow::DT_FLOAT);
    e.mutable_shape()->add_dim()->set_size(2);
    e.mutable_shape()->add_dim()->set_size(2);
    e.set_size(16);
    const std::string zeros(16, '\0');
    e.set_crc32c(crc32c::Mask(crc32c::Value(zeros.data(), zeros.size())));
    return e;
  }

  void WriteIndex(const std::map<std::string, tensorflow::BundleEntryProto>& entries) {
    leveldb::WritableFile* raw = nullptr;
    ASSERT_TRUE(leveldb::Env::Default()
                    ->NewWritableFile(BundleIndexFilename(prefix_), &raw)
                    .ok());
    std::unique_ptr<leveldb::WritableFile> file(raw);
    leveldb::Options options;
    options.compression = leveldb::kNoCompression;
    leveldb::TableBuilder builder(options, file.get());
    builder.Add("", header_.SerializeAsString());
    for (const auto& [k, e] : entries) builder.Add(k, e.SerializeAsString());
    ASSERT_TRUE(builder.Finish().ok());
    ASSERT_TRUE(file->Close().ok());
  }

  // Opens the bundle and returns the error of reading `key` (OK if it read).
  absl::Status ReadError(const tensorflow::BundleEntryProto& entry) {
    WriteIndex({{"k", entry}});
    auto reader = BundleReader::Open(prefix_);
    if (!reader.ok()) return reader.status();
    return (*reader)->Read("k").status();
  }

  TempDir dir_;
  std::string prefix_;
  tensorflow::BundleHeaderProto header_;
};

TEST_F(BundleHostileTest, GoodEntryReads) {
  EXPECT_TRUE(ReadError(GoodEntry()).ok());
}

TEST_F(BundleHostileTest, MultiShardBundleReadsEachKeyFromItsShard) {
  header_.set_num_shards(2);
  // Shard 1 holds 1.0f, 2.0f, 3.0f, 4.0f after 4 bytes of padding.
  std::string shard1(4, '\0');
  for (float f : {1.0f, 2.0f, 3.0f, 4.0f}) {
    shard1.append(reinterpret_cast<const char*>(&f), 4);
  }
  WriteFileOrDie(BundleDataFilename(prefix_, 0, 2), std::string(16, '\0'));
  WriteFileOrDie(BundleDataFilename(prefix_, 1, 2), shard1);
  auto in_shard0 = GoodEntry();
  auto in_shard1 = GoodEntry();
  in_shard1.set_shard_id(1);
  in_shard1.set_offset(4);
  in_shard1.set_crc32c(crc32c::Mask(crc32c::Value(shard1.data() + 4, 16)));
  WriteIndex({{"a", in_shard0}, {"b", in_shard1}});
  auto reader = BundleReader::Open(prefix_);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto a = (*reader)->Read("a");
  auto b = (*reader)->Read("b");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->data<float>()[0], 0.0f);
  EXPECT_EQ(b->data<float>()[0], 1.0f);
  EXPECT_EQ(b->data<float>()[3], 4.0f);
}

TEST_F(BundleHostileTest, UnknownDtype) {
  auto e = GoodEntry();
  e.set_dtype(static_cast<tensorflow::DataType>(99));
  absl::Status s = ReadError(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(absl::StrContains(s.message(), "unsupported dtype DT_99")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "'k'")) << s;
}

TEST_F(BundleHostileTest, ShapeWhoseElementCountOverflows) {
  auto e = GoodEntry();
  e.mutable_shape()->mutable_dim(0)->set_size(int64_t{1} << 40);
  e.mutable_shape()->mutable_dim(1)->set_size(int64_t{1} << 40);
  absl::Status s = ReadError(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST_F(BundleHostileTest, HugeShapeWithSmallSize) {
  auto e = GoodEntry();
  e.mutable_shape()->mutable_dim(0)->set_size(int64_t{1} << 30);
  absl::Status s = ReadError(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "does not match")) << s;
}

TEST_F(BundleHostileTest, HugeSizeMatchingHugeShape) {
  // Consistent metadata, but far more bytes than the 16-byte shard holds: refused
  // before any allocation.
  auto e = GoodEntry();
  e.mutable_shape()->mutable_dim(0)->set_size(int64_t{1} << 36);
  e.set_size((int64_t{1} << 36) * 2 * 4);
  absl::Status s = ReadError(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "outside")) << s;
}

TEST_F(BundleHostileTest, NegativeDimension) {
  auto e = GoodEntry();
  e.mutable_shape()->mutable_dim(0)->set_size(-2);
  EXPECT_EQ(ReadError(e).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BundleHostileTest, OffsetOutsideShard) {
  auto e = GoodEntry();
  e.set_offset(8);  // 8 + 16 > 16
  absl::Status s = ReadError(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(s.message(), "lie outside")) << s;
  e.set_offset(-1);
  EXPECT_EQ(ReadError(e).code(), absl::StatusCode::kDataLoss);
}

TEST_F(BundleHostileTest, ShardIdOutOfRange) {
  auto e = GoodEntry();
  e.set_shard_id(3);
  absl::Status s = ReadError(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(s.message(), "shard_id 3")) << s;
}

TEST_F(BundleHostileTest, CrcMismatch) {
  auto e = GoodEntry();
  e.set_crc32c(12345);
  absl::Status s = ReadError(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(s.message(), "CRC32C mismatch")) << s;
}

TEST_F(BundleHostileTest, SlicedVariablesAreUnsupported) {
  auto e = GoodEntry();
  e.add_slices();
  EXPECT_EQ(ReadError(e).code(), absl::StatusCode::kUnimplemented);
}

TEST_F(BundleHostileTest, StringTensorClaimingMoreElementsThanBytes) {
  auto e = GoodEntry();
  e.set_dtype(tensorflow::DT_STRING);
  e.mutable_shape()->mutable_dim(0)->set_size(int64_t{1} << 40);
  EXPECT_EQ(ReadError(e).code(), absl::StatusCode::kDataLoss);
}

TEST_F(BundleHostileTest, BigEndianAndFutureVersionsAreRefused) {
  header_.set_endianness(tensorflow::BundleHeaderProto::BIG);
  EXPECT_EQ(ReadError(GoodEntry()).code(), absl::StatusCode::kUnimplemented);
  header_.set_endianness(tensorflow::BundleHeaderProto::LITTLE);
  header_.mutable_version()->set_min_consumer(7);
  EXPECT_EQ(ReadError(GoodEntry()).code(), absl::StatusCode::kUnimplemented);
}

TEST_F(BundleHostileTest, ImplausibleShardCount) {
  header_.set_num_shards(0);
  EXPECT_EQ(ReadError(GoodEntry()).code(), absl::StatusCode::kDataLoss);
  header_.set_num_shards(1 << 30);
  EXPECT_EQ(ReadError(GoodEntry()).code(), absl::StatusCode::kDataLoss);
}

TEST_F(BundleHostileTest, BadMagicAndTinyFiles) {
  WriteIndex({{"k", GoodEntry()}});
  std::string index = swapserve::testing::ReadFileOrDie(BundleIndexFilename(prefix_));
  index[index.size() - 1] ^= 0x01;
  WriteFileOrDie(BundleIndexFilename(prefix_), index);
  auto reader = BundleReader::Open(prefix_);
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(absl::StrContains(reader.status().message(), "magic")) << reader.status();
  WriteFileOrDie(BundleIndexFilename(prefix_), "tiny");
  EXPECT_EQ(BundleReader::Open(prefix_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(BundleHostileTest, FooterHandlePointingPastTheFile) {
  WriteIndex({{"k", GoodEntry()}});
  std::string index = swapserve::testing::ReadFileOrDie(BundleIndexFilename(prefix_));
  // Rewrite the footer's index handle as (offset 0, size 2^40) — a varint LevelDB
  // would otherwise try to allocate.
  const size_t footer = index.size() - 48;
  std::string handles;
  auto put_varint = [&](uint64_t v) {
    while (v >= 0x80) {
      handles.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    handles.push_back(static_cast<char>(v));
  };
  put_varint(0), put_varint(0), put_varint(0), put_varint(uint64_t{1} << 40);
  handles.resize(40, '\0');
  index.replace(footer, 40, handles);
  WriteFileOrDie(BundleIndexFilename(prefix_), index);
  auto reader = BundleReader::Open(prefix_);
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(absl::StrContains(reader.status().message(), "outside the file"))
      << reader.status();
}

}  // namespace
}  // namespace swapserve
