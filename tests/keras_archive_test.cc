// Keras 3 `.keras` archives and `.weights.h5` files through the library: the
// real fixtures reproduce their expected outputs, weights are found by Keras 3's
// naming rule (not the configured names), a weights-only file serves as a
// checkpoint, and hostile or broken archives are clean errors.
#include <zip.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/formats/keras_archive.h"
#include "model/formats/keras_weights_h5.h"
#include "model/formats/model_path.h"
#include "model/graph/keras_weight_source.h"
#include "model/loaded_model.h"
#include "nlohmann/json.hpp"
#include "tests/kernel_test_util.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using json = nlohmann::json;
using ::swapserve::testing::Fixture;
using ::swapserve::testing::ReadFileOrDie;
using ::swapserve::testing::TempDir;
using ::swapserve::testing::WriteFileOrDie;

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

Tensor FloatTensorFromJson(const json& j) {
  auto shape = TensorShape::Make(j["shape"].get<std::vector<int64_t>>());
  EXPECT_TRUE(shape.ok());
  return swapserve::testing::Floats(*shape, j["values"].get<std::vector<float>>());
}

// Runs serving_default of `model` on the case's inputs and compares every output.
void ExpectCaseOutputs(const LoadedModel& model, const json& c) {
  auto plan = model.FindPlan("");
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<Tensor> inputs;
  ASSERT_EQ((*plan)->inputs().size(), c["inputs"].size());
  for (const PlanTensor& in : (*plan)->inputs()) {
    ASSERT_TRUE(c["inputs"].contains(in.alias)) << in.alias;
    inputs.push_back(FloatTensorFromJson(c["inputs"][in.alias]));
  }
  auto outputs = (*plan)->Run(*model.weights, inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  for (size_t i = 0; i < (*plan)->outputs().size(); ++i) {
    const std::string& alias = (*plan)->outputs()[i].alias;
    ASSERT_TRUE(c["outputs"].contains(alias)) << alias;
    const Tensor want = FloatTensorFromJson(c["outputs"][alias]);
    swapserve::testing::ExpectFloats((*outputs)[i], want.shape(),
                                     swapserve::testing::Values<float>(want),
                                     c["atol"].get<float>());
  }
}

class KerasArchiveFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KerasArchiveFixtureTest, ReproducesExpectedOutputs) {
  SS_REQUIRE_FIXTURE(path, "expected/keras3_" + GetParam() + ".json");
  const json c = ReadJson(path);
  auto model = LoadModel(Fixture(c["model_file"].get<std::string>()), LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectCaseOutputs(**model, c);
  // Every slot is a layer variable, keyed as the weights file names it.
  ASSERT_FALSE((*model)->slots.empty());
  for (const SlotSpec& slot : (*model)->slots) {
    EXPECT_TRUE(absl::StartsWith(slot.checkpoint_key, "layers/")) << slot.checkpoint_key;
    EXPECT_TRUE(absl::StrContains(slot.checkpoint_key, "/vars/")) << slot.checkpoint_key;
  }
  EXPECT_EQ((*model)->signature_defs.at("serving_default").outputs().begin()->first, "output_0");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, KerasArchiveFixtureTest,
                         ::testing::Values("heart_functional_k3.10", "heart_sequential_k3.10",
                                           "cifar10_bn_k3.8", "cifar10_names_k3.13"));

TEST(KerasArchiveTest, WeightsGoByClassAndOrderNotConfiguredName) {
  SS_REQUIRE_FIXTURE(path, "keras3/cifar10_names_k3.13.keras");
  auto model = LoadModel(path, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<SlotSpec>& slots = (*model)->slots;
  ASSERT_EQ(slots.size(), 10u);  // 3 Conv2D + 2 Dense, kernel and bias each
  EXPECT_EQ(slots[0].variable, "conv2d_48/kernel");
  EXPECT_EQ(slots[0].checkpoint_key, "layers/conv2d/vars/0");
  EXPECT_EQ(slots[3].variable, "conv2d_49/bias");
  EXPECT_EQ(slots[3].checkpoint_key, "layers/conv2d_1/vars/1");
  EXPECT_EQ(slots[9].checkpoint_key, "layers/dense_1/vars/1");
}

TEST(KerasArchiveTest, BatchNormalizationVariablesInKerasOrder) {
  SS_REQUIRE_FIXTURE(path, "keras3/cifar10_bn_k3.8.keras");
  auto model = LoadModel(path, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  std::map<std::string, std::string> key_of;
  for (const SlotSpec& slot : (*model)->slots) key_of[slot.variable] = slot.checkpoint_key;
  EXPECT_EQ(key_of["batch_normalization_1/gamma"], "layers/batch_normalization_1/vars/0");
  EXPECT_EQ(key_of["batch_normalization_1/beta"], "layers/batch_normalization_1/vars/1");
  EXPECT_EQ(key_of["batch_normalization_1/moving_mean"], "layers/batch_normalization_1/vars/2");
  EXPECT_EQ(key_of["batch_normalization_1/moving_variance"],
            "layers/batch_normalization_1/vars/3");
}

TEST(KerasArchiveTest, SnakeCaseIsKeras) {
  EXPECT_EQ(KerasSnakeCase("Dense"), "dense");
  EXPECT_EQ(KerasSnakeCase("Conv2D"), "conv2d");
  EXPECT_EQ(KerasSnakeCase("MaxPooling2D"), "max_pooling2d");
  EXPECT_EQ(KerasSnakeCase("GlobalAveragePooling2D"), "global_average_pooling2d");
  EXPECT_EQ(KerasSnakeCase("BatchNormalization"), "batch_normalization");
  EXPECT_EQ(KerasSnakeCase("InputLayer"), "input_layer");
  EXPECT_EQ(KerasSnakeCase("ABCDense"), "abc_dense");
  EXPECT_EQ(KerasSnakeCase("ReLU"), "re_lu");
}

// A zip written with libzip: each entry stored or deflated.
struct ZipEntry {
  std::string name;
  std::string data;
  bool deflate = false;
};

void WriteZip(const std::string& path, const std::vector<ZipEntry>& entries) {
  int error = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(z, nullptr) << error;
  for (const ZipEntry& e : entries) {
    zip_source_t* src = zip_source_buffer(z, e.data.data(), e.data.size(), 0);
    ASSERT_NE(src, nullptr);
    const zip_int64_t index = zip_file_add(z, e.name.c_str(), src, ZIP_FL_ENC_UTF_8);
    ASSERT_GE(index, 0) << zip_strerror(z);
    zip_set_file_compression(z, index, e.deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

class KerasArchiveFileTest : public ::testing::Test {
 protected:
  std::string Archive(const std::string& name, const std::vector<ZipEntry>& entries) {
    const std::string path = dir_.Join(name);
    WriteZip(path, entries);
    return path;
  }
  TempDir dir_;
};

TEST_F(KerasArchiveFileTest, WeightsOnlyFileServesAModelOfItsArchitecture) {
  SS_REQUIRE_FIXTURE(path, "expected/keras3_handsign_weights.json");
  const json c = ReadJson(path);
  const std::string weights = ReadFileOrDie(Fixture(c["weights_file"].get<std::string>()));
  const std::string model = Archive(
      "handsign.keras", {{"metadata.json", R"({"keras_version": "3.10.0"})"},
                         {"config.json", ::swapserve::testing::HandsignKerasConfig(c["architecture"]).dump(), true},
                         {"model.weights.h5", weights}});
  auto loaded = LoadModel(model, LoadOptions{});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectCaseOutputs(**loaded, c);
}

// The handsign weights with dense_1's bias (the last 25 floats the model reads)
// overwritten in the file's bytes: as a --checkpoint, its values must be the
// ones that answer.
TEST_F(KerasArchiveFileTest, WeightsH5FileAsCheckpointReplacesTheWeights) {
  SS_REQUIRE_FIXTURE(path, "expected/keras3_handsign_weights.json");
  const json c = ReadJson(path);
  const std::string weights_path = Fixture(c["weights_file"].get<std::string>());
  std::string weights = ReadFileOrDie(weights_path);
  const std::string model = Archive(
      "handsign.keras", {{"config.json", ::swapserve::testing::HandsignKerasConfig(c["architecture"]).dump()},
                         {"model.weights.h5", weights}});
  auto original = LoadModel(model, LoadOptions{});
  ASSERT_TRUE(original.ok()) << original.status();
  const int bias_slot = static_cast<int>((*original)->slots.size()) - 1;
  ASSERT_EQ((*original)->slots[bias_slot].checkpoint_key, "layers/dense_1/vars/1");
  const Tensor& bias = (*original)->weights->slot(bias_slot);
  const std::string bytes(static_cast<const char*>(bias.raw_data()), bias.num_elements() * 4);
  const size_t at = weights.find(bytes);
  ASSERT_NE(at, std::string::npos);
  std::vector<float> replaced(25);
  for (int i = 0; i < 25; ++i) replaced[i] = static_cast<float>(i);
  weights.replace(at, bytes.size(), reinterpret_cast<const char*>(replaced.data()), bytes.size());
  const std::string checkpoint = dir_.Join("cp-0002.weights.h5");
  WriteFileOrDie(checkpoint, weights);

  LoadOptions options;
  options.checkpoint = checkpoint;
  auto loaded = LoadModel(model, options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->weights->source(), checkpoint);
  swapserve::testing::ExpectFloats((*loaded)->weights->slot(bias_slot), TensorShape{25}, replaced);
  // A .keras archive works as a checkpoint too (ModelCheckpoint without
  // save_weights_only writes whole models).
  options.checkpoint = model;
  loaded = LoadModel(model, options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->weights->slot(bias_slot).num_elements(), 25);
}

TEST_F(KerasArchiveFileTest, WeightsOfAnotherModelNameTheLayer) {
  SS_REQUIRE_FIXTURE(names, "keras3/cifar10_names_k3.13.keras");
  SS_REQUIRE_FIXTURE(heart, "keras3/heart_sequential_k3.10.keras");
  auto cifar = ReadKerasArchive(names, true);
  auto other = ReadKerasArchive(heart, true);
  ASSERT_TRUE(cifar.ok() && other.ok());
  const std::string model = Archive("mixed.keras", {{"config.json", cifar->config.dump()},
                                                    {"model.weights.h5", other->weights_image}});
  auto loaded = LoadModel(model, LoadOptions{});
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(absl::StrContains(loaded.status().message(), "conv2d_48")) << loaded.status();
  EXPECT_TRUE(absl::StrContains(loaded.status().message(), "layers/conv2d/vars/"))
      << loaded.status();
}

TEST_F(KerasArchiveFileTest, LegacyHdf5NamedKerasIsRecognisedByItsBytes) {
  SS_REQUIRE_FIXTURE(h5, "keras_h5/bank_churn.h5");
  const std::string path = dir_.Join("bank_churn.keras");
  WriteFileOrDie(path, ReadFileOrDie(h5));
  auto resolved = ResolveModelPath(path);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->format, ModelFormat::kKerasH5);
  auto model = LoadModel(path, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
}

TEST_F(KerasArchiveFileTest, BrokenArchivesAreCleanErrors) {
  SS_REQUIRE_FIXTURE(fixture, "keras3/heart_sequential_k3.10.keras");
  const std::string whole = ReadFileOrDie(fixture);
  auto archive = ReadKerasArchive(fixture, true);
  ASSERT_TRUE(archive.ok()) << archive.status();
  const std::string config = archive->config.dump();
  const std::string weights = archive->weights_image;

  struct Case {
    std::string what;
    std::string path;
    std::string message;  // part of the error
  };
  std::vector<Case> cases;
  for (size_t cut : {whole.size() / 2, whole.size() - 10, size_t{30}}) {
    const std::string path = dir_.Join(absl::StrCat("truncated_", cut, ".keras"));
    WriteFileOrDie(path, whole.substr(0, cut));
    cases.push_back({absl::StrCat("truncated at ", cut), path, "zip"});
  }
  cases.push_back({"path escape",
                   Archive("escape.keras", {{"config.json", config},
                                            {"model.weights.h5", weights},
                                            {"../../etc/evil", "x"}}),
                   "escapes the archive"});
  cases.push_back({"absolute path",
                   Archive("absolute.keras", {{"config.json", config},
                                              {"model.weights.h5", weights},
                                              {"/tmp/evil", "x"}}),
                   "escapes the archive"});
  cases.push_back({"config not JSON",
                   Archive("notjson.keras",
                           {{"config.json", "{\"class_name\": \"Sequential\", oops"},
                            {"model.weights.h5", weights}}),
                   "config.json"});
  cases.push_back({"config a JSON list",
                   Archive("list.keras", {{"config.json", "[1, 2]"}, {"model.weights.h5", weights}}),
                   "not a JSON object"});
  cases.push_back({"no weights",
                   Archive("noweights.keras", {{"config.json", config}}), "model.weights.h5"});
  cases.push_back({"npz weights",
                   Archive("npz.keras", {{"config.json", config}, {"model.weights.npz", "PK"}}),
                   "model.weights.npz"});
  cases.push_back({"weights not HDF5",
                   Archive("garbage.keras", {{"config.json", config},
                                             {"model.weights.h5", std::string(4096, 'x')}}),
                   "not an HDF5 file"});
  cases.push_back({"weights truncated",
                   Archive("cut.keras", {{"config.json", config},
                                         {"model.weights.h5", weights.substr(0, weights.size() / 2)}}),
                   "HDF5"});
  // Deflated 65 MiB of spaces: a small archive whose config exceeds the bound.
  cases.push_back({"oversized config",
                   Archive("big.keras", {{"config.json", std::string(65u << 20, ' '), true},
                                         {"model.weights.h5", weights}}),
                   "allowed"});
  const std::string text_file = dir_.Join("text.keras");
  WriteFileOrDie(text_file, "not a zip at all");
  cases.push_back({"not a zip", text_file, "zip"});

  for (const Case& c : cases) {
    auto model = LoadModel(c.path, LoadOptions{});
    ASSERT_FALSE(model.ok()) << c.what;
    EXPECT_TRUE(absl::StrContains(model.status().message(), c.message))
        << c.what << ": " << model.status();
  }
}

// A deflated entry whose headers claim far more bytes than deflate can
// produce from its compressed size (a zip bomb's signature) is refused before
// anything is allocated.
TEST_F(KerasArchiveFileTest, SizeClaimsBeyondDeflateRatioAreRefused) {
  const std::string path =
      Archive("bomb.keras", {{"config.json", std::string(4096, '{'), true},
                             {"model.weights.h5", "x"}});
  std::string bytes = ReadFileOrDie(path);
  const uint32_t claim = 0xF0000000u;
  // Uncompressed size: local header +22, central directory header +24.
  for (const auto& [magic, offset] :
       {std::pair{std::string("PK\3\4"), 22}, std::pair{std::string("PK\1\2"), 24}}) {
    const size_t at = bytes.find(magic);
    ASSERT_NE(at, std::string::npos);
    bytes.replace(at + offset, 4, reinterpret_cast<const char*>(&claim), 4);
  }
  WriteFileOrDie(path, bytes);
  auto archive = ReadKerasArchive(path, true);
  ASSERT_FALSE(archive.ok());
  EXPECT_TRUE(absl::StrContains(archive.status().message(), "zip bomb")) << archive.status();
}

}  // namespace
}  // namespace swapserve

namespace swapserve {
namespace {

// A Functional model whose middle layer is a Sequential (as transfer learning
// nests a base model): Keras 3 keeps the inner layers' weights under the inner
// model's path, numbered within it.
TEST(KerasArchiveNestedTest, NestedSequentialFindsItsWeightsUnderItsPath) {
  const json tensor_in = {{"class_name", "__keras_tensor__"},
                          {"config", {{"shape", {nullptr, 4}}, {"keras_history", {"input_layer", 0, 0}}}}};
  const json tensor_mid = {{"class_name", "__keras_tensor__"},
                           {"config", {{"shape", {nullptr, 2}}, {"keras_history", {"sequential", 0, 0}}}}};
  auto dense = [](const std::string& name, int units, const std::string& activation) {
    return json{{"module", "keras.layers"},
                {"class_name", "Dense"},
                {"config", {{"name", name}, {"units", units}, {"activation", activation}, {"use_bias", true}}},
                {"registered_name", nullptr}};
  };
  json inner = {{"module", "keras"},
                {"class_name", "Sequential"},
                {"config",
                 {{"name", "sequential"},
                  {"layers",
                   {{{"class_name", "InputLayer"},
                     {"config", {{"batch_shape", {nullptr, 4}}, {"dtype", "float32"}, {"name", "inner_input"}}}},
                    dense("dense", 3, "relu"), dense("dense_1", 2, "linear")}}}},
                {"name", "sequential"},
                {"inbound_nodes", {{{"args", {tensor_in}}, {"kwargs", json::object()}}}}};
  json outer_dense = dense("dense_2", 1, "linear");
  outer_dense["name"] = "dense_2";
  outer_dense["inbound_nodes"] = {{{"args", {tensor_mid}}, {"kwargs", json::object()}}};
  const json config = {
      {"module", "keras.src.models.functional"},
      {"class_name", "Functional"},
      {"config",
       {{"name", "outer"},
        {"layers",
         {{{"class_name", "InputLayer"},
           {"config", {{"batch_shape", {nullptr, 4}}, {"dtype", "float32"}, {"name", "input_layer"}}},
           {"name", "input_layer"},
           {"inbound_nodes", json::array()}},
          inner, outer_dense}},
        {"input_layers", {{"input_layer", 0, 0}}},
        {"output_layers", {{"dense_2", 0, 0}}}}}};
  using ::swapserve::testing::Floats;
  // relu([1,2,3,4] K1 + b1) = relu([5,6,7] + [0,-10,0]) = [5,0,7]; then
  // [5,0,7] K2 + b2 = [12,7] + 1 = [13,8]; then 13 - 8 + 0.5 = 5.5.
  const std::vector<std::pair<std::string, Tensor>> datasets = {
      {"layers/sequential/layers/dense/vars/0", Floats({4, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1})},
      {"layers/sequential/layers/dense/vars/1", Floats({3}, {0, -10, 0})},
      {"layers/sequential/layers/dense_1/vars/0", Floats({3, 2}, {1, 0, 0, 1, 1, 1})},
      {"layers/sequential/layers/dense_1/vars/1", Floats({2}, {1, 1})},
      {"layers/dense/vars/0", Floats({2, 1}, {1, -1})},
      {"layers/dense/vars/1", Floats({1}, {0.5f})}};
  TempDir dir;
  const std::string weights = dir.Join("model.weights.h5");
  ASSERT_TRUE(WriteKerasWeightsH5(weights, {"vars", "layers/input_layer/vars", "layers/sequential/vars"},
                                  datasets).ok());
  const std::string path = dir.Join("nested.keras");
  ASSERT_TRUE(WriteKerasArchive(path, "3.10.0", config, weights).ok());
  auto model = LoadModel(path, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  auto plan = (*model)->FindPlan("");
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto out = (*plan)->Run(*(*model)->weights, {Floats({1, 4}, {1, 2, 3, 4})});
  ASSERT_TRUE(out.ok()) << out.status();
  swapserve::testing::ExpectFloats((*out)[0], {1, 1}, {5.5f});
  EXPECT_EQ((*model)->slots[0].checkpoint_key, "layers/sequential/layers/dense/vars/0");
  EXPECT_EQ((*model)->slots[0].variable, "dense/kernel");
}

}  // namespace
}  // namespace swapserve
