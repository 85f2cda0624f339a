// swapserve-train's Keras 3 formats: its `.weights.h5` has the layout of a real
// Keras 3 ModelCheckpoint file (handsign_cnn.weights.h5: the same CNN up to
// its 25 classes), its `.keras` export has the fixtures' structure, and
// swapserve serves both with the trainer's own answers.
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "model/formats/keras_archive.h"
#include "model/formats/keras_weights_h5.h"
#include "model/loaded_model.h"
#include "model/util/file.h"
#include "nlohmann/json.hpp"
#include "tests/kernel_test_util.h"
#include "tests/test_support.h"
#include "trainer/adam.h"
#include "trainer/checkpoint_manager.h"
#include "trainer/keras3_checkpoint.h"
#include "trainer/network.h"

namespace swapserve::trainer {
namespace {

using json = nlohmann::json;
using ::swapserve::testing::Fixture;
using ::swapserve::testing::TempDir;

json VariablesJson(const KerasWeightsFile& file) {
  json out = json::object();
  for (const auto& [key, info] : file.variables) {
    out[key] = {{"dtype", DataTypeName(info.dtype)}, {"shape", info.shape.dims()}};
  }
  return out;
}

// A network with Adam state that is not all zeros (one step taken).
struct Trained {
  Network net{CnnSpec(), 7};
  Adam adam{AdamConfig{}, net.params()};
  Trained() {
    std::vector<Floats> grads;
    for (const Param& p : net.params()) grads.emplace_back(p.value.size(), 0.01f);
    adam.Apply(grads, 1.0f, &net.params());
  }
};

TEST(TrainerKeras3Test, WeightsFileHasTheLayoutKeras3Writes) {
  SS_REQUIRE_FIXTURE(expected, "expected/keras3_handsign_weights.json");
  std::ifstream in(expected);
  const json c = json::parse(in);
  // handsign's CNN is ours with 25 classes instead of 10.
  json want = c["variables"];
  for (auto& [key, v] : want.items()) {
    for (auto& d : v["shape"]) {
      if (d == 25) d = 10;
    }
  }
  Trained t;
  TempDir dir;
  const std::string path = dir.Join("cp-0001.weights.h5");
  ASSERT_TRUE(WriteKeras3Checkpoint(path, t.net, &t.adam).ok());
  auto file = ReadKerasWeightsH5(path, nullptr);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(VariablesJson(*file), want);
  EXPECT_EQ(file->values.at("optimizer/vars/0").data<int64_t>()[0], 1);  // one step
  // No temporary left behind, no pointer file (Keras 3 writes none).
  EXPECT_FALSE(PathExists(dir.Join(".cp-0001.weights.h5.tmp")));
  EXPECT_FALSE(PathExists(dir.Join("checkpoint")));
}

TEST(TrainerKeras3Test, CheckpointManagerWritesKeras3FilesAndKeepsTheNewest) {
  Trained t;
  TempDir dir;
  CheckpointManager manager(dir.Join("cp-{epoch:04d}.weights.h5"), 2, CheckpointFormat::kKeras3);
  for (int epoch = 1; epoch <= 3; ++epoch) {
    auto written = manager.Save(epoch, 100, t.net, &t.adam);
    ASSERT_TRUE(written.ok()) << written.status();
  }
  EXPECT_FALSE(PathExists(dir.Join("cp-0001.weights.h5")));
  EXPECT_TRUE(PathExists(dir.Join("cp-0002.weights.h5")));
  EXPECT_TRUE(PathExists(dir.Join("cp-0003.weights.h5")));
  CheckpointManager wrong(dir.Join("cp-{epoch:04d}.ckpt"), 0, CheckpointFormat::kKeras3);
  EXPECT_FALSE(wrong.Save(1, 1, t.net, &t.adam).ok());
}

TEST(TrainerKeras3Test, KerasExportIsServedWithTheTrainersAnswers) {
  SS_REQUIRE_FIXTURE(fixture, "keras3/cifar10_bn_k3.8.keras");
  Trained t;
  TempDir dir;
  const std::string model = dir.Join("cnn.keras");
  ASSERT_TRUE(ExportKerasModel(model, t.net, &t.adam).ok());
  // The fixtures' structure: the same entries and top-level keys.
  auto ours = ReadKerasArchive(model, true);
  auto real = ReadKerasArchive(fixture, false);
  ASSERT_TRUE(ours.ok() && real.ok()) << ours.status() << real.status();
  EXPECT_EQ(ours->keras_version.substr(0, 2), "3.");
  for (const char* key : {"module", "class_name", "config", "registered_name", "build_config"}) {
    EXPECT_TRUE(ours->config.contains(key) && real->config.contains(key)) << key;
  }
  const json& layer = ours->config["config"]["layers"][1];
  for (const auto& [key, value] : real->config["config"]["layers"][1].items()) {
    if (key != "build_config") {
      EXPECT_TRUE(layer.contains(key)) << key;
    }
  }

  auto loaded = LoadModel(model, LoadOptions{});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto plan = (*loaded)->FindPlan("");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ((*plan)->inputs()[0].alias, "input_layer");
  EXPECT_EQ((*plan)->outputs()[0].alias, "output_0");
  std::vector<float> x(2 * 28 * 28);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 100.0f;
  auto out = (*plan)->Run(*(*loaded)->weights, {swapserve::testing::Floats({2, 28, 28, 1}, x)});
  ASSERT_TRUE(out.ok()) << out.status();
  const Floats want = t.net.Predict(x.data(), 2);
  swapserve::testing::ExpectFloats((*out)[0], {2, 10}, std::vector<float>(want.begin(), want.end()),
                                   1e-4f);
  // The trainer's checkpoint file replaces the export's weights key for key.
  const std::string checkpoint = dir.Join("cp-0001.weights.h5");
  ASSERT_TRUE(WriteKeras3Checkpoint(checkpoint, t.net, &t.adam).ok());
  LoadOptions options;
  options.checkpoint = checkpoint;
  auto followed = LoadModel(model, options);
  ASSERT_TRUE(followed.ok()) << followed.status();
  EXPECT_EQ((*followed)->weights->source(), checkpoint);
}

}  // namespace
}  // namespace swapserve::trainer
