#include "model/formats/saved_model.h"

#include <filesystem>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using ::swapserve::testing::Fixture;
using ::swapserve::testing::TempDir;

// Op names used anywhere: the graph and every library function.
std::set<std::string> OpsOf(const tensorflow::MetaGraphDef& mg) {
  std::set<std::string> ops;
  for (const auto& n : mg.graph_def().node()) ops.insert(n.op());
  for (const auto& f : mg.graph_def().library().function()) {
    for (const auto& n : f.node_def()) ops.insert(n.op());
  }
  return ops;
}

// Every SavedModel under the fixtures parses, whatever new ones the fixtures gain;
// the ones the fixtures' README names must be among those found.
TEST(SavedModelTest, ParsesEverySavedModelInTheFixtures) {
  SS_REQUIRE_FIXTURE(root, "");
  std::set<std::string> found;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.path().filename() != "saved_model.pb") continue;
    const std::string dir = e.path().parent_path().string();
    SCOPED_TRACE(dir);
    auto info = ReadSavedModel(dir);
    ASSERT_TRUE(info.ok()) << info.status();
    const auto& sigs = info->meta_graph.signature_def();
    // The counter model's signatures are named for its ops (incr_counter, ...).
    const bool counter = absl::StrContains(dir, "saved_model_counter");
    ASSERT_EQ(sigs.contains("serving_default"), !counter);
    for (const auto& [name, sig] : sigs) {
      if (name == "__saved_model_init_op") continue;
      EXPECT_FALSE(sig.method_name().empty()) << name;
      EXPECT_FALSE(sig.outputs().empty()) << name;
    }
    EXPECT_GT(info->meta_graph.graph_def().node_size(), 0);
    found.insert(std::filesystem::relative(dir, root).string());
  }
  for (const char* named : {"tf_serving/saved_model_half_plus_two_cpu/00000123",
                            "tf_serving/saved_model_half_plus_two_tf2_cpu/00000123",
                            "tf_serving/saved_model_half_plus_two_2_versions/00000123",
                            "tf_serving/saved_model_half_plus_two_2_versions/00000124",
                            "tf_serving/saved_model_half_plus_three/00000123",
                            "tf_serving/saved_model_counter/00000123", "keras_seed_mlp/saved_model",
                            "keras_saved_model/sonar", "golf_ckptmgr/saved_model"}) {
    EXPECT_EQ(found.count(named), 1u) << named << " was not found under " << root;
  }
}

TEST(SavedModelTest, HalfPlusTwoTf1) {
  SS_REQUIRE_FIXTURE(dir, "tf_serving/saved_model_half_plus_two_cpu/00000123");
  auto info = ReadSavedModel(dir);
  ASSERT_TRUE(info.ok()) << info.status();
  const auto& sigs = info->meta_graph.signature_def();
  for (const char* name : {"serving_default", "classify_x_to_y", "regress_x_to_y",
                           "regress_x_to_y2", "regress_x2_to_y3"}) {
    EXPECT_TRUE(sigs.contains(name)) << name;
  }
  EXPECT_EQ(sigs.at("classify_x_to_y").method_name(), "tensorflow/serving/classify");
  EXPECT_EQ(sigs.at("regress_x_to_y").method_name(), "tensorflow/serving/regress");
  const auto& x = sigs.at("serving_default").inputs().at("x");
  EXPECT_EQ(x.name(), "x:0");
  EXPECT_EQ(x.dtype(), tensorflow::DT_FLOAT);
  ASSERT_EQ(x.tensor_shape().dim_size(), 2);
  EXPECT_EQ(x.tensor_shape().dim(0).size(), -1);
  EXPECT_EQ(x.tensor_shape().dim(1).size(), 1);
  EXPECT_EQ(sigs.at("serving_default").outputs().at("y").name(), "y:0");
  const auto ops = OpsOf(info->meta_graph);
  for (const char* op : {"Placeholder", "VariableV2", "Mul", "Add", "ParseExample",
                         "RestoreV2"}) {
    EXPECT_TRUE(ops.contains(op)) << op;
  }
  EXPECT_FALSE(info->meta_graph.saver_def().restore_op_name().empty());
  EXPECT_TRUE(info->has_variables);
  EXPECT_EQ(info->variables_prefix, dir + "/variables/variables");
  ASSERT_EQ(info->asset_paths.size(), 1u);
  EXPECT_EQ(info->asset_paths[0], dir + "/assets/foo.txt");
  EXPECT_FALSE(info->keras_metadata.has_value());
}

