// The daemon's life: health (NOT_SERVING until every model has a version, then
// SERVING, checked with `swapserve-cli health`) and SIGTERM: calls in progress
// complete, later ones are refused with UNAVAILABLE and swapserve's message
// (retryable: the client goes to another replica), exit 0.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/strings/match.h"
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

// The refusal every call gets once shutdown has begun (server/services.cc). A call
// cut off by the process exiting also reaches the client as UNAVAILABLE, but with
// gRPC's own message ("Socket closed", "Connection reset by peer", ...).
constexpr char kShuttingDown[] = "swapserve is shutting down; retry on another replica";

// Calls known to be inside a handler when SIGTERM comes (held there by the
// --testing_hooks metadata) complete OK; calls made after the signal get the
// documented refusal; the daemon exits 0. A daemon that exits at once, or
// cancels what it holds, fails the first count.
TEST(ServerLifecycleTest, SigtermDrainsCallsInProgressAndRefusesNewOnes) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto d = Daemon::Start({"--model_name=hp2", "--model_base_path=" + base, "--testing_hooks",
                          "--shutdown_grace_seconds=20"});
  ASSERT_NE(d, nullptr);
  const tfs::PredictRequest request = FloatRequest("hp2", "x", {3}, {1, 2, 5});
  const int held = 3;
  std::atomic<int> held_ok{0};
  std::vector<std::thread> holders;
  for (int i = 0; i < held; ++i) {
    holders.emplace_back([&] {
      auto context = ContextWithDeadline();
      context->AddMetadata("swapserve-testing-hold-ms", "2000");
      tfs::PredictResponse response;
      grpc::Status s = d->prediction().Predict(context.get(), request, &response);
      if (s.ok() && Floats(response.outputs().at("y")) == std::vector<float>{2.5, 3, 4.5}) {
        ++held_ok;
      } else {
        ADD_FAILURE() << "a call in progress at SIGTERM: " << s.error_code() << " "
                      << s.error_message();
      }
    });
  }
  // Every held call is inside its handler: the daemon said so.
  ASSERT_TRUE(WaitFor([&] { return Occurrences(d->Log(), "testing hook: holding a call") == held; },
                      absl::Seconds(20)))
      << d->Log();
  int exit_code = -2;
  std::thread stopper([&] { exit_code = d->Stop(SIGTERM); });
  ASSERT_TRUE(WaitFor([&] { return d->Log().find("Shutting down: draining") != std::string::npos; },
                      absl::Seconds(10)))
      << d->Log();
  // After the signal, while the held calls drain: new calls are refused.
  int refused = 0;
  for (int i = 0; i < 5; ++i) {
    tfs::PredictResponse response;
    grpc::Status s = d->prediction().Predict(ContextWithDeadline().get(), request, &response);
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && s.error_message() == kShuttingDown) {
      ++refused;
    } else {
      ADD_FAILURE() << "a call after SIGTERM: " << s.error_code() << " " << s.error_message();
    }
  }
  for (auto& t : holders) t.join();
  stopper.join();
  EXPECT_EQ(held_ok, held) << d->Log();
  EXPECT_EQ(refused, 5);
  EXPECT_EQ(exit_code, 0) << d->Log();
}

// A second daemon on a port already served is an error, not a silent share of
// its connections (gRPC turns SO_REUSEPORT on unless told not to); the same
// for the REST port.
TEST(ServerLifecycleTest, TakenPortsAreStartErrors) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto first = Daemon::Start({"--model_base_path=" + base}, true);
  ASSERT_NE(first, nullptr);
  // Bounded: a second daemon that does start (as with SO_REUSEPORT) fails the
  // test with timeout's exit code 124 instead of hanging it.
  const std::string swapserve =
      "timeout 30 " + BuiltProgram("server/swapserve") + " --model_base_path=" + base;
  const std::string grpc_port = first->address().substr(first->address().rfind(':') + 1);
  CommandResult grpc = RunCommand(swapserve + " --port=" + grpc_port);
  EXPECT_EQ(grpc.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(grpc.err, "cannot listen on 0.0.0.0:" + grpc_port)) << grpc.err;
  CommandResult rest = RunCommand(swapserve + " --port=0 --rest_api_port=" +
                                  std::to_string(first->rest_port()));
  EXPECT_EQ(rest.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(rest.err, "Address already in use")) << rest.err;
}

// SIGTERM during a stream of real requests (a few milliseconds each): every
// call either completes with the right answer or gets the documented refusal —
// none is cut off — and each client sees the refusal before the daemon exits.
TEST(ServerLifecycleTest, SigtermDuringLoadCutsNoCall) {
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  TempDir ckpt;
  MakeSeedCheckpointDir(prefix, ckpt.path());
  auto d = Daemon::Start({"--model_name=mlp", "--model_base_path=" + model,
                          "--checkpoint_dir=" + ckpt.path(), "--max_message_bytes=16777216"});
  ASSERT_NE(d, nullptr);

  const int batch = 512;
  const tfs::PredictRequest request =
      FloatRequest("mlp", "dense_10_input", {batch, 784}, std::vector<float>(batch * 784, 0.25f));
  const int clients = 4;
  std::atomic<bool> signalled{false};
  std::atomic<int> ok{0}, ok_after_signal{0}, refused{0}, cut{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      auto stub = tfs::PredictionService::NewStub(d->channel());
      // Like a client behind a load balancer: on the refusal it stops sending here.
      for (;;) {
        const bool sent_after_signal = signalled;
        tfs::PredictResponse response;
        grpc::Status s = stub->Predict(ContextWithDeadline().get(), request, &response);
        if (s.ok() && response.outputs().at("dense_11").tensor_shape().dim(0).size() == batch) {
          ++ok;
          if (signalled && !sent_after_signal) ++ok_after_signal;
        } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
                   s.error_message() == kShuttingDown) {
          ++refused;
          return;
        } else {
          ++cut;
          ADD_FAILURE() << "call cut off: " << s.error_code() << " " << s.error_message();
          return;
        }
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return ok >= 4 * clients; }, absl::Seconds(30))) << d->Log();
  signalled = true;
  const int exit_code = d->Stop(SIGTERM);
  for (auto& t : threads) t.join();
  EXPECT_EQ(exit_code, 0) << d->Log();
  EXPECT_EQ(cut, 0);
  EXPECT_EQ(refused, clients) << "every client was told to go elsewhere";
  EXPECT_NE(d->Log().find("Received SIGTERM"), std::string::npos);
  // Not asserted (it depends on timing): calls sent before the signal that
  // completed after it. Reported, to show the load straddled the signal.
  std::printf("calls completed after the signal: %d of %d\n", ok_after_signal.load(), ok.load());
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
