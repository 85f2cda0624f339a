// Keras model configs: parsing both Sequential styles and both Functional node
// forms, per-layer shape inference checked against shapes computed by hand, the
// serving signature Keras would export, and malformed configs as clear errors.
#include "model/formats/keras_config.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "model/formats/keras_h5.h"
#include "model/formats/keras_json.h"
#include "model/formats/keras_layer_shapes.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using json = nlohmann::json;
using ::swapserve::testing::ReadFileOrDie;

KerasShape S(std::vector<int64_t> dims) { return dims; }

json Parse(absl::string_view text) {
  auto parsed = ParseKerasJson(text, "test config");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : json();
}

absl::StatusOr<KerasSignature> SignatureOf(absl::string_view text) {
  auto config = ParseKerasModelConfig(Parse(text));
  if (!config.ok()) return config.status();
  return SynthesizeServingSignature(*config);
}

absl::StatusOr<KerasShape> Infer(absl::string_view class_name,
                                 absl::string_view config,
                                 std::vector<KerasShape> inputs) {
  return InferKerasOutputShape(class_name, Parse(config), inputs);
}

KerasShape InferOk(absl::string_view class_name, absl::string_view config,
                   std::vector<KerasShape> inputs) {
  auto shape = Infer(class_name, config, std::move(inputs));
  EXPECT_TRUE(shape.ok()) << shape.status();
  return shape.ok() ? *shape : KerasShape();
}

TEST(KerasConfigTest, BankChurnSignatureMatchesExpectedAliases) {
  SS_REQUIRE_FIXTURE(path, "keras_h5/bank_churn.h5");
  SS_REQUIRE_FIXTURE(expected_path, "expected/keras_h5_bank_churn.json");
  auto file = ReadKerasH5(path);
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = ParseKerasModelConfig(*file->model_config);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->class_name, "Sequential");
  EXPECT_EQ(config->name, "sequential");
  ASSERT_EQ(config->layers.size(),
            4u);  // Keras 2.12 writes the InputLayer itself.
  EXPECT_EQ(config->layers[0].class_name, "InputLayer");
  EXPECT_EQ(config->layers[3].inbound_nodes[0].inputs[0],
            (KerasTensorRef{"dense_1", 0, 0}));
  EXPECT_EQ(config->output_layers,
            (std::vector<KerasTensorRef>{{"dense_2", 0, 0}}));

  auto signature = SynthesizeServingSignature(*config);
  ASSERT_TRUE(signature.ok()) << signature.status();
  ASSERT_EQ(signature->inputs.size(), 1u);
  ASSERT_EQ(signature->outputs.size(), 1u);
  const KerasTensorSpec& in = signature->inputs[0];
  const KerasTensorSpec& out = signature->outputs[0];
  EXPECT_EQ(in.name, "dense_input");
  EXPECT_EQ(in.dtype, tensorflow::DT_FLOAT);
  EXPECT_EQ(in.shape, S({-1, 12}));
  EXPECT_EQ(out.name, "dense_2");
  EXPECT_EQ(out.dtype, tensorflow::DT_FLOAT);
  EXPECT_EQ(out.shape, S({-1, 1}));

  // The aliases and per-example shapes of the independently computed
  // expectations.
  const json expected = json::parse(ReadFileOrDie(expected_path));
  for (const auto& [spec, side] :
       {std::pair{&in, "inputs"}, std::pair{&out, "outputs"}}) {
    ASSERT_TRUE(expected[side].contains(spec->name)) << side;
    const json& want = expected[side][spec->name];
    EXPECT_EQ(want["dtype"], DataTypeName(spec->dtype));
    auto dims = want["shape"].get<std::vector<int64_t>>();
    dims[0] = -1;  // The batch.
    EXPECT_EQ(spec->shape, KerasShape(dims)) << side;
  }
}

