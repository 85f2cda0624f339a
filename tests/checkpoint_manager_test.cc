// tf.train.CheckpointManager checkpoints (the model under `net/`, plus `step`,
// `save_counter` and the optimizer): matched to the model by object graph, in
// the library and in the daemon, which follows them as they swap in; the
// pointer's model_checkpoint_path decides which one; another model's
// checkpoint is rejected naming the mismatch.
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/object_graph.h"
#include "model/loaded_model.h"
#include "nlohmann/json.hpp"
#include "tests/daemon_harness.h"
#include "tests/kernel_test_util.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

namespace tfs = tensorflow::serving;
using json = nlohmann::json;
using ::swapserve::testing::ContextWithDeadline;
using ::swapserve::testing::CopyTree;
using ::swapserve::testing::Daemon;
using ::swapserve::testing::Fixture;
using ::swapserve::testing::FloatRequest;
using ::swapserve::testing::TempDir;
using ::swapserve::testing::WaitFor;
using ::swapserve::testing::WriteFileOrDie;

json Expected() {
  std::ifstream in(Fixture("expected/keras3_golf_ckptmgr.json"));
  return json::parse(in);
}

std::vector<float> Values(const json& t) { return t["values"].get<std::vector<float>>(); }

std::vector<float> RunGolf(const LoadedModel& model, const json& c) {
  const json& in = c["inputs"]["dense_input"];
  auto shape = TensorShape::Make(in["shape"].get<std::vector<int64_t>>());
  EXPECT_TRUE(shape.ok());
  auto plan = model.FindPlan("");
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  auto out = (*plan)->Run(*model.weights, {swapserve::testing::Floats(*shape, Values(in))});
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  return swapserve::testing::Values<float>((*out)[0]);
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, double atol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], atol) << i;
}

TEST(CheckpointManagerTest, ModelUnderNetIsMatchedByObjectGraph) {
  SS_REQUIRE_FIXTURE(model_dir, "golf_ckptmgr/saved_model");
  SS_REQUIRE_FIXTURE(ckpt1, "golf_ckptmgr/checkpoints/ckpt-1.index");
  const json c = Expected();
  LoadOptions options;
  options.checkpoint = Fixture(c["checkpoint"].get<std::string>());
  auto model = LoadModel(model_dir, options);
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectNear(RunGolf(**model, c), Values(c["outputs"]["dense_2"]), c["atol"].get<double>());
  // The directory: its pointer names ckpt-2, whose weights are the SavedModel's own.
  options.checkpoint = Fixture("golf_ckptmgr/checkpoints");
  model = LoadModel(model_dir, options);
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectNear(RunGolf(**model, c), Values(c["outputs_saved_model"]["dense_2"]),
             c["atol"].get<double>());
}

TEST(CheckpointManagerTest, RerootingNamesTheObjectAndTheFirstMismatch) {
  SS_REQUIRE_FIXTURE(ckpt1, "golf_ckptmgr/checkpoints/ckpt-1");
  auto reader = BundleReader::Open(ckpt1);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto graph = ReadObjectGraph(**reader);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const std::string kernel0 = "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE";
  auto rerooted = RerootCheckpointKeys(*graph, {kernel0});
  ASSERT_TRUE(rerooted.ok()) << rerooted.status();
  EXPECT_EQ(rerooted->root_path, "net");
  EXPECT_EQ(rerooted->keys, std::vector<std::string>{"net/" + kernel0});
  // A model with a fourth Dense layer: `net` holds three of its four kernels.
  auto missing = RerootCheckpointKeys(
      *graph, {kernel0, "layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE",
               "layer_with_weights-2/kernel/.ATTRIBUTES/VARIABLE_VALUE",
               "layer_with_weights-3/kernel/.ATTRIBUTES/VARIABLE_VALUE"});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "'net', has 3 of its 4"))
      << missing.status();
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "layer_with_weights-3/kernel"))
      << missing.status();
}

