// The real daemon answers like TF Serving: every fixtures/expected/*.json model
// through Predict within its atol, half_plus_two through Predict, Classify and
// Regress, and GetModelMetadata equal to TF Serving's own recorded answer.
#include <fstream>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "model/formats/checkpoint_state.h"
#include "nlohmann/json.hpp"
#include "tests/daemon_harness.h"

namespace swapserve::testing {
namespace {

using json = nlohmann::json;
namespace tfs = tensorflow::serving;

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// Serves the model of expected/NAME and checks its outputs.
// `model`: the model to serve instead of the case's model_dir/model_file.
void CheckExpected(const std::string& name, const std::vector<std::string>& extra_flags = {},
                   const std::string& model_override = "") {
  SS_REQUIRE_FIXTURE(path, "expected/" + name);
  const json c = ReadJson(path);
  const std::string model =
      model_override.empty() ? swapserve::testing::CaseModelPath(c) : model_override;
  std::vector<std::string> flags = {"--model_name=m", "--model_base_path=" + model};
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  auto daemon = Daemon::Start(flags);
  ASSERT_NE(daemon, nullptr);
  tfs::PredictRequest request;
  request.mutable_model_spec()->set_name("m");
  if (c.contains("signature")) request.mutable_model_spec()->set_signature_name(c["signature"]);
  for (const auto& [alias, t] : c["inputs"].items()) {
    const tfs::PredictRequest one = FloatRequest(
        "m", alias, t["shape"].get<std::vector<int64_t>>(), t["values"].get<std::vector<float>>());
    (*request.mutable_inputs())[alias] = one.inputs().at(alias);
  }
  tfs::PredictResponse response;
  grpc::Status s = daemon->prediction().Predict(ContextWithDeadline().get(), request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << daemon->Log();
  const double atol = c["atol"].get<double>();
  for (const auto& [alias, want] : c["outputs"].items()) {
    ASSERT_EQ(response.outputs().count(alias), 1u) << alias;
    const tensorflow::TensorProto& got = response.outputs().at(alias);
    std::vector<int64_t> shape;
    for (const auto& d : got.tensor_shape().dim()) shape.push_back(d.size());
    EXPECT_EQ(shape, want["shape"].get<std::vector<int64_t>>()) << alias;
    EXPECT_GT(got.float_val_size(), 0) << "outputs travel in float_val, as TF Serving sends them";
    const std::vector<float> values = Floats(got);
    ASSERT_EQ(values.size(), want["values"].size());
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_NEAR(values[i], want["values"][i].get<double>(), atol) << alias << "[" << i << "]";
    }
  }
  EXPECT_EQ(response.model_spec().name(), "m");
}

TEST(ServerPredictTest, HalfPlusTwoTf1) { CheckExpected("saved_model_half_plus_two_cpu.json"); }
TEST(ServerPredictTest, HalfPlusTwoTf2) { CheckExpected("saved_model_half_plus_two_tf2_cpu.json"); }
TEST(ServerPredictTest, HalfPlusThree) { CheckExpected("saved_model_half_plus_three.json"); }
TEST(ServerPredictTest, KerasSonar) { CheckExpected("keras_saved_model_sonar.json"); }
TEST(ServerPredictTest, KerasH5) { CheckExpected("keras_h5_bank_churn.json"); }
TEST(ServerPredictTest, Keras3Functional) { CheckExpected("keras3_heart_functional_k3.10.json"); }
TEST(ServerPredictTest, Keras3Sequential) { CheckExpected("keras3_heart_sequential_k3.10.json"); }
TEST(ServerPredictTest, Keras3BatchNormCnn) { CheckExpected("keras3_cifar10_bn_k3.8.json"); }
TEST(ServerPredictTest, Keras3RenamedLayers) { CheckExpected("keras3_cifar10_names_k3.13.json"); }
TEST(ServerPredictTest, Keras3WeightsFileOfItsArchitecture) {
  SS_REQUIRE_FIXTURE(weights, "keras3/handsign_cnn.weights.h5");
  swapserve::testing::TempDir dir;
  CheckExpected("keras3_handsign_weights.json", {},
                swapserve::testing::WriteHandsignModel(dir.path()));
}
TEST(ServerPredictTest, CheckpointManagerCheckpoint) {
  SS_REQUIRE_FIXTURE(checkpoint, "golf_ckptmgr/checkpoints/ckpt-1.index");
  swapserve::testing::TempDir dir;  // a followed directory whose pointer names ckpt-1
  for (const char* f : {"ckpt-1.index", "ckpt-1.data-00000-of-00001"}) {
    swapserve::testing::WriteFileOrDie(
        dir.Join(f), swapserve::testing::ReadFileOrDie(Fixture(std::string("golf_ckptmgr/checkpoints/") + f)));
  }
  swapserve::testing::WriteFileOrDie(dir.Join("checkpoint"), "model_checkpoint_path: \"ckpt-1\"\n");
  CheckExpected("keras3_golf_ckptmgr.json", {"--checkpoint_dir=" + dir.path()});
}

TEST(ServerPredictTest, SeedMlpWithCheckpointDir) {
  // Serve a checkpoint directory whose pointer names cp-0000, the checkpoint the
  // expected outputs use.
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  TempDir ckpt;
  MakeSeedCheckpointDir(prefix, ckpt.path());
  CheckExpected("keras_seed_mlp.json", {"--checkpoint_dir=" + ckpt.path()});
}

TEST(ServerPredictTest, HalfPlusTwoPredictClassifyRegress) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto daemon = Daemon::Start({"--model_name=hp2", "--model_base_path=" + base});
  ASSERT_NE(daemon, nullptr);
  const std::vector<float> want = {2.5, 3, 4.5};