// Sequential without an InputLayer (Keras 2.0-2.3): the input Keras creates is
// named after the first layer and joins `layers`.
TEST(KerasConfigTest, SequentialDictStyleGetsImplicitInputLayer) {
  auto config =
      ParseKerasModelConfig(Parse(R"({"class_name": "Sequential", "config": {
      "name": "mlp", "layers": [
      {"class_name": "Flatten", "config": {"name": "flatten", "batch_input_shape": [null, 28, 28],
                                           "dtype": "float32"}},
      {"class_name": "Dense", "config": {"name": "dense", "units": 512, "activation": "relu"}},
      {"class_name": "Dropout", "config": {"name": "dropout", "rate": 0.2}},
      {"class_name": "Dense", "config": {"name": "dense_1", "units": 10}}]}})"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name, "mlp");
  ASSERT_EQ(config->layers.size(), 5u);
  EXPECT_EQ(config->layers[0].class_name, "InputLayer");
  EXPECT_EQ(config->layers[0].name, "flatten_input");
  EXPECT_EQ(config->layers[1].inbound_nodes[0].inputs[0],
            (KerasTensorRef{"flatten_input", 0, 0}));
  EXPECT_EQ(config->input_layers,
            (std::vector<KerasTensorRef>{{"flatten_input", 0, 0}}));
  auto signature = SynthesizeServingSignature(*config);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->inputs[0].name, "flatten_input");
  EXPECT_EQ(signature->inputs[0].shape, S({-1, 28, 28}));
  EXPECT_EQ(signature->outputs[0].name, "dense_1");
  EXPECT_EQ(signature->outputs[0].shape, S({-1, 10}));
}

// A Sequential model built by fit() keeps its input shape in build_input_shape.
TEST(KerasConfigTest, SequentialBuiltByFit) {
  auto signature = SignatureOf(R"({"class_name": "Sequential", "config": {
      "name": "sequential", "build_input_shape": [null, 3], "layers": [
      {"class_name": "Dense", "config": {"name": "hidden", "units": 4}},
      {"class_name": "Dense", "config": {"name": "out", "units": 2}}]}})");
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->inputs[0].name, "hidden_input");
  EXPECT_EQ(signature->inputs[0].shape, S({-1, 3}));
  EXPECT_EQ(signature->outputs[0].shape, S({-1, 2}));
}

TEST(KerasConfigTest, SequentialListStyleOfKeras21) {
  auto signature = SignatureOf(R"({"class_name": "Sequential", "config": [
      {"class_name": "Dense", "config": {"name": "dense_1", "trainable": true,
       "batch_input_shape": [null, 8], "dtype": "float32", "units": 12}},
      {"class_name": "Activation", "config": {"name": "activation_1", "activation": "relu"}},
      {"class_name": "Dense", "config": {"name": "dense_2", "units": 1}}]})");
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->inputs[0].name, "dense_1_input");
  EXPECT_EQ(signature->inputs[0].shape, S({-1, 8}));
  EXPECT_EQ(signature->outputs[0].name, "dense_2");
  EXPECT_EQ(signature->outputs[0].shape, S({-1, 1}));
}

// 28 -conv 3x3 valid-> 26 -pool 2-> 13 -conv 3x3 stride 2 same-> 7
// -conv 3x3 dilation 2 valid (extent 5)-> 3; flatten 3*3*16 = 144; dense 10.
constexpr absl::string_view kCnn = R"({"class_name": "Functional", "config": {
  "name": "cnn", "layers": [
  {"class_name": "InputLayer", "name": "image", "inbound_nodes": [],
   "config": {"batch_input_shape": [null, 28, 28, 1], "dtype": "float32", "name": "image"}},
  {"class_name": "Conv2D", "name": "conv1", "inbound_nodes": [[["image", 0, 0, {}]]],
   "config": {"name": "conv1", "filters": 32, "kernel_size": [3, 3], "strides": [1, 1],
              "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1]}},
  {"class_name": "MaxPooling2D", "name": "pool1", "inbound_nodes": [[["conv1", 0, 0, {}]]],
   "config": {"name": "pool1", "pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}},
  {"class_name": "Conv2D", "name": "conv2", "inbound_nodes": [[["pool1", 0, 0, {}]]],
   "config": {"name": "conv2", "filters": 64, "kernel_size": 3, "strides": 2, "padding": "same"}},
  {"class_name": "Conv2D", "name": "conv3", "inbound_nodes": [[["conv2", 0, 0, {}]]],
   "config": {"name": "conv3", "filters": 16, "kernel_size": [3, 3], "dilation_rate": [2, 2]}},
  {"class_name": "Flatten", "name": "flatten", "inbound_nodes": [[["conv3", 0, 0, {}]]],
   "config": {"name": "flatten"}},
  {"class_name": "Dense", "name": "logits", "inbound_nodes": [[["flatten", 0, 0, {}]]],
   "config": {"name": "logits", "units": 10, "dtype": "float32"}}],
  "input_layers": [["image", 0, 0]],
  "output_layers": [["logits", 0, 0], ["flatten", 0, 0]]}})";

TEST(KerasConfigTest, FunctionalCnnShapesComputedByHand) {
  auto config = ParseKerasModelConfig(Parse(kCnn));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->class_name, "Functional");
  EXPECT_EQ(config->name, "cnn");
  ASSERT_EQ(config->layers.size(), 7u);
  EXPECT_TRUE(config->layers[0].inbound_nodes.empty());
  const json& conv2 = config->FindLayer("conv2")->config;
  EXPECT_EQ(InferOk("Conv2D", config->FindLayer("conv1")->config.dump(),
                    {S({-1, 28, 28, 1})}),
            S({-1, 26, 26, 32}));
  EXPECT_EQ(InferOk("Conv2D", conv2.dump(), {S({-1, 13, 13, 32})}),
            S({-1, 7, 7, 64}));

  auto signature = SynthesizeServingSignature(*config);
  ASSERT_TRUE(signature.ok()) << signature.status();
  ASSERT_EQ(signature->inputs.size(), 1u);
  EXPECT_EQ(signature->inputs[0].name, "image");
  EXPECT_EQ(signature->inputs[0].shape, S({-1, 28, 28, 1}));
  ASSERT_EQ(signature->outputs.size(), 2u);
  EXPECT_EQ(signature->outputs[0].name, "logits");
  EXPECT_EQ(signature->outputs[0].shape, S({-1, 10}));
  EXPECT_EQ(signature->outputs[1].name, "flatten");
  EXPECT_EQ(signature->outputs[1].shape, S({-1, 144}));
}