TEST(CheckpointManagerTest, AnotherModelsCheckpointIsRejectedNamingTheMismatch) {
  SS_REQUIRE_FIXTURE(model_dir, "golf_ckptmgr/saved_model");
  SS_REQUIRE_FIXTURE(seed, "keras_seed_mlp/training_2/cp-0000.ckpt.index");
  SS_REQUIRE_FIXTURE(seed_model, "keras_seed_mlp/saved_model");
  // The seed MLP's checkpoint (two Dense layers at its root) for golf's three.
  LoadOptions options;
  options.checkpoint = Fixture("keras_seed_mlp/training_2/cp-0000.ckpt");
  auto model = LoadModel(model_dir, options);
  ASSERT_FALSE(model.ok());
  EXPECT_TRUE(absl::StrContains(model.status().message(), "layer_with_weights-2")) << model.status();
  // Golf's checkpoint for the seed MLP: `net` has its objects, of other shapes.
  options.checkpoint = Fixture("golf_ckptmgr/checkpoints/ckpt-1");
  model = LoadModel(seed_model, options);
  ASSERT_FALSE(model.ok());
  EXPECT_TRUE(absl::StrContains(model.status().message(), "key 'net/layer_with_weights-"))
      << model.status();
  EXPECT_TRUE(absl::StrContains(model.status().message(), "but variable dense_1")) << model.status();
}

// The daemon follows the directory: the pointer's model_checkpoint_path
// decides (ckpt-1 named after ckpt-2), each swap answers with its own weights.
TEST(CheckpointManagerTest, DaemonFollowsCheckpointManagerDirectory) {
  SS_REQUIRE_FIXTURE(model_dir, "golf_ckptmgr/saved_model");
  SS_REQUIRE_FIXTURE(checkpoints, "golf_ckptmgr/checkpoints");
  const json c = Expected();
  TempDir tmp;
  const std::string dir = tmp.Join("checkpoints");
  CopyTree(checkpoints, dir);
  auto d = Daemon::Start({"--model_name=golf", "--model_base_path=" + model_dir,
                          "--checkpoint_dir=" + dir, "--checkpoint_poll_seconds=0.2"});
  ASSERT_NE(d, nullptr);
  const json& in = c["inputs"]["dense_input"];
  const tfs::PredictRequest request =
      FloatRequest("golf", "dense_input", in["shape"].get<std::vector<int64_t>>(), Values(in));
  auto ask = [&](std::string* checkpoint) {
    tfs::PredictResponse response;
    auto context = ContextWithDeadline();
    grpc::Status s = d->prediction().Predict(context.get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message() << "\n" << d->Log();
    for (const auto& [k, v] : context->GetServerTrailingMetadata()) {
      if (k == "swapserve-checkpoint") checkpoint->assign(v.data(), v.size());
    }
    return s.ok() ? swapserve::testing::Floats(response.outputs().at("dense_2"))
                  : std::vector<float>();
  };
  std::string served;
  EXPECT_TRUE(WaitFor([&] { return ask(&served), served == "ckpt-2"; }, absl::Seconds(20)))
      << served << "\n" << d->Log();
  ExpectNear(ask(&served), Values(c["outputs_saved_model"]["dense_2"]), c["atol"].get<double>());

  WriteFileOrDie(dir + "/checkpoint.tmp",
                 "model_checkpoint_path: \"ckpt-1\"\n"
                 "all_model_checkpoint_paths: \"ckpt-2\"\n"
                 "all_model_checkpoint_paths: \"ckpt-1\"\n");
  ASSERT_EQ(std::rename((dir + "/checkpoint.tmp").c_str(), (dir + "/checkpoint").c_str()), 0);
  EXPECT_TRUE(WaitFor([&] { return ask(&served), served == "ckpt-1"; }, absl::Seconds(20)))
      << served << "\n" << d->Log();
  ExpectNear(ask(&served), Values(c["outputs"]["dense_2"]), c["atol"].get<double>());
}

}  // namespace
}  // namespace swapserve