  tfs::PredictResponse predicted;
  ASSERT_TRUE(daemon->prediction()
                  .Predict(ContextWithDeadline().get(), FloatRequest("hp2", "x", {3, 1}, {1, 2, 5}),
                           &predicted)
                  .ok());
  EXPECT_EQ(Floats(predicted.outputs().at("y")), want);
  EXPECT_EQ(predicted.model_spec().version().value(), 123);
  EXPECT_EQ(predicted.model_spec().signature_name(), "serving_default");

  tfs::Input input;
  for (float x : {1.f, 2.f, 5.f}) {
    tensorflow::Example e;
    (*e.mutable_features()->mutable_feature())["x"].mutable_float_list()->add_value(x);
    *input.mutable_example_list()->add_examples() = e;
  }
  tfs::ClassificationRequest classify;
  classify.mutable_model_spec()->set_name("hp2");
  classify.mutable_model_spec()->set_signature_name("classify_x_to_y");
  *classify.mutable_input() = input;
  tfs::ClassificationResponse classified;
  grpc::Status s = daemon->prediction().Classify(ContextWithDeadline().get(), classify, &classified);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(classified.result().classifications_size(), 3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(classified.result().classifications(i).classes_size(), 1);
    EXPECT_EQ(classified.result().classifications(i).classes(0).score(), want[i]);
  }

  tfs::RegressionRequest regress;
  regress.mutable_model_spec()->set_name("hp2");
  regress.mutable_model_spec()->set_signature_name("regress_x_to_y");
  *regress.mutable_input() = input;
  tfs::RegressionResponse regressed;
  s = daemon->prediction().Regress(ContextWithDeadline().get(), regress, &regressed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(regressed.result().regressions_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(regressed.result().regressions(i).value(), want[i]);
  EXPECT_EQ(regressed.model_spec().signature_name(), "regress_x_to_y");
}

TEST(ServerPredictTest, ClassifyWithContextMergesFeatures) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto daemon = Daemon::Start({"--model_name=hp2", "--model_base_path=" + base});
  ASSERT_NE(daemon, nullptr);
  tfs::RegressionRequest regress;
  regress.mutable_model_spec()->set_name("hp2");
  regress.mutable_model_spec()->set_signature_name("regress_x_to_y");
  auto* list = regress.mutable_input()->mutable_example_list_with_context();
  (*list->mutable_context()->mutable_features()->mutable_feature())["x"]
      .mutable_float_list()->add_value(4);
  list->add_examples();  // takes x from the context
  (*list->add_examples()->mutable_features()->mutable_feature())["x"]
      .mutable_float_list()->add_value(6);  // its own x wins
  tfs::RegressionResponse regressed;
  grpc::Status s = daemon->prediction().Regress(ContextWithDeadline().get(), regress, &regressed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(regressed.result().regressions_size(), 2);
  EXPECT_EQ(regressed.result().regressions(0).value(), 4.0f);
  EXPECT_EQ(regressed.result().regressions(1).value(), 5.0f);
}

// GetModelMetadata equals TF Serving's recorded answer, field for field.
void CheckMetadata(const std::string& recorded, const std::string& model_dir,
                   const std::string& name) {
  SS_REQUIRE_FIXTURE(path, recorded);
  SS_REQUIRE_FIXTURE(base, model_dir);
  const json want = ReadJson(path);
  tfs::ModelSpec want_spec;
  tfs::SignatureDefMap want_map;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(want["model_spec"].dump(), &want_spec).ok());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  want["metadata"]["signature_def"].dump(), &want_map)
                  .ok());

  // Policy `all`, so that the recorded answer's version is served either way.
  TempDir dir;
  WriteFileOrDie(dir.Join("models.config"),
                 "model_config_list { config { name: '" + name + "' base_path: '" + base +
                     "' model_platform: 'tensorflow' model_version_policy { all {} } } }");
  auto daemon = Daemon::Start({"--model_config_file=" + dir.Join("models.config")});
  ASSERT_NE(daemon, nullptr);
  tfs::GetModelMetadataRequest request;
  request.mutable_model_spec()->set_name(name);
  request.mutable_model_spec()->mutable_version()->set_value(want_spec.version().value());
  request.add_metadata_field("signature_def");
  tfs::GetModelMetadataResponse response;
  grpc::Status s =
      daemon->prediction().GetModelMetadata(ContextWithDeadline().get(), request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << daemon->Log();
  std::string diff;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(want_spec, response.model_spec())) << diff;
  ASSERT_EQ(response.metadata().size(), 1u);
  tfs::SignatureDefMap got_map;
  ASSERT_TRUE(response.metadata().at("signature_def").UnpackTo(&got_map));
  diff.clear();
  EXPECT_TRUE(differ.Compare(want_map, got_map)) << diff;
}

TEST(ServerPredictTest, MetadataEqualsTfServing) {
  CheckMetadata("tf_serving/half_plus_two_model_metadata.json",
                "tf_serving/saved_model_half_plus_two_cpu", "default");
}

TEST(ServerPredictTest, MetadataEqualsTfServingTwoVersions) {
  CheckMetadata("tf_serving/saved_model_half_plus_two_2_versions_metadata.json",
                "tf_serving/saved_model_half_plus_two_2_versions",
                "saved_model_half_plus_two_2_versions");
}

}  // namespace
}  // namespace swapserve::testing
