// swapserve-cli show, run as a user would: the built binary on every fixture.
#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "model/formats/bundle_format.h"
#include "nlohmann/json.hpp"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using json = nlohmann::json;
using ::swapserve::testing::BuiltProgram;
using ::swapserve::testing::RunCommand;

json ShowJson(const std::string& path) {
  auto r = RunCommand(BuiltProgram("client/swapserve-cli") + " show --json '" + path + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  if (j.is_discarded()) return json::object();
  // The documented shape: exactly these keys.
  for (const char* key : {"path", "format", "signatures", "variables", "checkpoint"}) {
    EXPECT_TRUE(j.contains(key)) << key << " missing in " << r.out;
  }
  return j;
}

TEST(CliShowTest, TfServingBasePathShowsHighestVersion) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_2_versions");
  json j = ShowJson(base);
  EXPECT_EQ(j["format"], "saved_model");
  EXPECT_TRUE(absl::EndsWith(j["path"].get<std::string>(), "00000124"));
  const json& x = j["signatures"]["serving_default"]["inputs"]["x"];
  EXPECT_EQ(x["name"], "x:0");
  EXPECT_EQ(x["dtype"], "DT_FLOAT");
  EXPECT_EQ(x["shape"], json::array({-1, 1}));
  EXPECT_EQ(j["signatures"]["serving_default"]["method"], "tensorflow/serving/predict");
  EXPECT_EQ(j["signatures"]["classify_x_to_y"]["method"], "tensorflow/serving/classify");
  for (const char* v : {"a", "b", "c"}) {
    EXPECT_EQ(j["variables"][v]["dtype"], "DT_FLOAT");
    EXPECT_EQ(j["variables"][v]["shape"], json::array());
    EXPECT_FALSE(j["variables"][v].contains("error"));
  }
  EXPECT_TRUE(absl::EndsWith(j["checkpoint"]["prefix"].get<std::string>(),
                             "variables/variables"));
}

TEST(CliShowTest, EverySavedModelFixture) {
  SS_REQUIRE_FIXTURE(root, "");
  for (const char* rel :
       {"tf_serving/saved_model_half_plus_two_cpu/00000123",
        "tf_serving/saved_model_half_plus_two_tf2_cpu/00000123",
        "tf_serving/saved_model_half_plus_three", "tf_serving/saved_model_counter",
        "keras_saved_model/sonar", "keras_seed_mlp/saved_model"}) {
    SCOPED_TRACE(rel);
    json j = ShowJson(root + "/" + rel);
    EXPECT_EQ(j["format"], "saved_model");
    EXPECT_FALSE(j["signatures"].empty());
    for (const auto& [key, v] : j["variables"].items()) {
      EXPECT_FALSE(v.contains("error")) << key << ": " << v["error"];
    }
  }
}

TEST(CliShowTest, KerasSeedMlpExportHasNoVariables) {
  SS_REQUIRE_FIXTURE(dir, "keras_seed_mlp/saved_model");
  json j = ShowJson(dir);
  EXPECT_TRUE(j["variables"].empty());
  EXPECT_TRUE(j["checkpoint"].is_null());
  const json& sig = j["signatures"]["serving_default"];
  ASSERT_EQ(sig["inputs"].size(), 1u);
  EXPECT_EQ(sig["inputs"].begin().value()["shape"], json::array({-1, 784}));
}

TEST(CliShowTest, CheckpointDirectoryResolvesLatestAndReportsMissingData) {
  SS_REQUIRE_FIXTURE(dir, "keras_seed_mlp/training_2");
  json j = ShowJson(dir);
  EXPECT_EQ(j["format"], "checkpoint");
  EXPECT_EQ(j["path"], dir + "/cp-0050.ckpt");
  EXPECT_EQ(j["checkpoint"]["prefix"], dir + "/cp-0050.ckpt");
  EXPECT_EQ(j["checkpoint"]["all"], json::array({dir + "/cp-0050.ckpt"}));
  EXPECT_TRUE(j["signatures"].empty());
  ASSERT_FALSE(j["variables"].empty());
  for (const auto& [key, v] : j["variables"].items()) {
    ASSERT_TRUE(v.contains("error")) << key;
    EXPECT_TRUE(absl::StrContains(v["error"].get<std::string>(),
                                  "cp-0050.ckpt.data-00000-of-00001"));
  }
}

TEST(CliShowTest, EveryCheckpointDirectoryFixture) {
  SS_REQUIRE_FIXTURE(root, "keras_seed_mlp");
  for (const auto& [rel, latest] :
       {std::pair{"training_1", "cp.ckpt"}, std::pair{"checkpoints", "my_checkpoint"},
        std::pair{"training_2", "cp-0050.ckpt"}}) {
    SCOPED_TRACE(rel);
    const std::string dir = root + "/" + rel;
    json j = ShowJson(dir);
    EXPECT_EQ(j["format"], "checkpoint");
    EXPECT_EQ(j["checkpoint"]["prefix"], dir + "/" + latest);
    EXPECT_FALSE(j["variables"].empty());
  }
}

