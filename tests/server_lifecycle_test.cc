// The daemon's life: health (NOT_SERVING until every model has a version, then
// SERVING, checked with `swapserve-cli health`) and SIGTERM during a stream of
// requests — every accepted call completes, later ones are refused with
// UNAVAILABLE (retryable: the client goes to another replica), exit 0.
#include <signal.h>

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "model/formats/checkpoint_state.h"
#include "tests/daemon_harness.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

CommandResult Cli(const Daemon& d, const std::string& args) {
  return RunCommand(BuiltProgram("client/swapserve-cli") + " " + args + " --server " + d.address());
}

TEST(ServerLifecycleTest, HealthFollowsModelAvailability) {
  SS_REQUIRE_FIXTURE(two, "tf_serving/saved_model_half_plus_two_cpu/00000123");
  TempDir dir;
  const std::string base = dir.Join("model");  // does not exist yet
  auto d = Daemon::Start({"--model_name=m", "--model_base_path=" + base,
                          "--file_system_poll_wait_seconds=1"});
  ASSERT_NE(d, nullptr);
  CommandResult r = Cli(*d, "health");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "NOT_SERVING\n");

  ASSERT_EQ(RunCommand("mkdir -p '" + base + "'").exit_code, 0);
  CopyTree(two, base + "/1");
  EXPECT_TRUE(WaitFor([&] { return Cli(*d, "health").exit_code == 0; }, absl::Seconds(20)))
      << d->Log();
  r = Cli(*d, "health");
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST(ServerLifecycleTest, SigtermLosesNoAcceptedRequest) {
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  TempDir ckpt;
  MakeSeedCheckpointDir(prefix, ckpt.path());
  auto d = Daemon::Start({"--model_name=mlp", "--model_base_path=" + model,
                          "--checkpoint_dir=" + ckpt.path(), "--max_message_bytes=16777216"});
  ASSERT_NE(d, nullptr);

  // Requests of a few milliseconds each, so that some are in flight at SIGTERM.
  const int batch = 512;
  const tfs::PredictRequest request =
      FloatRequest("mlp", "dense_10_input", {batch, 784}, std::vector<float>(batch * 784, 0.25f));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0}, lost{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      auto stub = tfs::PredictionService::NewStub(d->channel());
      // Like a client behind a load balancer: on UNAVAILABLE it stops sending here.
      while (!stop) {
        tfs::PredictResponse response;
        grpc::Status s = stub->Predict(ContextWithDeadline().get(), request, &response);
        if (s.ok()) {
          if (response.outputs().at("dense_11").tensor_shape().dim(0).size() != batch) ++lost;
          ++ok;
        } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
          ++refused;  // not accepted: the server was shutting down
          return;
        } else {
          ++lost;
          ADD_FAILURE() << "accepted call failed: " << s.error_code() << " " << s.error_message();
        }
      }
    });
  }
  WaitFor([&] { return ok > 20; }, absl::Seconds(30));
  const int exit_code = d->Stop(SIGTERM);
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(exit_code, 0) << d->Log();
  EXPECT_GT(ok, 20);
  EXPECT_EQ(lost, 0);
  EXPECT_NE(d->Log().find("Received SIGTERM"), std::string::npos);
}

TEST(ServerLifecycleTest, CliRemoteCommands) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  SS_REQUIRE_FIXTURE(three, "tf_serving/saved_model_half_plus_three");
  SS_REQUIRE_FIXTURE(expected, "expected/saved_model_half_plus_two_cpu.json");
  auto d = Daemon::Start({"--model_name=hp2", "--model_base_path=" + base});
  ASSERT_NE(d, nullptr);

  // predict takes the expected/*.json files as they are.
  CommandResult r = Cli(*d, "predict --model hp2 --input '" + expected + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"checkpoint\": \"saved_model\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4.5"), std::string::npos) << r.out;

  TempDir dir;
  WriteFileOrDie(dir.Join("ex.json"), R"({"examples": [{"x": 1.0}, {"x": 5.0}]})");
  r = Cli(*d, "regress --model hp2 --signature regress_x_to_y --input " + dir.Join("ex.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2.5"), std::string::npos) << r.out;
  r = Cli(*d, "classify --model hp2 --signature classify_x_to_y --input " + dir.Join("ex.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"score\": 4.5"), std::string::npos) << r.out;

  r = Cli(*d, "metadata --model hp2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("classify_x_to_y"), std::string::npos) << r.out;
  r = Cli(*d, "status --model hp2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("AVAILABLE"), std::string::npos) << r.out;

  WriteFileOrDie(dir.Join("models.config"),
                 "model_config_list { config { name: 'hp3' base_path: '" + three +
                     "' model_platform: 'tensorflow' } }");
  r = Cli(*d, "reload-config " + dir.Join("models.config"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli(*d, "status --model hp3");
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // Failures: the gRPC status on stderr, exit 1.
  r = Cli(*d, "status --model hp2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("NOT_FOUND: Could not find any versions of model hp2"), std::string::npos)
      << r.err;
  r = Cli(*d, "predict --model hp3 --signature nope --input '" + expected + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("FAILED_PRECONDITION"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace swapserve::testing

namespace swapserve::testing {
namespace {

// Server reflection answers as grpcurl needs: the services, and their descriptors.
TEST(ServerLifecycleTest, ReflectionListsTheServices) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto d = Daemon::Start({"--model_base_path=" + base});
  ASSERT_NE(d, nullptr);
  using grpc::reflection::v1alpha::ServerReflection;
  using grpc::reflection::v1alpha::ServerReflectionRequest;
  using grpc::reflection::v1alpha::ServerReflectionResponse;
  auto stub = ServerReflection::NewStub(d->channel());
  auto context = ContextWithDeadline();
  auto stream = stub->ServerReflectionInfo(context.get());

  ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::set<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.insert(s.name());
  EXPECT_EQ(services.count("tensorflow.serving.PredictionService"), 1u);
  EXPECT_EQ(services.count("tensorflow.serving.ModelService"), 1u);
  EXPECT_EQ(services.count("grpc.health.v1.Health"), 1u);

  ServerReflectionRequest symbol;
  symbol.set_file_containing_symbol("tensorflow.serving.PredictionService");
  ASSERT_TRUE(stream->Write(symbol));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_GT(response.file_descriptor_response().file_descriptor_proto_size(), 0)
      << response.ShortDebugString() << "\n" << d->Log();
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace swapserve::testing