// Two inputs, Add and Concatenate, a layer called twice (its calls have
// different shapes), kwargs kept, and duplicate output names made unique as
// Keras does.
TEST(KerasConfigTest, FunctionalMergesAndSharedLayers) {
  auto config =
      ParseKerasModelConfig(Parse(R"({"class_name": "Model", "config": {
    "name": "two", "layers": [
    {"class_name": "InputLayer", "name": "a", "config": {"name": "a", "batch_input_shape": [null, 2, 3]}, "inbound_nodes": []},
    {"class_name": "InputLayer", "name": "b", "config": {"name": "b", "batch_input_shape": [null, 4, 3], "dtype": "float64"}, "inbound_nodes": []},
    {"class_name": "Flatten", "name": "flat", "config": {"name": "flat"},
     "inbound_nodes": [[["a", 0, 0, {}]], [["b", 0, 0, {"training": false}]]]},
    {"class_name": "Concatenate", "name": "cat", "config": {"name": "cat", "axis": 1},
     "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]]},
    {"class_name": "Add", "name": "sum", "config": {"name": "sum"},
     "inbound_nodes": [[["cat", 0, 0, {}], ["cat", 0, 0, {}]]]}],
    "input_layers": [["a", 0, 0], ["b", 0, 0]],
    "output_layers": [["flat", 0, 0], ["flat", 1, 0], ["sum", 0, 0]]}})"));
  ASSERT_TRUE(config.ok()) << config.status();
  const KerasLayerConfig* flat = config->FindLayer("flat");
  ASSERT_EQ(flat->inbound_nodes.size(), 2u);
  EXPECT_EQ(flat->inbound_nodes[1].kwargs, json({{"training", false}}));
  EXPECT_EQ(config->FindLayer("cat")->inbound_nodes[0].inputs.size(), 2u);

  auto signature = SynthesizeServingSignature(*config);
  ASSERT_TRUE(signature.ok()) << signature.status();
  ASSERT_EQ(signature->inputs.size(), 2u);
  EXPECT_EQ(signature->inputs[1].name, "b");
  EXPECT_EQ(signature->inputs[1].dtype, tensorflow::DT_DOUBLE);
  ASSERT_EQ(signature->outputs.size(), 3u);
  EXPECT_EQ(signature->outputs[0].name, "flat");
  EXPECT_EQ(signature->outputs[0].shape, S({-1, 6}));
  EXPECT_EQ(signature->outputs[1].name, "flat_1");
  EXPECT_EQ(signature->outputs[1].shape, S({-1, 12}));
  EXPECT_EQ(signature->outputs[2].name, "sum");
  EXPECT_EQ(signature->outputs[2].shape, S({-1, 6, 3}));
}

