#include "model/formats/bundle_reader.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "model/formats/bundle_format.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using ::swapserve::testing::Fixture;

// Every bundle in the fixtures whose data shard is present.
const std::vector<std::string> kCompleteBundles = {
    "tf_serving/saved_model_half_plus_two_cpu/00000123/variables/variables",
    "tf_serving/saved_model_half_plus_two_tf2_cpu/00000123/variables/variables",
    "tf_serving/saved_model_half_plus_two_2_versions/00000123/variables/variables",
    "tf_serving/saved_model_half_plus_two_2_versions/00000124/variables/variables",
    "tf_serving/saved_model_half_plus_three/00000123/variables/variables",
    "tf_serving/saved_model_counter/00000123/variables/variables",
    "keras_saved_model/sonar/variables/variables",
    "keras_seed_mlp/training_2/cp-0000.ckpt",
};

// Bundles whose .index was kept but whose data shard was not.
const std::vector<std::string> kIndexOnlyBundles = {
    "keras_seed_mlp/training_2/cp-0005.ckpt",
    "keras_seed_mlp/training_2/cp-0050.ckpt",
    "keras_seed_mlp/training_1/cp.ckpt",
    "keras_seed_mlp/checkpoints/my_checkpoint",
};

float ScalarFloat(const BundleReader& reader, absl::string_view key) {
  auto t = reader.Read(key);
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return -1;
  EXPECT_EQ(t->dtype(), tensorflow::DT_FLOAT);
  EXPECT_EQ(t->num_elements(), 1);
  return t->data<float>()[0];
}

TEST(BundleReaderTest, ReadsEveryTensorOfEveryCompleteBundle) {
  SS_REQUIRE_FIXTURE(root, "");
  for (const std::string& rel : kCompleteBundles) {
    SCOPED_TRACE(rel);
    auto reader = BundleReader::Open(Fixture(rel));
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->header().num_shards(), 1);
    ASSERT_FALSE((*reader)->entries().empty());
    for (const BundleEntry& entry : (*reader)->entries()) {
      auto t = (*reader)->Read(entry);
      ASSERT_TRUE(t.ok()) << entry.key << ": " << t.status();
      EXPECT_EQ(t->dtype(), entry.dtype);
      EXPECT_EQ(t->shape(), entry.shape);
    }
  }
}

TEST(BundleReaderTest, HalfPlusTwoTf1SnappyIndex) {
  SS_REQUIRE_FIXTURE(
      prefix, "tf_serving/saved_model_half_plus_two_cpu/00000123/variables/variables");
  auto reader = BundleReader::Open(prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_FLOAT_EQ(ScalarFloat(**reader, "a"), 0.5f);
  EXPECT_FLOAT_EQ(ScalarFloat(**reader, "b"), 2.0f);
  EXPECT_FLOAT_EQ(ScalarFloat(**reader, "c"), 3.0f);
}

TEST(BundleReaderTest, HalfPlusThree) {
  SS_REQUIRE_FIXTURE(
      prefix, "tf_serving/saved_model_half_plus_three/00000123/variables/variables");
  auto reader = BundleReader::Open(prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_FLOAT_EQ(ScalarFloat(**reader, "a"), 0.5f);
  EXPECT_FLOAT_EQ(ScalarFloat(**reader, "b"), 3.0f);
}

TEST(BundleReaderTest, SeedMlpCheckpoint) {
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  auto reader = BundleReader::Open(prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const BundleReader& r = **reader;
  struct Want {
    const char* key;
    TensorShape shape;
  };
  const Want wants[] = {
      {"layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", {784, 512}},
      {"layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE", {512}},
      {"layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE", {512, 10}},
      {"layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE", {10}},
  };
  for (const Want& w : wants) {
    SCOPED_TRACE(w.key);
    auto t = r.Read(w.key);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), tensorflow::DT_FLOAT);
    EXPECT_EQ(t->shape(), w.shape);
  }
  // The object graph is a scalar string tensor (TF's string layout + checksum).
  auto graph = r.Read(kObjectGraphKey);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->dtype(), tensorflow::DT_STRING);
  EXPECT_EQ(graph->num_elements(), 1);
  EXPECT_GT(graph->strings()[0].size(), 100u);
  EXPECT_EQ(r.entries().size(), 5u);
}

TEST(BundleReaderTest, IndexWithoutDataNamesTheMissingShard) {
  SS_REQUIRE_FIXTURE(root, "");
  for (const std::string& rel : kIndexOnlyBundles) {
    SCOPED_TRACE(rel);
    auto reader = BundleReader::Open(Fixture(rel));
    ASSERT_TRUE(reader.ok()) << reader.status();  // the index itself is fine
    ASSERT_FALSE((*reader)->entries().empty());
    const std::string shard = BundleDataFilename(Fixture(rel), 0, 1);
    EXPECT_FALSE((*reader)->ShardStatus(0).ok());
    for (const BundleEntry& entry : (*reader)->entries()) {
      auto t = (*reader)->Read(entry);
      ASSERT_FALSE(t.ok());
      EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
      EXPECT_TRUE(absl::StrContains(t.status().message(), shard)) << t.status();
      EXPECT_TRUE(absl::StrContains(t.status().message(), "missing data shard"));
    }
  }
}

TEST(BundleReaderTest, MissingIndexIsNotFound) {
  auto reader = BundleReader::Open("/nonexistent/dir/model");
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(reader.status().message(), "/nonexistent/dir/model.index"));
}

TEST(BundleReaderTest, UnknownKeyIsNotFound) {
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  auto reader = BundleReader::Open(prefix);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->Read("no/such/key").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace swapserve
