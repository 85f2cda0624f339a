// --allowed_model_roots: every path the daemon reads must resolve inside the
// roots. A HandleReloadConfigRequest naming a base_path or checkpoint_dir
// outside — directly, through `..`, or through a symlink inside a root — is
// PERMISSION_DENIED and changes nothing; a version directory linked out fails
// its load; a pin outside (absolute, `..`, or a bundle whose files are links
// out) is PERMISSION_DENIED; a `checkpoint` pointer naming a checkpoint outside
// is rejected while the current weights keep serving; a start-up config
// outside is a start-up error.
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/formats/checkpoint_state.h"
#include "swapserve/admin/v1/admin.grpc.pb.h"
#include "tests/daemon_harness.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;
namespace admin = swapserve::admin::v1;

constexpr char kHalf[] = "tf_serving/saved_model_half_plus_two_cpu";
constexpr char kSeedModel[] = "keras_seed_mlp/saved_model";
constexpr char kSeedCheckpoint[] = "keras_seed_mlp/training_2/cp-0000.ckpt";

void Symlink(const std::string& target, const std::string& link) {
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0) << link << " -> " << target;
}

void MakeDir(const std::string& dir) { ASSERT_EQ(RunCommand("mkdir -p " + dir).exit_code, 0); }

// tmp/models (the root) and tmp/outside, each with a copy of half_plus_two,
// and tmp/models/escape, a symlink to tmp/outside.
class AllowedRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.Join("models");
    outside_ = tmp_.Join("outside");
    MakeDir(root_);
    MakeDir(outside_);
    if (!PathExists(Fixture(kHalf))) return;  // the tests skip or fail on it
    CopyTree(Fixture(kHalf), root_ + "/half");
    CopyTree(Fixture(kHalf), outside_ + "/half");
    Symlink(outside_, root_ + "/escape");
  }
  static bool PathExists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

  grpc::Status Reload(Daemon& d, const std::vector<std::pair<std::string, std::string>>& models,
                      const std::string& checkpoint_dir = "") {
    tfs::ReloadConfigRequest request;
    for (const auto& [name, base] : models) {
      tfs::ModelConfig* m = request.mutable_config()->mutable_model_config_list()->add_config();
      m->set_name(name);
      m->set_base_path(base);
      m->set_model_platform("tensorflow");
      if (name == "half") m->set_checkpoint_dir(checkpoint_dir);
    }
    tfs::ReloadConfigResponse response;
    return d.models().HandleReloadConfigRequest(ContextWithDeadline().get(), request, &response);
  }
  bool ServesHalf(Daemon& d) {
    tfs::PredictResponse response;
    grpc::Status s = d.prediction().Predict(ContextWithDeadline().get(),
                                            FloatRequest("half", "x", {1}, {1.0f}), &response);
    return s.ok() && Floats(response.outputs().at("y")) == std::vector<float>({2.5f});
  }

  TempDir tmp_;
  std::string root_, outside_;
};

TEST_F(AllowedRootsTest, ConfigPathsOutsideTheRootsAreRefused) {
  SS_REQUIRE_FIXTURE(half, kHalf);
  auto d = Daemon::Start({"--allowed_model_roots=" + root_, "--model_name=half",
                          "--model_base_path=" + root_ + "/half", "--max_num_load_retries=0"});
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(ServesHalf(*d));

  for (const std::string& bad : {outside_ + "/half", root_ + "/escape/half",
                                 root_ + "/../outside/half", std::string("../outside/half")}) {
    grpc::Status s = Reload(*d, {{"half", root_ + "/half"}, {"other", bad}});
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << bad << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "--allowed_model_roots")) << s.error_message();
  }
  grpc::Status s = Reload(*d, {{"half", root_ + "/half"}}, outside_);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "checkpoint_dir")) << s.error_message();
  EXPECT_TRUE(ServesHalf(*d)) << "a refused config changed what is served";

  // A base path inside whose version directory is a link out: the config is
  // taken, the version's load fails naming the roots.
  MakeDir(root_ + "/linked");
  Symlink(outside_ + "/half/00000123", root_ + "/linked/7");
  s = Reload(*d, {{"half", root_ + "/half"}, {"linked", root_ + "/linked"}});
  ASSERT_TRUE(s.ok()) << s.error_message();
  tfs::GetModelStatusRequest status_request;
  status_request.mutable_model_spec()->set_name("linked");
  tfs::GetModelStatusResponse status;
  s = d->models().GetModelStatus(ContextWithDeadline().get(), status_request, &status);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(status.model_version_status_size(), 1);
  EXPECT_NE(status.model_version_status(0).state(), tfs::ModelVersionStatus::AVAILABLE);
  EXPECT_TRUE(absl::StrContains(status.model_version_status(0).status().error_message(),
                                "outside --allowed_model_roots"))
      << status.DebugString();
  EXPECT_TRUE(ServesHalf(*d));

  // The same paths are fine without the flag (the link is what was refused).
  auto open = Daemon::Start({"--model_name=linked", "--model_base_path=" + root_ + "/linked"});
  ASSERT_NE(open, nullptr);
}

