// --admin_token_file: every call that changes what is served — checkpoint
// Pin/Unpin/Rollback and HandleReloadConfigRequest over gRPC, the checkpoint
// routes' POSTs over REST, and the CLI's forms of them — needs
// `authorization: Bearer <token>`: without one UNAUTHENTICATED / 401, with
// another token PERMISSION_DENIED / 403; read-only calls stay open. Without
// the flag the daemon says once that admin calls are unauthenticated; a token
// file that is empty is a start-up error.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "swapserve/admin/v1/admin.grpc.pb.h"
#include "tests/daemon_harness.h"
#include "tests/http_client.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;
namespace admin = swapserve::admin::v1;

constexpr char kToken[] = "s3cr3t-token-0123456789";

std::unique_ptr<grpc::ClientContext> WithToken(const std::string& token) {
  auto context = ContextWithDeadline();
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

// curl -X POST on `path` with an optional bearer token.
Reply Post(const Daemon& d, const std::string& path, const std::string& token) {
  const std::string header = token.empty() ? "" : "-H 'authorization: Bearer " + token + "' ";
  return Curl("-X POST -H 'Content-Type: application/json' -d '{}' " + header + d.Url(path));
}

class AdminAuthTest : public ::testing::Test {
 protected:
  // The seed MLP following a directory holding cp-0000, started with `flags`.
  std::unique_ptr<Daemon> Start(std::vector<std::string> flags) {
    model_ = Fixture("keras_seed_mlp/saved_model");
    const std::string dir = tmp_.Join("ckpt");
    EXPECT_EQ(RunCommand("mkdir -p " + dir).exit_code, 0);
    MakeSeedCheckpointDir(Fixture("keras_seed_mlp/training_2/cp-0000.ckpt"), dir);
    checkpoint_dir_ = dir;
    flags.insert(flags.end(), {"--model_name=mlp", "--model_base_path=" + model_,
                               "--checkpoint_dir=" + dir});
    return Daemon::Start(flags, /*rest=*/true);
  }
  std::string TokenFile(const std::string& contents) {
    const std::string path = tmp_.Join("token");
    WriteFileOrDie(path, contents);
    return path;
  }
  tfs::ReloadConfigRequest SameConfig() const {
    tfs::ReloadConfigRequest request;
    tfs::ModelConfig* m = request.mutable_config()->mutable_model_config_list()->add_config();
    m->set_name("mlp");
    m->set_base_path(model_);
    m->set_model_platform("tensorflow");
    m->set_checkpoint_dir(checkpoint_dir_);
    return request;
  }

  TempDir tmp_;
  std::string model_, checkpoint_dir_;
};

TEST_F(AdminAuthTest, AdminCallsNeedTheToken) {
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  SS_REQUIRE_FIXTURE(seed, "keras_seed_mlp/training_2/cp-0000.ckpt.index");
  auto d = Start({"--admin_token_file=" + TokenFile(absl::StrCat("  ", kToken, "\n"))});
  ASSERT_NE(d, nullptr);
  auto stub = admin::CheckpointAdmin::NewStub(d->channel());
  admin::UnpinRequest unpin;
  unpin.set_model("mlp");
  admin::ServingState state;

  grpc::Status s = stub->Unpin(WithToken("").get(), unpin, &state);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "Bearer")) << s.error_message();
  s = stub->Unpin(WithToken("s3cr3t-token-0123456788").get(), unpin, &state);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  s = stub->Unpin(WithToken(std::string(kToken) + "x").get(), unpin, &state);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  s = stub->Unpin(WithToken(kToken).get(), unpin, &state);
  EXPECT_TRUE(s.ok()) << s.error_message();

  admin::PinRequest pin;
  pin.set_model("mlp");
  pin.set_prefix("cp-0000.ckpt");
  s = stub->Pin(WithToken("").get(), pin, &state);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  s = stub->Pin(WithToken(kToken).get(), pin, &state);
  EXPECT_TRUE(s.ok()) << s.error_message();
  admin::RollbackRequest rollback;
  rollback.set_model("mlp");
  s = stub->Rollback(WithToken("wrong").get(), rollback, &state);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Read-only calls stay open.
  admin::ListCheckpointsRequest list;
  list.set_model("mlp");
  admin::ListCheckpointsResponse listed;
  s = stub->ListCheckpoints(WithToken("").get(), list, &listed);
  EXPECT_TRUE(s.ok()) << s.error_message();

  // ModelService: the config reload, refused before it is read.
  tfs::ReloadConfigResponse reloaded;
  s = d->models().HandleReloadConfigRequest(WithToken("").get(), SameConfig(), &reloaded);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  s = d->models().HandleReloadConfigRequest(WithToken("nope").get(), SameConfig(), &reloaded);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  s = d->models().HandleReloadConfigRequest(WithToken(kToken).get(), SameConfig(), &reloaded);
  EXPECT_TRUE(s.ok()) << s.error_message();

  // REST: the same rule on the checkpoint routes' POSTs; GETs stay open.
  EXPECT_EQ(Post(*d, "/v1/models/mlp/checkpoints:unpin", "").code, 401);
  EXPECT_EQ(Post(*d, "/v1/models/mlp/checkpoints:unpin", "wrong").code, 403);
  Reply ok = Post(*d, "/v1/models/mlp/checkpoints:unpin", kToken);
  EXPECT_EQ(ok.code, 200) << ok.body;
  EXPECT_EQ(Curl(d->Url("/v1/models/mlp/checkpoints")).code, 200);
  EXPECT_EQ(Curl(d->Url("/v1/models/mlp")).code, 200);

  // The CLI sends the token from a file of its own.
  const std::string cli =
      BuiltProgram("client/swapserve-cli") + " checkpoints unpin --model mlp --server " +
      d->address();
  CommandResult refused = RunCommand(cli);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(refused.err, "UNAUTHENTICATED")) << refused.err;
  CommandResult allowed = RunCommand(cli + " --admin_token_file " + tmp_.Join("token"));
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;

  // Inference needs no token.
  tfs::PredictResponse response;
  s = d->prediction().Predict(
      WithToken("").get(),
      FloatRequest("mlp", "dense_10_input", {1, 784}, std::vector<float>(784, 0.5f)), &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(AdminAuthTest, WithoutATokenAdminCallsAreOpenAndTheDaemonSaysSo) {
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  SS_REQUIRE_FIXTURE(seed, "keras_seed_mlp/training_2/cp-0000.ckpt.index");
  auto d = Start({});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(Occurrences(d->Log(), "are unauthenticated"), 1) << d->Log();
  auto stub = admin::CheckpointAdmin::NewStub(d->channel());
  admin::UnpinRequest unpin;
  unpin.set_model("mlp");
  admin::ServingState state;
  grpc::Status s = stub->Unpin(WithToken("").get(), unpin, &state);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Post(*d, "/v1/models/mlp/checkpoints:unpin", "").code, 200);
}

TEST_F(AdminAuthTest, AnEmptyTokenFileIsAStartError) {
  SS_REQUIRE_FIXTURE(model, "tf_serving/saved_model_half_plus_two_cpu");
  const std::string file = TokenFile(" \n");
  CommandResult r = RunCommand("timeout 30 " + BuiltProgram("server/swapserve") +
                               " --port=0 --model_base_path=" + model +
                               " --admin_token_file=" + file);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "the daemon started instead of refusing the file";
  EXPECT_TRUE(absl::StrContains(r.err, "--admin_token_file " + file + " is empty")) << r.err;
}

}  // namespace
}  // namespace swapserve::testing
