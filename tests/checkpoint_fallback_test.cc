// Start-up on a checkpoint directory whose pointer names an unusable
// checkpoint, as a new user meets it: the seed's own training_2 points at
// cp-0050, whose data file is missing (cp-0005..cp-0045 too; cp-0000 is
// complete). The daemon serves the newest usable checkpoint, says so in its
// log and in GetModelStatus (the follower's rejection of cp-0050), and moves
// on as soon as the pointer names a usable one.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/daemon_harness.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

// The checkpoint that answers a batch-1 Predict ("" on failure).
std::string Serving(Daemon& d) {
  auto context = ContextWithDeadline(absl::Seconds(10));
  tfs::PredictResponse response;
  const grpc::Status s = d.prediction().Predict(
      context.get(),
      FloatRequest("mlp", "dense_10_input", {1, 784}, std::vector<float>(784, 0.5f)), &response);
  if (!s.ok()) return "";
  for (const auto& [key, value] : context->GetServerTrailingMetadata()) {
    if (key == "swapserve-checkpoint") return std::string(value.data(), value.size());
  }
  return "(none)";
}

// The status message GetModelStatus gives for the model's one version.
std::string StatusMessage(Daemon& d) {
  auto context = ContextWithDeadline(absl::Seconds(10));
  tfs::GetModelStatusRequest request;
  request.mutable_model_spec()->set_name("mlp");
  tfs::GetModelStatusResponse response;
  if (!d.models().GetModelStatus(context.get(), request, &response).ok() ||
      response.model_version_status_size() != 1) {
    return "";
  }
  return response.model_version_status(0).status().error_message();
}

TEST(CheckpointFallbackTest, BrokenPointerTargetServesTheNewestUsableCheckpoint) {
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  SS_REQUIRE_FIXTURE(training, "keras_seed_mlp/training_2");
  TempDir tmp;
  const std::string dir = tmp.Join("training_2");
  CopyTree(training, dir);
  ASSERT_EQ(RunCommand("chmod -R u+w " + dir).exit_code, 0);
  auto d = Daemon::Start({"--model_name=mlp", "--model_base_path=" + model,
                          "--checkpoint_dir=" + dir});
  ASSERT_NE(d, nullptr);

  EXPECT_EQ(Serving(*d), "cp-0000.ckpt") << d->Log();
  EXPECT_TRUE(absl::StrContains(d->Log(), "serving the newest usable one")) << d->Log();
  EXPECT_TRUE(WaitFor([&] { return absl::StrContains(StatusMessage(*d), "cp-0050"); },
                      absl::Seconds(20)))
      << "status: " << StatusMessage(*d) << "\n" << d->Log();

  // A usable checkpoint behind the pointer: followed at once.
  const std::string seed = dir + "/cp-0000.ckpt";
  ASSERT_EQ(RunCommand(absl::StrCat("cp ", seed, ".index ", dir, "/cp-0060.ckpt.index && cp ",
                                    seed, ".data-00000-of-00001 ", dir,
                                    "/cp-0060.ckpt.data-00000-of-00001"))
                .exit_code,
            0);
  WriteFileOrDie(dir + "/checkpoint.tmp", "model_checkpoint_path: \"cp-0060.ckpt\"\n");
  ASSERT_EQ(std::rename((dir + "/checkpoint.tmp").c_str(), (dir + "/checkpoint").c_str()), 0);
  EXPECT_TRUE(WaitFor([&] { return Serving(*d) == "cp-0060.ckpt"; }, absl::Seconds(20)))
      << d->Log();
  EXPECT_TRUE(WaitFor([&] { return StatusMessage(*d).empty(); }, absl::Seconds(20)))
      << "status: " << StatusMessage(*d);
}

}  // namespace
}  // namespace swapserve::testing
