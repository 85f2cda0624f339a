// Keras configs to Plans: layer semantics checked against hand-computed values,
// checkpoint-key numbering, and malformed configs as errors.
#include "model/graph/keras_plan.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/kernel_test_util.h"

namespace swapserve {
namespace {

using json = nlohmann::json;
using ::swapserve::testing::ExpectFloats;
using ::swapserve::testing::Floats;

json Layer(const std::string& cls, json config) { return {{"class_name", cls}, {"config", config}}; }

absl::StatusOr<KerasPlan> Build(const json& layers, const KerasH5File& file) {
  auto config = ParseKerasModelConfig(
      {{"class_name", "Sequential"}, {"config", {{"name", "m"}, {"layers", layers}}}});
  if (!config.ok()) return config.status();
  return BuildKerasPlan(*config, file);
}

KerasH5File DenseWeights() {
  KerasH5File f;
  f.path = "test.h5";
  // dense: kernel [[1,2],[3,4]], bias [1,-100]; dense_1 (no weights: Dropout)
  f.layers.push_back({"dense", {{"dense/kernel:0", Floats({2, 2}, {1, 2, 3, 4})},
                                {"dense/bias:0", Floats({2}, {1, -100})}}});
  return f;
}

TEST(KerasPlanTest, DenseReluDropoutSoftmax) {
  const json layers = {
      Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2}}}),
      Layer("Dense", {{"name", "dense"}, {"units", 2}, {"activation", "relu"}}),
      Layer("Dropout", {{"name", "drop"}, {"rate", 0.5}}),
      Layer("Softmax", {{"name", "soft"}})};
  auto model = Build(layers, DenseWeights());
  ASSERT_TRUE(model.ok()) << model.status();
  // x = [1, 1]: x K = [4, 6]; + b = [5, -94]; relu = [5, 0];
  // softmax = [e^5, 1] / (e^5 + 1) = [0.9933071, 0.0066929]
  auto out = model->plan->Run(*model->weights, {Floats({1, 2}, {1, 1})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 2}, {0.9933071f, 0.0066929f});
  // Dense with bias and relu is one fused step (_FusedMatMul); then Softmax.
  EXPECT_EQ(model->plan->num_steps(), 2);
  EXPECT_EQ(model->plan->inputs()[0].alias, "in");
  EXPECT_EQ(model->plan->outputs()[0].alias, "soft");
  EXPECT_EQ(model->slots[1].checkpoint_key, "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE");
}

TEST(KerasPlanTest, ActivationsByName) {
  struct Case {
    const char* name;
    float at_minus_one, at_two;  // f(-1), f(2) from the definitions
  };
  for (const Case& c : {Case{"sigmoid", 0.2689414f, 0.8807971f}, Case{"tanh", -0.7615942f, 0.9640276f},
                        Case{"elu", -0.6321206f, 2.0f}, Case{"softplus", 0.3132617f, 2.1269280f},
                        Case{"swish", -0.2689414f, 1.7615942f}, Case{"hard_sigmoid", 0.3f, 0.9f},
                        Case{"gelu", -0.1586553f, 1.9544997f}, Case{"exponential", 0.3678794f, 7.3890561f},
                        Case{"softsign", -0.5f, 0.6666667f}, Case{"linear", -1.0f, 2.0f}}) {
    SCOPED_TRACE(c.name);
    const json layers = {Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2}}}),
                         Layer("Activation", {{"name", "act"}, {"activation", c.name}})};
    auto model = Build(layers, KerasH5File{});
    ASSERT_TRUE(model.ok()) << model.status();
    auto out = model->plan->Run(*model->weights, {Floats({1, 2}, {-1, 2})});
    ASSERT_TRUE(out.ok()) << out.status();
    ExpectFloats((*out)[0], {1, 2}, {c.at_minus_one, c.at_two});
  }
}

TEST(KerasPlanTest, UnsupportedLayerAndActivationAreErrorsNamingThem) {
  const json lstm = {Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2}}}),
                     Layer("LSTM", {{"name", "lstm"}, {"units", 2}})};
  auto a = Build(lstm, KerasH5File{});
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(absl::StrContains(a.status().message(), "LSTM layer 'lstm'")) << a.status();
  const json act = {Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2}}}),
                    Layer("Activation", {{"name", "act"}, {"activation", "mish"}})};
  auto b = Build(act, KerasH5File{});
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::StrContains(b.status().message(), "'mish'")) << b.status();
}

TEST(KerasPlanTest, MalformedLayerConfigIsAnErrorNotAnException) {
  const json layers = {
      Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2}}}),
      Layer("Dense", {{"name", "dense"}, {"units", 2}, {"use_bias", "yes"}})};
  auto model = Build(layers, DenseWeights());
  ASSERT_FALSE(model.ok());
  EXPECT_TRUE(absl::StrContains(model.status().message(), "malformed")) << model.status();
}

TEST(KerasPlanTest, MissingWeightsNameTheLayer) {
  const json layers = {
      Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2}}}),
      Layer("Dense", {{"name", "other"}, {"units", 2}})};
  auto model = Build(layers, DenseWeights());
  ASSERT_FALSE(model.ok());
  EXPECT_TRUE(absl::StrContains(model.status().message(), "Dense layer 'other'")) << model.status();
}

}  // namespace
}  // namespace swapserve