// The node form of later Keras: tensors with keras_history, policies as dtypes.
TEST(KerasConfigTest, KerasHistoryNodesAndDtypePolicies) {
  auto signature =
      SignatureOf(R"({"module": "keras", "class_name": "Functional", "config": {
    "name": "functional", "layers": [
    {"module": "keras.layers", "class_name": "InputLayer", "name": "input_layer", "inbound_nodes": [],
     "config": {"batch_shape": [null, 4], "dtype": "float32", "name": "input_layer"}},
    {"module": "keras.layers", "class_name": "Dense", "name": "dense",
     "config": {"name": "dense", "units": 2, "dtype": {"module": "keras", "class_name": "DTypePolicy",
                "config": {"name": "float32"}, "registered_name": null}},
     "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4],
                        "dtype": "float32", "keras_history": ["input_layer", 0, 0]}}], "kwargs": {}}]}],
    "input_layers": ["input_layer", 0, 0], "output_layers": ["dense", 0, 0]}})");
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->inputs[0].name, "input_layer");
  EXPECT_EQ(signature->inputs[0].shape, S({-1, 4}));
  EXPECT_EQ(signature->outputs[0].name, "dense");
  EXPECT_EQ(signature->outputs[0].dtype, tensorflow::DT_FLOAT);
  EXPECT_EQ(signature->outputs[0].shape, S({-1, 2}));
}

TEST(KerasConfigTest, UnknownLayersGiveUnknownShapesNotErrors) {
  auto signature = SignatureOf(
      R"({"class_name": "Sequential", "config": {"name": "s", "layers": [
      {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [null, 5]}},
      {"class_name": "MyCustomLayer", "config": {"name": "custom"}},
      {"class_name": "Dense", "config": {"name": "out", "units": 3}}]}})");
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->inputs[0].shape, S({-1, 5}));
  EXPECT_EQ(signature->outputs[0].name, "out");
  EXPECT_EQ(signature->outputs[0].shape, KerasShape());
}

TEST(KerasConfigTest, LayerShapes) {
  EXPECT_EQ(
      InferOk(
          "Conv2D",
          R"({"filters": 8, "kernel_size": 5, "data_format": "channels_first"})",
          {S({-1, 3, 32, 30})}),
      S({-1, 8, 28, 26}));
  EXPECT_EQ(
      InferOk("Conv2D",
              R"({"filters": 4, "kernel_size": [3, 1], "padding": "same"})",
              {S({-1, -1, 9, 2})}),
      S({-1, -1, 9, 4}));
  EXPECT_EQ(
      InferOk("MaxPooling2D",
              R"({"pool_size": [3, 3], "strides": [2, 2], "padding": "same"})",
              {S({-1, 7, 8, 5})}),
      S({-1, 4, 4, 5}));
  EXPECT_EQ(InferOk("AveragePooling2D", R"({"pool_size": 2, "strides": null})",
                    {S({-1, 7, 8, 5})}),
            S({-1, 3, 4, 5}));
  EXPECT_EQ(InferOk("GlobalAveragePooling2D", "{}", {S({-1, 7, 8, 5})}),
            S({-1, 5}));
  EXPECT_EQ(InferOk("GlobalAveragePooling2D", R"({"keepdims": true})",
                    {S({-1, 7, 8, 5})}),
            S({-1, 1, 1, 5}));
  EXPECT_EQ(InferOk("Reshape", R"({"target_shape": [-1, 4]})", {S({-1, 2, 6})}),
            S({-1, 3, 4}));
  EXPECT_EQ(InferOk("Reshape", R"({"target_shape": [7, 1]})", {KerasShape()}),
            S({-1, 7, 1}));
  EXPECT_EQ(InferOk("Embedding", R"({"input_dim": 1000, "output_dim": 16})",
                    {S({-1, 10})}),
            S({-1, 10, 16}));
  EXPECT_EQ(InferOk("Concatenate", "{}", {S({-1, 2, 3}), S({-1, 2, 5})}),
            S({-1, 2, 8}));
  EXPECT_EQ(InferOk("Add", "{}", {S({-1, 1, 4}), S({-1, 3, 4})}),
            S({-1, 3, 4}));
  EXPECT_EQ(InferOk("Flatten", "{}", {S({-1, 2, -1})}), S({-1, -1}));
  for (const char* identity : {"Dropout", "Activation", "BatchNormalization",
                               "Softmax", "ReLU", "LeakyReLU"}) {
    EXPECT_EQ(InferOk(identity, "{}", {S({-1, 6, 2})}), S({-1, 6, 2}))
        << identity;
  }
  EXPECT_EQ(InferOk("InputLayer", R"({"batch_input_shape": [4, null]})", {}),
            S({4, -1}));
  EXPECT_EQ(InferOk("Dense", R"({"units": 3})", {KerasShape()}), KerasShape());
}

