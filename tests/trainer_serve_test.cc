// The trainer's SavedModel export, served by the real daemon, answers with the
// trainer's own predictions; and the trainer's checkpoints swap into it.
#include "gtest/gtest.h"
#include "model/formats/checkpoint_state.h"
#include "model/util/file.h"
#include "tests/daemon_harness.h"
#include "trainer/idx_reader.h"
#include "trainer/keras_checkpoint.h"
#include "trainer/network.h"
#include "trainer/trainer.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;
using namespace swapserve::trainer;

TEST(TrainerServeTest, ExportedModelAnswersWithTheTrainersPredictions) {
  const std::string data = "/usr/share/datasets/fashion-mnist";
  if (!PathExists(data + "/train-images-idx3-ubyte.gz")) {
    if (InCi()) FAIL() << "dataset-fashion-mnist is not installed";
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  TempDir dir;
  TrainOptions o;
  o.data_dir = data;
  o.train_examples = 1000;
  o.test_examples = 100;
  o.epochs = 1;
  o.quiet = true;
  o.checkpoint_path = dir.Join("ckpt/cp-{epoch:04d}.ckpt");
  o.export_dir = dir.Join("model/1");
  ASSERT_TRUE(Train(o).ok());

  // The trainer's own logits, from its final checkpoint.
  Network net(MlpSpec(), 0);
  ASSERT_TRUE(RestoreKerasCheckpoint(dir.Join("ckpt/cp-0001.ckpt"), &net, nullptr).ok());
  auto test = ReadMnistSplit(data, "test", 8);
  ASSERT_TRUE(test.ok());
  const auto want = net.Predict(test->images.data(), 8);

  auto d = Daemon::Start({"--model_name=mlp", "--model_base_path=" + dir.Join("model")});
  ASSERT_NE(d, nullptr);
  tfs::PredictResponse response;
  grpc::Status s = d->prediction().Predict(
      ContextWithDeadline().get(), FloatRequest("mlp", "dense_input", {8, 784}, test->images),
      &response);
  ASSERT_TRUE(s.ok()) << s.error_message() << d->Log();
  const std::vector<float> got = Floats(response.outputs().at("dense_1"));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << i;
}

}  // namespace
}  // namespace swapserve::testing