TEST(CliShowTest, CheckpointPrefixListsEveryKeyButTheHeader) {
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  json j = ShowJson(prefix);
  EXPECT_EQ(j["format"], "checkpoint");
  EXPECT_EQ(j["variables"].size(), 5u);
  const json& kernel = j["variables"]["layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"];
  EXPECT_EQ(kernel["dtype"], "DT_FLOAT");
  EXPECT_EQ(kernel["shape"], json::array({784, 512}));
  EXPECT_EQ(j["variables"]["_CHECKPOINTABLE_OBJECT_GRAPH"]["dtype"], "DT_STRING");
  for (const auto& [key, v] : j["variables"].items()) EXPECT_FALSE(v.contains("error"));
}

TEST(CliShowTest, CrcMismatchIsReportedPerVariable) {
  SS_REQUIRE_FIXTURE(src, "keras_seed_mlp/training_2/cp-0000.ckpt");
  swapserve::testing::TempDir dir;
  const std::string prefix = dir.Join("cp");
  std::filesystem::copy_file(BundleIndexFilename(src), BundleIndexFilename(prefix));
  std::string data = swapserve::testing::ReadFileOrDie(BundleDataFilename(src, 0, 1));
  data[data.size() - 3] ^= 0x40;  // inside the last tensor written
  swapserve::testing::WriteFileOrDie(BundleDataFilename(prefix, 0, 1), data);
  json j = ShowJson(prefix);
  int bad = 0;
  for (const auto& [key, v] : j["variables"].items()) {
    if (!v.contains("error")) continue;
    ++bad;
    EXPECT_TRUE(absl::StrContains(v["error"].get<std::string>(), "CRC32C mismatch"));
  }
  EXPECT_EQ(bad, 1);
}

TEST(CliShowTest, KerasH5SynthesizesServingSignature) {
  SS_REQUIRE_FIXTURE(path, "keras_h5/bank_churn.h5");
  json j = ShowJson(path);
  EXPECT_EQ(j["format"], "keras_h5");
  const json& in = j["signatures"]["serving_default"]["inputs"]["dense_input"];
  EXPECT_EQ(in["dtype"], "DT_FLOAT");
  EXPECT_EQ(in["shape"], json::array({-1, 12}));
  EXPECT_EQ(j["signatures"]["serving_default"]["outputs"].size(), 1u);
  ASSERT_TRUE(j["variables"].contains("dense/kernel:0")) << j["variables"].dump();
  EXPECT_EQ(j["variables"]["dense/kernel:0"]["shape"][0], 12);
}

TEST(CliShowTest, KerasArchiveListsFileVariablesAndExportSignature) {
  SS_REQUIRE_FIXTURE(path, "keras3/cifar10_names_k3.13.keras");
  json j = ShowJson(path);
  EXPECT_EQ(j["format"], "keras");
  const json& sig = j["signatures"]["serving_default"];
  EXPECT_FALSE(sig.contains("unavailable")) << sig.dump();
  EXPECT_EQ(sig["inputs"]["input_layer_16"]["shape"], json::array({-1, 32, 32, 3}));
  EXPECT_EQ(sig["inputs"]["input_layer_16"]["name"], "serving_default_input_layer_16:0");
  EXPECT_EQ(sig["outputs"]["output_0"]["shape"], json::array({-1, 10}));
  // Keys as model.weights.h5 names them, the optimizer's included.
  EXPECT_EQ(j["variables"]["layers/conv2d/vars/0"]["shape"], json::array({3, 3, 3, 32}));
  EXPECT_TRUE(j["variables"].contains("optimizer/vars/0")) << j["variables"].dump();
}

TEST(CliShowTest, KerasWeightsFileListsEveryVariable) {
  SS_REQUIRE_FIXTURE(expected, "expected/keras3_handsign_weights.json");
  const json c = json::parse(swapserve::testing::ReadFileOrDie(expected));
  json j = ShowJson(swapserve::testing::Fixture(c["weights_file"].get<std::string>()));
  EXPECT_EQ(j["format"], "keras_weights_h5");
  EXPECT_TRUE(j["signatures"].empty());
  EXPECT_EQ(j["variables"], c["variables"]);
}

TEST(CliShowTest, HumanReadableByDefault) {
  SS_REQUIRE_FIXTURE(dir, "tf_serving/saved_model_half_plus_two_cpu/00000123");
  auto r = RunCommand(BuiltProgram("client/swapserve-cli") + " show '" + dir + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "signature 'serving_default'")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "x: DT_FLOAT [-1,1]")) << r.out;
}

TEST(CliShowTest, BadPathsAndFlagsFailClearly) {
  const std::string cli = BuiltProgram("client/swapserve-cli");
  auto missing = RunCommand(cli + " show /nonexistent/model");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(missing.err, "/nonexistent/model")) << missing.err;
  auto flag = RunCommand(cli + " show --jsn /tmp");
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(flag.err, "unknown flag --jsn")) << flag.err;
  auto command = RunCommand(cli + " frobnicate");
  EXPECT_EQ(command.exit_code, 2);
}

}  // namespace
}  // namespace swapserve