TEST_F(AllowedRootsTest, StartUpOutsideTheRootsFails) {
  SS_REQUIRE_FIXTURE(half, kHalf);
  const std::string swapserve = "timeout 30 " + BuiltProgram("server/swapserve") + " --port=0";
  CommandResult r = RunCommand(swapserve + " --allowed_model_roots=" + root_ +
                               " --model_base_path=" + root_ + "/escape/half");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "the daemon started";
  EXPECT_TRUE(absl::StrContains(r.err, "is outside --allowed_model_roots")) << r.err;
  r = RunCommand(swapserve + " --allowed_model_roots=" + tmp_.Join("absent") +
                 " --model_base_path=" + root_ + "/half");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "is not an existing directory")) << r.err;
}

TEST_F(AllowedRootsTest, PinsAndPointersOutsideTheRootsAreRefused) {
  SS_REQUIRE_FIXTURE(model, kSeedModel);
  SS_REQUIRE_FIXTURE(seed, std::string(kSeedCheckpoint) + ".index");
  CopyTree(model, root_ + "/mlp");
  const std::string ckpt = root_ + "/ckpt", away = outside_ + "/ckpt";
  MakeDir(ckpt);
  MakeDir(away);
  MakeSeedCheckpointDir(Fixture(kSeedCheckpoint), ckpt);
  MakeSeedCheckpointDir(Fixture(kSeedCheckpoint), away);
  // cp-0001: a bundle inside whose files are links out.
  Symlink(away + "/cp-0000.ckpt.index", ckpt + "/cp-0001.ckpt.index");
  Symlink(away + "/cp-0000.ckpt.data-00000-of-00001", ckpt + "/cp-0001.ckpt.data-00000-of-00001");
  auto d = Daemon::Start({"--allowed_model_roots=" + root_, "--model_name=mlp",
                          "--model_base_path=" + root_ + "/mlp", "--checkpoint_dir=" + ckpt,
                          "--checkpoint_settle_seconds=0", "--checkpoint_poll_seconds=0.2"});
  ASSERT_NE(d, nullptr);
  auto stub = admin::CheckpointAdmin::NewStub(d->channel());
  admin::ServingState state;
  for (const std::string& bad : {away + "/cp-0000.ckpt", std::string("../../outside/ckpt/cp-0000.ckpt"),
                                 std::string("cp-0001.ckpt")}) {
    admin::PinRequest pin;
    pin.set_model("mlp");
    pin.set_prefix(bad);
    grpc::Status s = stub->Pin(ContextWithDeadline().get(), pin, &state);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << bad << ": " << s.error_message();
  }
  admin::PinRequest pin;
  pin.set_model("mlp");
  pin.set_prefix("cp-0000.ckpt");
  grpc::Status s = stub->Pin(ContextWithDeadline().get(), pin, &state);
  EXPECT_TRUE(s.ok()) << s.error_message();
  admin::UnpinRequest unpin;
  unpin.set_model("mlp");
  s = stub->Unpin(ContextWithDeadline().get(), unpin, &state);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // The pointer now names the copy outside: rejected, cp-0000 keeps serving.
  tensorflow::CheckpointState pointer;
  pointer.set_model_checkpoint_path(away + "/cp-0000.ckpt");
  ASSERT_TRUE(WriteCheckpointState(ckpt, pointer).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(d->Log(), "checkpoint " + away + "/cp-0000.ckpt is outside");
      },
      absl::Seconds(20)))
      << d->Log();
  admin::ListCheckpointsRequest list;
  list.set_model("mlp");
  admin::ListCheckpointsResponse listed;
  s = stub->ListCheckpoints(ContextWithDeadline().get(), list, &listed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(absl::EndsWith(listed.state().serving_prefix(), "cp-0000.ckpt"))
      << listed.DebugString();
}

}  // namespace
}  // namespace swapserve::testing
