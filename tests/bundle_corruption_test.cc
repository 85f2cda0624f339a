// Corruptions of real bundle files must give either the original tensors or an
// error, never a wrong value, crash or hang: every single-byte flip and every
// truncation of the index; every truncation of small data files (every 997th
// byte of large ones); and data byte flips, every byte of a small file and of
// the seed's 1.6 MB one a deterministic sample (each tensor's first, last and six
// inner bytes, and ~3,000 spread evenly), each of which must be detected.
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
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
using ::swapserve::testing::WriteFileOrDie;

using Contents = std::map<std::string, Tensor>;

// Reads every tensor it can; returns the number of errors seen. Any tensor read
// successfully must equal the original.
int CheckAgainst(const std::string& prefix, const Contents& original) {
  auto reader = BundleReader::Open(prefix);
  if (!reader.ok()) return 1;
  int errors = 0;
  for (const BundleEntry& entry : (*reader)->entries()) {
    auto t = (*reader)->Read(entry);
    if (!t.ok()) {
      ++errors;
      continue;
    }
    auto it = original.find(entry.key);
    if (it == original.end() || !it->second.Equals(*t)) {
      ADD_FAILURE() << "corrupted bundle read as valid: key '" << entry.key << "'";
    }
  }
  return errors;
}

class BundleCorruptionTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    source_ = swapserve::testing::Fixture(GetParam());
    if (!swapserve::testing::PathExistsForTest(BundleIndexFilename(source_))) {
      if (swapserve::testing::InCi()) FAIL() << "fixture " << source_ << " is missing";
      GTEST_SKIP() << "fixture " << source_ << " is missing";
    }
    auto reader = BundleReader::Open(source_);
    ASSERT_TRUE(reader.ok()) << reader.status();
    for (const BundleEntry& e : (*reader)->entries()) {
      auto t = (*reader)->Read(e);
      ASSERT_TRUE(t.ok()) << t.status();
      original_.emplace(e.key, *t);
    }
    index_ = ReadFileOrDie(BundleIndexFilename(source_));
    data_ = ReadFileOrDie(BundleDataFilename(source_, 0, 1));
    prefix_ = dir_.Join("b");
  }

  void Write(const std::string& index, const std::string& data) {
    WriteFileOrDie(BundleIndexFilename(prefix_), index);
    WriteFileOrDie(BundleDataFilename(prefix_, 0, 1), data);
  }

  std::string source_, prefix_, index_, data_;
  Contents original_;
  TempDir dir_;
};

TEST_P(BundleCorruptionTest, EveryIndexByteFlip) {
  for (size_t i = 0; i < index_.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = index_;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      Write(bad, data_);
      SCOPED_TRACE(::testing::Message() << "index byte " << i << " ^ " << int(mask));
      CheckAgainst(prefix_, original_);
      if (HasFatalFailure() || HasNonfatalFailure()) return;
    }
  }
}

TEST_P(BundleCorruptionTest, EveryIndexTruncation) {
  for (size_t n = 0; n < index_.size(); ++n) {
    Write(index_.substr(0, n), data_);
    SCOPED_TRACE(::testing::Message() << "index truncated to " << n);
    EXPECT_GT(CheckAgainst(prefix_, original_), 0);
  }
}

// The data bytes to flip: all of a small file; of a large one (the seed's 1.6 MB)
// a deterministic sample, every tensor's first and last byte and 6 inside it,
// plus ~3,000 bytes spread evenly over the file.
std::vector<size_t> BytesToFlip(const std::string& data, const Contents& original,
                                const std::string& index_prefix) {
  std::set<size_t> at;
  if (data.size() <= 4096) {
    for (size_t i = 0; i < data.size(); ++i) at.insert(i);
    return {at.begin(), at.end()};
  }
  auto reader = BundleReader::Open(index_prefix);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return {};
  for (const BundleEntry& e : (*reader)->entries()) {
    if (e.size <= 0 || original.count(e.key) == 0) continue;
    for (int64_t k = 0; k <= 7; ++k) at.insert(static_cast<size_t>(e.offset + (e.size - 1) * k / 7));
  }
  for (size_t i = 0; i < data.size(); i += data.size() / 3000) at.insert(i);
  return {at.begin(), at.end()};
}

TEST_P(BundleCorruptionTest, DataByteFlips) {
  const std::vector<size_t> flips = BytesToFlip(data_, original_, source_);
  ASSERT_FALSE(flips.empty());
  // Flipped in place in one copy of the file, then flipped back.
  Write(index_, data_);
  std::fstream file(BundleDataFilename(prefix_, 0, 1), std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(file.is_open());
  int detected = 0;
  for (size_t i : flips) {
    SCOPED_TRACE(::testing::Message() << "data byte " << i);
    const char flipped = static_cast<char>(data_[i] ^ 0x01);
    file.seekp(static_cast<std::streamoff>(i));
    file.write(&flipped, 1);
    file.flush();
    detected += CheckAgainst(prefix_, original_) > 0;
    file.seekp(static_cast<std::streamoff>(i));
    file.write(&data_[i], 1);
    file.flush();
    ASSERT_TRUE(file.good());
  }
  // Every data byte of these bundles belongs to some tensor, so each flip is caught.
  EXPECT_EQ(detected, static_cast<int>(flips.size()));
  std::printf("%zu of %zu data bytes flipped, %d detected\n", flips.size(), data_.size(), detected);
  EXPECT_EQ(CheckAgainst(prefix_, original_), 0) << "restored file reads as the original";
}

TEST_P(BundleCorruptionTest, EveryDataTruncation) {
  for (size_t n = 0; n < data_.size(); n += data_.size() > 4096 ? 997 : 1) {
    Write(index_, data_.substr(0, n));
    SCOPED_TRACE(::testing::Message() << "data truncated to " << n);
    EXPECT_GT(CheckAgainst(prefix_, original_), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, BundleCorruptionTest,
    ::testing::Values(
        "tf_serving/saved_model_half_plus_two_cpu/00000123/variables/variables",
        "tf_serving/saved_model_half_plus_two_tf2_cpu/00000123/variables/variables",
        "tf_serving/saved_model_counter/00000123/variables/variables",
        "keras_seed_mlp/training_2/cp-0000.ckpt"));

}  // namespace
}  // namespace swapserve
