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

namespace swapserve {
namespace {

// Runs a one-input Sequential model on `x`.
absl::StatusOr<std::vector<Tensor>> RunSequential(const json& layers, const KerasH5File& file,
                                                  const Tensor& x) {
  auto model = Build(layers, file);
  if (!model.ok()) return model.status();
  return model->plan->Run(*model->weights, {x});
}

TEST(KerasLayerTest, Conv2DMaxPoolFlatten) {
  // 3×3×1 input 1..9; one 2×2 filter [[1,0],[0,1]] (sum of a diagonal) + bias 1:
  // VALID → [[1+5, 2+6], [4+8, 5+9]] + 1 = [[7, 9], [13, 15]]; max pool 2 → 15.
  KerasH5File f;
  f.layers.push_back({"conv", {{"conv/kernel:0", Floats({2, 2, 1, 1}, {1, 0, 0, 1})},
                               {"conv/bias:0", Floats({1}, {1})}}});
  const json layers = {
      Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 3, 3, 1}}}),
      Layer("Conv2D", {{"name", "conv"}, {"filters", 1}, {"kernel_size", {2, 2}},
                       {"strides", {1, 1}}, {"padding", "valid"}, {"activation", "linear"},
                       {"use_bias", true}}),
      Layer("Flatten", {{"name", "flat"}})};
  auto out = RunSequential(layers, f, Floats({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 4}, {7, 9, 13, 15});

  json pooled = layers;
  pooled.insert(pooled.begin() + 2,
                Layer("MaxPooling2D", {{"name", "pool"}, {"pool_size", {2, 2}}, {"strides", {2, 2}},
                                       {"padding", "valid"}}));
  out = RunSequential(pooled, f, Floats({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 1}, {15});
}

TEST(KerasLayerTest, AveragePoolingAndGlobalAveragePooling) {
  const Tensor x = Floats({1, 2, 2, 2}, {1, 10, 2, 20, 3, 30, 4, 40});  // two channels
  const json avg = {
      Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2, 2, 2}}}),
      Layer("AveragePooling2D", {{"name", "avg"}, {"pool_size", {2, 2}}, {"strides", {2, 2}},
                                 {"padding", "valid"}})};
  auto out = RunSequential(avg, KerasH5File{}, x);
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 1, 1, 2}, {2.5, 25});
  const json global = {
      Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2, 2, 2}}}),
      Layer("GlobalAveragePooling2D", {{"name", "gap"}})};
  out = RunSequential(global, KerasH5File{}, x);
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 2}, {2.5, 25});
}

TEST(KerasLayerTest, BatchNormalizationUsesMovingStatistics) {
  // y = (x - mean) / sqrt(var + 0.001) * gamma + beta, per channel.
  KerasH5File f;
  f.layers.push_back({"bn", {{"bn/gamma:0", Floats({2}, {2, 1})},
                             {"bn/beta:0", Floats({2}, {1, 0})},
                             {"bn/moving_mean:0", Floats({2}, {1, -1})},
                             {"bn/moving_variance:0", Floats({2}, {3.999f, 0.249f})}}});
  const json layers = {
      Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2}}}),
      Layer("BatchNormalization", {{"name", "bn"}, {"axis", -1}, {"epsilon", 0.001},
                                   {"center", true}, {"scale", true}})};
  auto out = RunSequential(layers, f, Floats({1, 2}, {5, 0}));
  ASSERT_TRUE(out.ok()) << out.status();
  // (5-1)/2*2+1 = 5; (0+1)/0.5*1+0 = 2
  ExpectFloats((*out)[0], {1, 2}, {5, 2});
}

TEST(KerasLayerTest, ReluLeakyReluReshape) {
  const json layers = {
      Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 4}}}),
      Layer("LeakyReLU", {{"name", "leaky"}, {"alpha", 0.3}}),
      Layer("Reshape", {{"name", "r"}, {"target_shape", {2, 2}}})};
  auto out = RunSequential(layers, KerasH5File{}, Floats({1, 4}, {-1, 2, -10, 0}));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 2, 2}, {-0.3f, 2, -3, 0});
  const json relu = {Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 3}}}),
                     Layer("ReLU", {{"name", "relu"}})};
  out = RunSequential(relu, KerasH5File{}, Floats({1, 3}, {-1, 0.5f, 3}));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 3}, {0, 0.5f, 3});
}

TEST(KerasLayerTest, EmbeddingLooksUpRows) {
  KerasH5File f;
  f.layers.push_back({"emb", {{"emb/embeddings:0", Floats({3, 2}, {0, 1, 10, 11, 20, 21})}}});
  const json layers = {
      Layer("InputLayer", {{"name", "in"}, {"batch_input_shape", {nullptr, 2}}, {"dtype", "float32"}}),
      Layer("Embedding", {{"name", "emb"}, {"input_dim", 3}, {"output_dim", 2}})};
  auto out = RunSequential(layers, f, Floats({1, 2}, {2, 0}));
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 2, 2}, {20, 21, 0, 1});
}

TEST(KerasLayerTest, FunctionalAddAndConcatenate) {
  // in → a = in·2 (Dense, kernel 2I), b = in + 1 (Dense, kernel I, bias 1);
  // add = a + b; cat = [add, a].
  KerasH5File f;
  f.layers.push_back({"a", {{"a/kernel:0", Floats({2, 2}, {2, 0, 0, 2})}, {"a/bias:0", Floats({2}, {0, 0})}}});
  f.layers.push_back({"b", {{"b/kernel:0", Floats({2, 2}, {1, 0, 0, 1})}, {"b/bias:0", Floats({2}, {1, 1})}}});
  auto node = [](const std::string& cls, const std::string& name, json config,
                 std::vector<std::string> inputs) {
    config["name"] = name;
    json inbound = json::array();
    for (const auto& in : inputs) inbound.push_back({in, 0, 0, json::object()});
    return json{{"class_name", cls}, {"name", name}, {"config", config},
                {"inbound_nodes", inputs.empty() ? json::array() : json::array({inbound})}};
  };
  const json model = {
      {"class_name", "Functional"},
      {"config",
       {{"name", "m"},
        {"layers",
         {node("InputLayer", "in", {{"batch_input_shape", {nullptr, 2}}}, {}),
          node("Dense", "a", {{"units", 2}}, {"in"}), node("Dense", "b", {{"units", 2}}, {"in"}),
          node("Add", "add", json::object(), {"a", "b"}),
          node("Concatenate", "cat", {{"axis", -1}}, {"add", "a"})}},
        {"input_layers", {{"in", 0, 0}}},
        {"output_layers", {{"cat", 0, 0}}}}}};
  auto config = ParseKerasModelConfig(model);
  ASSERT_TRUE(config.ok()) << config.status();
  auto plan = BuildKerasPlan(*config, f);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto out = plan->plan->Run(*plan->weights, {Floats({1, 2}, {1, 3})});
  ASSERT_TRUE(out.ok()) << out.status();
  // a = [2, 6], b = [2, 4], add = [4, 10], cat = [4, 10, 2, 6]
  ExpectFloats((*out)[0], {1, 4}, {4, 10, 2, 6});
  EXPECT_EQ(plan->slots[2].checkpoint_key, "layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE");
}

}  // namespace
}  // namespace swapserve
