// swapserve-cli run on the real fixtures: each expected/*.json file is accepted as
// the input file as it is, and the outputs match within its atol.
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "tensorflow/core/example/example.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using json = nlohmann::json;
using ::swapserve::testing::BuiltProgram;
using ::swapserve::testing::Fixture;
using ::swapserve::testing::RunCommand;

// `model`: the model to run instead of the case's model_dir/model_file.
void CheckCase(const std::string& name, const std::string& model_override = "") {
  SS_REQUIRE_FIXTURE(path, "expected/" + name);
  std::ifstream in(path);
  const json c = json::parse(in);
  const std::string model =
      model_override.empty() ? swapserve::testing::CaseModelPath(c) : model_override;
  std::string cmd = BuiltProgram("client/swapserve-cli") + " run '" + model +
                    "' --input '" + path + "'";
  if (c.contains("checkpoint")) {
    cmd += " --checkpoint '" + Fixture(c["checkpoint"].get<std::string>()) + "'";
  }
  if (c.contains("signature")) cmd += " --signature " + c["signature"].get<std::string>();
  auto r = RunCommand(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  const double atol = c["atol"].get<double>();
  for (const auto& [alias, want] : c["outputs"].items()) {
    ASSERT_TRUE(out["outputs"].contains(alias)) << r.out;
    const json& got = out["outputs"][alias];
    EXPECT_EQ(got["dtype"], want["dtype"]);
    EXPECT_EQ(got["shape"], want["shape"]);
    ASSERT_EQ(got["values"].size(), want["values"].size());
    for (size_t i = 0; i < want["values"].size(); ++i) {
      EXPECT_NEAR(got["values"][i].get<double>(), want["values"][i].get<double>(), atol)
          << alias << "[" << i << "]";
    }
  }
}

TEST(CliRunTest, HalfPlusTwoTf1) { CheckCase("saved_model_half_plus_two_cpu.json"); }
TEST(CliRunTest, HalfPlusTwoTf2) { CheckCase("saved_model_half_plus_two_tf2_cpu.json"); }
TEST(CliRunTest, HalfPlusThree) { CheckCase("saved_model_half_plus_three.json"); }
TEST(CliRunTest, Sonar) { CheckCase("keras_saved_model_sonar.json"); }
TEST(CliRunTest, SeedMlpWithCheckpoint) { CheckCase("keras_seed_mlp.json"); }
TEST(CliRunTest, KerasH5) { CheckCase("keras_h5_bank_churn.json"); }
TEST(CliRunTest, CheckpointManagerCheckpoint) { CheckCase("keras3_golf_ckptmgr.json"); }
TEST(CliRunTest, Keras3WeightsFileOfItsArchitecture) {
  SS_REQUIRE_FIXTURE(weights, "keras3/handsign_cnn.weights.h5");
  swapserve::testing::TempDir dir;
  CheckCase("keras3_handsign_weights.json", swapserve::testing::WriteHandsignModel(dir.path()));
}
TEST(CliRunTest, Keras3Archives) {
  for (const char* name : {"keras3_heart_functional_k3.10.json", "keras3_heart_sequential_k3.10.json",
                           "keras3_cifar10_bn_k3.8.json", "keras3_cifar10_names_k3.13.json"}) {
    SCOPED_TRACE(name);
    CheckCase(name);
  }
}

TEST(CliRunTest, WrongAliasNamesTheSignature) {
  SS_REQUIRE_FIXTURE(dir, "tf_serving/saved_model_half_plus_two_cpu/00000123");
  swapserve::testing::TempDir tmp;
  swapserve::testing::WriteFileOrDie(
      tmp.Join("in.json"),
      R"({"inputs": {"z": {"dtype": "DT_FLOAT", "shape": [1, 1], "values": [1]}}})");
  auto r = RunCommand(BuiltProgram("client/swapserve-cli") + " run '" + dir + "' --input " +
                      tmp.Join("in.json"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "signature 'serving_default' takes {x: DT_FLOAT[-1,1]}"))
      << r.err;
}

TEST(CliRunTest, WrongDtypeAndShapeAreClearErrors) {
  SS_REQUIRE_FIXTURE(dir, "keras_saved_model/sonar");
  swapserve::testing::TempDir tmp;
  const std::string cli = BuiltProgram("client/swapserve-cli") + " run '" + dir + "' --input ";
  swapserve::testing::WriteFileOrDie(
      tmp.Join("dtype.json"),
      R"({"inputs": {"dense_input": {"dtype": "DT_INT32", "shape": [1, 2], "values": [1, 2]}}})");
  auto r = RunCommand(cli + tmp.Join("dtype.json"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "expects DT_FLOAT, got DT_INT32[1,2]")) << r.err;
  swapserve::testing::WriteFileOrDie(
      tmp.Join("shape.json"),
      R"({"inputs": {"dense_input": {"dtype": "DT_FLOAT", "shape": [1, 2], "values": [1, 2]}}})");
  r = RunCommand(cli + tmp.Join("shape.json"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "inner dimensions differ")) << r.err;
  swapserve::testing::WriteFileOrDie(
      tmp.Join("count.json"),
      R"({"inputs": {"dense_input": {"dtype": "DT_FLOAT", "shape": [1, 3], "values": [1, 2]}}})");
  r = RunCommand(cli + tmp.Join("count.json"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "2 values for shape [1,3]")) << r.err;
}

TEST(CliRunTest, ClassifySignatureTakesBase64Examples) {
  SS_REQUIRE_FIXTURE(dir, "tf_serving/saved_model_half_plus_two_cpu/00000123");
  tensorflow::Example example;
  (*example.mutable_features()->mutable_feature())["x"].mutable_float_list()->add_value(2.0f);
  const json input = {{"inputs", {{"inputs", {{"dtype", "DT_STRING"}, {"shape", {1}},
      {"values", {{{"b64", absl::Base64Escape(example.SerializeAsString())}}}}}}}}};
  swapserve::testing::TempDir tmp;
  swapserve::testing::WriteFileOrDie(tmp.Join("in.json"), input.dump());
  auto r = RunCommand(BuiltProgram("client/swapserve-cli") + " run '" + dir +
                      "' --signature classify_x_to_y --input " + tmp.Join("in.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["outputs"]["scores"]["values"], json::array({3.0}));  // 0.5 * 2 + 2
}

}  // namespace
}  // namespace swapserve
