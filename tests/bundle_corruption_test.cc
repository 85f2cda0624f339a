// Every single-byte corruption and every truncation of small real bundle files must
// give either the original tensors or an error: never a wrong value, crash or hang.
#include <map>
#include <string>

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

TEST_P(BundleCorruptionTest, EveryDataByteFlip) {
  if (data_.size() > 4096) GTEST_SKIP() << "data too large to flip every byte";
  int detected = 0;
  for (size_t i = 0; i < data_.size(); ++i) {
    std::string bad = data_;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    Write(index_, bad);
    SCOPED_TRACE(::testing::Message() << "data byte " << i);
    detected += CheckAgainst(prefix_, original_) > 0;
  }
  // Every data byte of these bundles belongs to some tensor.
  EXPECT_EQ(detected, static_cast<int>(data_.size()));
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