TEST(SavedModelTest, HalfPlusTwoTf2FunctionLibrary) {
  SS_REQUIRE_FIXTURE(dir, "tf_serving/saved_model_half_plus_two_tf2_cpu/00000123");
  auto info = ReadSavedModel(dir);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_GT(info->meta_graph.graph_def().library().function_size(), 0);
  const auto ops = OpsOf(info->meta_graph);
  for (const char* op : {"StatefulPartitionedCall", "VarHandleOp", "ReadVariableOp",
                         "RestoreV2", "AssignVariableOp"}) {
    EXPECT_TRUE(ops.contains(op)) << op;
  }
  EXPECT_TRUE(info->meta_graph.has_object_graph_def());
  EXPECT_GT(info->meta_graph.object_graph_def().nodes_size(), 0);
}

TEST(SavedModelTest, KerasSeedMlpHasNoVariablesButKerasMetadata) {
  SS_REQUIRE_FIXTURE(dir, "keras_seed_mlp/saved_model");
  auto info = ReadSavedModel(dir);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->has_variables);
  ASSERT_TRUE(info->keras_metadata.has_value());
  ASSERT_GT(info->keras_metadata->nodes_size(), 0);
  EXPECT_TRUE(absl::StrContains(info->keras_metadata->nodes(0).metadata(), "Sequential"));
  const auto ops = OpsOf(info->meta_graph);
  for (const char* op : {"MatMul", "BiasAdd", "Relu", "VarHandleOp"}) {
    EXPECT_TRUE(ops.contains(op)) << op;
  }
}

TEST(SavedModelTest, SonarHasVariablesAndMetadata) {
  SS_REQUIRE_FIXTURE(dir, "keras_saved_model/sonar");
  auto info = ReadSavedModel(dir);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->has_variables);
  EXPECT_TRUE(info->keras_metadata.has_value());
  EXPECT_TRUE(OpsOf(info->meta_graph).contains("Sigmoid"));
}

TEST(SavedModelTest, BadDirectoriesAreClearErrors) {
  TempDir dir;
  auto missing = ReadSavedModel(dir.path());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  swapserve::testing::WriteFileOrDie(dir.Join("saved_model.pb"), "\xff\xff\xff garbage");
  auto garbage = ReadSavedModel(dir.path());
  ASSERT_FALSE(garbage.ok());
  EXPECT_TRUE(absl::StrContains(garbage.status().message(), "saved_model.pb"));
  // A valid but empty SavedModel has no "serve" graph.
  swapserve::testing::WriteFileOrDie(dir.Join("saved_model.pb"), "");
  auto empty = ReadSavedModel(dir.path());
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(absl::StrContains(empty.status().message(), "serve")) << empty.status();
}

TEST(SavedModelTest, TruncatedSavedModelNeverCrashes) {
  SS_REQUIRE_FIXTURE(src, "tf_serving/saved_model_half_plus_two_cpu/00000123/saved_model.pb");
  const std::string bytes = swapserve::testing::ReadFileOrDie(src);
  TempDir dir;
  for (size_t n = 0; n < bytes.size(); n += 97) {
    swapserve::testing::WriteFileOrDie(dir.Join("saved_model.pb"), bytes.substr(0, n));
    EXPECT_FALSE(ReadSavedModel(dir.path()).ok()) << n;
  }
}

}  // namespace
}  // namespace swapserve
