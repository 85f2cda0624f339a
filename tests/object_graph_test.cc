#include "model/formats/object_graph.h"

#include <map>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "model/formats/bundle_writer.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

TEST(ObjectGraphTest, DecodesSeedMlpCheckpoint) {
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  auto reader = BundleReader::Open(prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto graph = ReadObjectGraph(**reader);
  ASSERT_TRUE(graph.ok()) << graph.status();
  ASSERT_GT(graph->nodes_size(), 4);
  // The root (the Sequential model) has the two Dense layers as children.
  std::map<std::string, int> root_children;
  for (const auto& c : graph->nodes(0).children()) root_children[c.local_name()] = c.node_id();
  EXPECT_TRUE(root_children.contains("layer_with_weights-0"));
  EXPECT_TRUE(root_children.contains("layer_with_weights-1"));

  // Every variable attribute names a key that is in the bundle.
  std::map<std::string, std::string> by_path;
  for (const TrackedTensor& t : ListTrackedTensors(*graph)) {
    EXPECT_EQ(t.attribute, "VARIABLE_VALUE");
    EXPECT_NE((*reader)->Find(t.checkpoint_key), nullptr) << t.checkpoint_key;
    by_path[t.path] = t.checkpoint_key;
  }
  EXPECT_EQ(by_path["layer_with_weights-0/kernel"],
            "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(by_path["layer_with_weights-1/bias"],
            "layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(by_path.size(), 4u);
}

TEST(ObjectGraphTest, DecodesSonarWithOptimizerSlots) {
  SS_REQUIRE_FIXTURE(prefix, "keras_saved_model/sonar/variables/variables");
  auto reader = BundleReader::Open(prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto graph = ReadObjectGraph(**reader);
  ASSERT_TRUE(graph.ok()) << graph.status();
  int slots = 0;
  for (const auto& node : graph->nodes()) slots += node.slot_variables_size();
  EXPECT_GT(slots, 0);  // Adam's m and v for each weight
  for (const TrackedTensor& t : ListTrackedTensors(*graph)) {
    EXPECT_NE((*reader)->Find(t.checkpoint_key), nullptr) << t.checkpoint_key;
  }
}

TEST(ObjectGraphTest, NameBasedCheckpointHasNone) {
  SS_REQUIRE_FIXTURE(
      prefix, "tf_serving/saved_model_half_plus_two_cpu/00000123/variables/variables");
  auto reader = BundleReader::Open(prefix);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(ReadObjectGraph(**reader).status().code(), absl::StatusCode::kNotFound);
}

TEST(ObjectGraphTest, RejectsGarbageAndDanglingReferences) {
  swapserve::testing::TempDir dir;
  auto write = [&](const std::string& payload) {
    auto t = Tensor::Allocate(tensorflow::DT_STRING, TensorShape{});
    t->strings()[0] = payload;
    BundleWriter writer(dir.Join("x"));
    EXPECT_TRUE(writer.Add("_CHECKPOINTABLE_OBJECT_GRAPH", *t).ok());
    EXPECT_TRUE(writer.Finish().ok());
    return BundleReader::Open(dir.Join("x"));
  };
  auto garbage = write("\xff\xff\xff\xff");
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(ReadObjectGraph(**garbage).status().code(), absl::StatusCode::kDataLoss);

  tensorflow::TrackableObjectGraph g;
  auto* child = g.add_nodes()->add_children();
  child->set_node_id(7);
  child->set_local_name("dangling");
  auto dangling = write(g.SerializeAsString());
  ASSERT_TRUE(dangling.ok());
  auto s = ReadObjectGraph(**dangling).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(s.message(), "dangling")) << s;
}

}  // namespace
}  // namespace swapserve