TEST(KerasConfigTest, MalformedLayersAreErrorsNamingTheLayer) {
  auto no_units = Infer("Dense", R"({"name": "d1"})", {S({-1, 4})});
  ASSERT_FALSE(no_units.ok());
  EXPECT_TRUE(absl::StrContains(no_units.status().message(), "'d1' (Dense)"));
  EXPECT_TRUE(absl::StrContains(no_units.status().message(), "units"));
  EXPECT_FALSE(
      Infer("Conv2D", R"({"filters": 2, "kernel_size": 5})", {S({-1, 3, 3, 1})})
          .ok());
  EXPECT_FALSE(
      Infer("Conv2D", R"({"filters": 2, "kernel_size": 3})", {S({-1, 9, 1})})
          .ok());
  EXPECT_FALSE(Infer("Conv2D", R"({"filters": 2, "kernel_size": [0, 1]})",
                     {S({-1, 3, 3, 1})})
                   .ok());
  EXPECT_FALSE(Infer("Add", "{}", {S({-1, 2}), S({-1, 3})}).ok());
  EXPECT_FALSE(Infer("Reshape", R"({"target_shape": [5]})", {S({-1, 6})}).ok());
  EXPECT_FALSE(
      Infer("Reshape", R"({"target_shape": [-1, -1]})", {S({-1, 6})}).ok());
  EXPECT_FALSE(Infer("Dense", R"({"units": 2})", {S({-1}), S({-1})}).ok());
  EXPECT_FALSE(
      Infer("InputLayer", R"({"batch_input_shape": [null, -5]})", {}).ok());
  EXPECT_FALSE(Infer("Reshape",
                     R"({"target_shape": [1099511627776, 1099511627776]})",
                     {KerasShape()})
                   .ok());
}

TEST(KerasConfigTest, Dtypes) {
  EXPECT_EQ(*KerasDtype(json::object()), tensorflow::DT_FLOAT);
  EXPECT_EQ(*KerasDtype(Parse(R"({"dtype": "float16"})")), tensorflow::DT_HALF);
  EXPECT_EQ(*KerasDtype(Parse(R"({"dtype": "int32"})")), tensorflow::DT_INT32);
  EXPECT_EQ(*KerasDtype(Parse(R"({"dtype": {"class_name": "Policy",
                                  "config": {"name": "mixed_float16"}}})")),
            tensorflow::DT_HALF);
  EXPECT_FALSE(KerasDtype(Parse(R"({"dtype": "complex64"})")).ok());
}

TEST(KerasConfigTest, MalformedModelConfigsAreErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[1, 2]", "not a JSON object"},
      {R"({"config": {"layers": []}})", "no class_name"},
      {R"({"class_name": "Sequential"})", "no config"},
      {R"({"class_name": "Sequential", "config": {"name": "s", "layers": []}})",
       "no layers"},
      {R"({"class_name": "Sequential", "config": [{"config": {"name": "x"}}]})",
       "layer 0 has no class_name"},
      {R"({"class_name": "Sequential", "config": [{"class_name": "Dense"}]})",
       "no config object"},
      {R"({"class_name": "Sequential", "config": [{"class_name": "Dense", "config": {}}]})",
       "has no name"},
      {R"({"class_name": "Functional", "config": {"layers": [{"class_name": "Dense",
          "config": {"name": "d"}, "inbound_nodes": [[["ghost", 0, 0, {}]]]}],
          "input_layers": [], "output_layers": [["d", 0, 0]]}})",
       "unknown layer 'ghost'"},
      {R"({"class_name": "Functional", "config": {"layers": [{"class_name": "Dense",
          "config": {"name": "d"}, "inbound_nodes": [[[1, 2]]]}],
          "input_layers": [], "output_layers": [["d", 0, 0]]}})",
       "expected [layer, node_index, tensor_index]"},
      {R"({"class_name": "Functional", "config": {"layers": [{"class_name": "InputLayer",
          "config": {"name": "i"}}], "input_layers": [["i", 3, 0]], "output_layers": []}})",
       "call 3 of layer 'i'"},
      {R"({"class_name": "MyModel", "config": {"units": 3}})",
       "neither Sequential"},
  };
  for (const auto& [text, message] : cases) {
    auto config = ParseKerasModelConfig(Parse(text));
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_TRUE(absl::StrContains(config.status().message(), message))
        << config.status() << " for " << text;
  }
}

