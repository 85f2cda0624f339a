// The engine end to end on real TF-written models: every SavedModel case in
// ../shared/fixtures/expected is reproduced within its atol, through the library.
#include "model/loaded_model.h"

#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tensorflow/core/example/example.pb.h"
#include "tests/kernel_test_util.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using json = nlohmann::json;
using ::swapserve::testing::Fixture;

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

Tensor FloatTensorFromJson(const json& j) {
  std::vector<int64_t> dims = j["shape"].get<std::vector<int64_t>>();
  auto shape = TensorShape::Make(dims);
  EXPECT_TRUE(shape.ok());
  return swapserve::testing::Floats(*shape, j["values"].get<std::vector<float>>());
}

// Loads the case's model and checks every output against the expected values.
void CheckExpected(const std::string& name) {
  SS_REQUIRE_FIXTURE(path, "expected/" + name);
  const json c = ReadJson(path);
  LoadOptions options;
  if (c.contains("checkpoint")) options.checkpoint = Fixture(c["checkpoint"].get<std::string>());
  auto model = LoadModel(Fixture(c["model_dir"].get<std::string>()), options);
  ASSERT_TRUE(model.ok()) << model.status();
  auto plan = (*model)->FindPlan(c.value("signature", ""));
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<Tensor> inputs;
  for (const PlanTensor& in : (*plan)->inputs()) {
    ASSERT_TRUE(c["inputs"].contains(in.alias)) << in.alias;
    inputs.push_back(FloatTensorFromJson(c["inputs"][in.alias]));
  }
  auto outputs = (*plan)->Run(*(*model)->weights, inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  const float atol = c["atol"].get<float>();
  for (size_t i = 0; i < outputs->size(); ++i) {
    const std::string& alias = (*plan)->outputs()[i].alias;
    ASSERT_TRUE(c["outputs"].contains(alias)) << alias;
    const Tensor want = FloatTensorFromJson(c["outputs"][alias]);
    SCOPED_TRACE(alias);
    swapserve::testing::ExpectFloats((*outputs)[i], want.shape(),
                                     swapserve::testing::Values<float>(want), atol);
  }
}

TEST(LoadedModelTest, HalfPlusTwoTf1) { CheckExpected("saved_model_half_plus_two_cpu.json"); }
TEST(LoadedModelTest, HalfPlusTwoTf2) { CheckExpected("saved_model_half_plus_two_tf2_cpu.json"); }
TEST(LoadedModelTest, HalfPlusThree) { CheckExpected("saved_model_half_plus_three.json"); }
TEST(LoadedModelTest, KerasSonar) { CheckExpected("keras_saved_model_sonar.json"); }
TEST(LoadedModelTest, SeedMlpWithCheckpoint) { CheckExpected("keras_seed_mlp.json"); }

TEST(LoadedModelTest, SlotsComeFromTheRestorePathNotNames) {
  SS_REQUIRE_FIXTURE(dir, "keras_seed_mlp/saved_model");
  LoadOptions options;
  options.checkpoint = Fixture("keras_seed_mlp/training_2/cp-0000.ckpt");
  auto model = LoadModel(dir, options);
  ASSERT_TRUE(model.ok()) << model.status();
  // Only the four layer variables are served; optimizer slots and metrics that the
  // restore function also restores are not needed by any signature.
  ASSERT_EQ((*model)->slots.size(), 4u);
  for (const SlotSpec& s : (*model)->slots) {
    EXPECT_TRUE(absl::StartsWith(s.checkpoint_key, "layer_with_weights-")) << s.checkpoint_key;
    EXPECT_TRUE(absl::EndsWith(s.checkpoint_key, "/.ATTRIBUTES/VARIABLE_VALUE"));
  }
}

TEST(LoadedModelTest, RunAllocatesOnlyActivationsNeverWeights) {
  SS_REQUIRE_FIXTURE(dir, "keras_seed_mlp/saved_model");
  LoadOptions options;
  options.checkpoint = Fixture("keras_seed_mlp/training_2/cp-0000.ckpt");
  auto model = LoadModel(dir, options);
  ASSERT_TRUE(model.ok()) << model.status();
  auto plan = (*model)->FindPlan("");
  ASSERT_TRUE(plan.ok());
  uint64_t weight_bytes = 0;
  for (int i = 0; i < (*model)->weights->size(); ++i) {
    weight_bytes += (*model)->weights->slot(i).num_bytes();
  }
  const Tensor input = swapserve::testing::Floats({1, 784}, std::vector<float>(784, 0.5f));
  const uint64_t before = Tensor::ThreadAllocatedBytes();
  auto out = (*plan)->Run(*(*model)->weights, {input});
  ASSERT_TRUE(out.ok()) << out.status();
  const uint64_t per_request = Tensor::ThreadAllocatedBytes() - before;
  // Batch 1: the 512-wide hidden layer twice (MatMul, BiasAdd+Relu) and the 10
  // logits — a few KB against 1.6 MB of weights.
  EXPECT_LT(per_request, 16u * 1024) << per_request;
  EXPECT_GT(weight_bytes, 1'600'000u);
}

TEST(LoadedModelTest, SeedExportWithoutWeightsNeedsACheckpoint) {
  SS_REQUIRE_FIXTURE(dir, "keras_seed_mlp/saved_model");
  auto model = LoadModel(dir, LoadOptions{});
  ASSERT_FALSE(model.ok());
  EXPECT_TRUE(absl::StrContains(model.status().message(), "no variables/")) << model.status();
}

TEST(LoadedModelTest, CheckpointWithoutDataNamesTheShard) {
  SS_REQUIRE_FIXTURE(dir, "keras_seed_mlp/saved_model");
  LoadOptions options;
  options.checkpoint = Fixture("keras_seed_mlp/training_2/cp-0005.ckpt");
  auto model = LoadModel(dir, options);
  ASSERT_FALSE(model.ok());
  EXPECT_TRUE(absl::StrContains(model.status().message(), "cp-0005.ckpt.data-00000-of-00001"))
      << model.status();
}

TEST(LoadedModelTest, WrongDtypeAndIncompatibleShapeAreClearErrors) {
  SS_REQUIRE_FIXTURE(dir, "keras_saved_model/sonar");
  auto model = LoadModel(dir, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  auto plan = (*model)->FindPlan("");
  ASSERT_TRUE(plan.ok());
  auto bad_dtype = (*plan)->Run(*(*model)->weights,
                                {swapserve::testing::Ints32({1, 3}, {1, 2, 3})});
  ASSERT_FALSE(bad_dtype.ok());
  EXPECT_TRUE(absl::StrContains(bad_dtype.status().message(),
                                "input 'dense_input' expects DT_FLOAT, got DT_INT32[1,3]"))
      << bad_dtype.status();
  // 3 features where the first Dense layer needs 60.
  auto bad_shape = (*plan)->Run(*(*model)->weights,
                                {swapserve::testing::Floats({1, 3}, {1, 2, 3})});
  ASSERT_FALSE(bad_shape.ok());
  EXPECT_EQ(bad_shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad_shape.status().message(), "MatMul")) << bad_shape.status();
  EXPECT_TRUE(absl::StrContains(bad_shape.status().message(), "[1,3]")) << bad_shape.status();
  EXPECT_FALSE((*model)->FindPlan("nope").ok());
}

TEST(LoadedModelTest, UnsupportedOpMakesItsSignatureUnavailable) {
  // The counter model's incr/reset signatures mutate a variable (AssignAdd,
  // Assign); get_counter only reads it.
  SS_REQUIRE_FIXTURE(dir, "tf_serving/saved_model_counter/00000123");
  auto model = LoadModel(dir, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->plans.contains("get_counter"));
  ASSERT_TRUE((*model)->unavailable.contains("incr_counter"));
  const absl::Status& why = (*model)->unavailable.at("incr_counter");
  EXPECT_EQ(why.code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(absl::StrContains(why.message(), "unsupported op 'AssignAdd'")) << why;
  EXPECT_TRUE(absl::StrContains(why.message(), "signature 'incr_counter'")) << why;
  auto plan = (*model)->FindPlan("incr_counter");
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace swapserve

namespace swapserve {
namespace {

TEST(LoadedModelTest, KerasH5BankChurn) {
  SS_REQUIRE_FIXTURE(path, "expected/keras_h5_bank_churn.json");
  std::ifstream in(path);
  const json c = json::parse(in);
  auto model = LoadModel(Fixture(c["model_file"].get<std::string>()), LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  auto plan = (*model)->FindPlan("");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ((*plan)->inputs().size(), 1u);
  EXPECT_EQ((*plan)->inputs()[0].alias, "dense_input");
  auto outputs = (*plan)->Run(*(*model)->weights,
                              {FloatTensorFromJson(c["inputs"]["dense_input"])});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  const json& outputs_json = c["outputs"];
  ASSERT_EQ(outputs_json.size(), 1u);
  EXPECT_EQ((*plan)->outputs()[0].alias, outputs_json.begin().key());
  const Tensor want = FloatTensorFromJson(outputs_json.begin().value());
  swapserve::testing::ExpectFloats((*outputs)[0], want.shape(),
                                   swapserve::testing::Values<float>(want),
                                   c["atol"].get<float>());
  // Slots carry the keys a Keras ModelCheckpoint of the same model writes.
  ASSERT_EQ((*model)->slots.size(), 6u);
  EXPECT_EQ((*model)->slots[0].checkpoint_key,
            "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ((*model)->slots[5].checkpoint_key,
            "layer_with_weights-2/bias/.ATTRIBUTES/VARIABLE_VALUE");
}

}  // namespace
}  // namespace swapserve

namespace swapserve {
namespace {

// Serialized tf.Examples with one float feature per entry of `values`.
Tensor Examples(const std::string& key, const std::vector<float>& values) {
  auto t = Tensor::Allocate(tensorflow::DT_STRING,
                            TensorShape{static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) {
    tensorflow::Example e;
    (*e.mutable_features()->mutable_feature())[key].mutable_float_list()->add_value(values[i]);
    t->strings()[i] = e.SerializeAsString();
  }
  return *t;
}

TEST(LoadedModelTest, Tf1ClassifyAndRegressSignaturesParseExamples) {
  SS_REQUIRE_FIXTURE(dir, "tf_serving/saved_model_half_plus_two_cpu/00000123");
  auto model = LoadModel(dir, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  for (const char* name : {"classify_x_to_y", "regress_x_to_y"}) {
    SCOPED_TRACE(name);
    auto plan = (*model)->FindPlan(name);
    ASSERT_TRUE(plan.ok()) << plan.status();
    auto out = (*plan)->Run(*(*model)->weights, {Examples("x", {1, 2, 5})});
    ASSERT_TRUE(out.ok()) << out.status();
    // y = 0.5 x + 2, one score/output per example: [2.5, 3, 4.5]
    const std::vector<float> got = swapserve::testing::Values<float>((*out)[0]);
    EXPECT_EQ(got, (std::vector<float>{2.5f, 3.0f, 4.5f}));
  }
  // A missing feature without a default, and bytes that are not an Example.
  auto plan = (*model)->FindPlan("regress_x_to_y2");
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto missing = (*plan)->Run(*(*model)->weights, {Examples("other", {1})});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "feature 'x'")) << missing.status();
  auto garbage = Tensor::Allocate(tensorflow::DT_STRING, TensorShape{1});
  garbage->strings()[0] = "\xff\xff not a proto";
  auto bad = (*plan)->Run(*(*model)->weights, {*garbage});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "not a tf.Example")) << bad.status();
}

}  // namespace
}  // namespace swapserve