TEST(KerasConfigTest, SignatureErrors) {
  auto unbuilt_config =
      ParseKerasModelConfig(Parse(R"({"class_name": "Sequential", "config": [
      {"class_name": "Dense", "config": {"name": "d", "units": 1}},
      {"class_name": "Dense", "config": {"name": "e", "units": 1}}]})"));
  ASSERT_TRUE(unbuilt_config.ok()) << unbuilt_config.status();
  EXPECT_TRUE(unbuilt_config->input_layers.empty());
  auto unbuilt = SynthesizeServingSignature(*unbuilt_config);
  EXPECT_EQ(unbuilt.status().code(), absl::StatusCode::kFailedPrecondition)
      << unbuilt.status();

  auto cycle =
      SignatureOf(R"({"class_name": "Functional", "config": {"layers": [
    {"class_name": "InputLayer", "config": {"name": "i", "batch_input_shape": [null, 2]}},
    {"class_name": "Add", "config": {"name": "x"}, "inbound_nodes": [[["i", 0, 0, {}], ["y", 0, 0, {}]]]},
    {"class_name": "Add", "config": {"name": "y"}, "inbound_nodes": [[["x", 0, 0, {}]]]}],
    "input_layers": [["i", 0, 0]], "output_layers": [["y", 0, 0]]}})");
  ASSERT_FALSE(cycle.ok());
  EXPECT_TRUE(absl::StrContains(cycle.status().message(), "cycle"))
      << cycle.status();

  auto bad_layer =
      SignatureOf(R"({"class_name": "Sequential", "config": {"layers": [
      {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [null, 5]}},
      {"class_name": "Dense", "config": {"name": "head", "units": "ten"}}]}})");
  ASSERT_FALSE(bad_layer.ok());
  EXPECT_TRUE(absl::StrContains(bad_layer.status().message(), "'head'"))
      << bad_layer.status();
}

// Layers listed last-to-first, 20000 deep: no recursion, no pass per layer.
TEST(KerasConfigTest, LongChainListedBackwards) {
  constexpr int kDepth = 20000;
  json layers = json::array();
  for (int i = kDepth - 1; i >= 0; --i) {
    const std::string input = i == 0 ? "in" : absl::StrCat("act_", i - 1);
    layers.push_back({{"class_name", "Activation"},
                      {"config", {{"name", absl::StrCat("act_", i)}}},
                      {"inbound_nodes", {{{input, 0, 0, json::object()}}}}});
  }
  layers.push_back(
      {{"class_name", "InputLayer"},
       {"config", {{"name", "in"}, {"batch_input_shape", {nullptr, 3}}}},
       {"inbound_nodes", json::array()}});
  const json model = {
      {"class_name", "Functional"},
      {"config",
       {{"layers", layers},
        {"input_layers", {{"in", 0, 0}}},
        {"output_layers", {{absl::StrCat("act_", kDepth - 1), 0, 0}}}}}};
  auto config = ParseKerasModelConfig(model);
  ASSERT_TRUE(config.ok()) << config.status();
  auto signature = SynthesizeServingSignature(*config);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->outputs[0].shape, S({-1, 3}));
}

TEST(KerasJsonTest, ReadsPythonJsonDumpsOutput) {
  auto parsed = ParseKerasJson(
      R"({"a": NaN, "b": -Infinity, "c": "NaN Infinity \" NaN"})", "x");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE((*parsed)["a"].is_null());
  EXPECT_LT((*parsed)["b"].get<double>(), -1e308);
  EXPECT_EQ((*parsed)["c"], "NaN Infinity \" NaN");

  auto broken = ParseKerasJson("{\"a\": ", "model.h5: attribute model_config");
  ASSERT_FALSE(broken.ok());
  EXPECT_TRUE(absl::StrContains(broken.status().message(),
                                "model.h5: attribute model_config"));

  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(ParseKerasJson(deep, "deep").ok());
  json nested = json::array();
  for (int i = 0; i < 300; ++i) nested = json::array({std::move(nested)});
  auto config =
      ParseKerasModelConfig({{"class_name", "Sequential"}, {"config", nested}});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(), "nests deeper"))
      << config.status();
}

}  // namespace
}  // namespace swapserve
