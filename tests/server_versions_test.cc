// Versions and configuration on the real daemon: the three version policies, a
// version directory copied in while serving (no failed request), and config
// reloads (RPC and polled file) that add and remove models while another keeps
// answering.
#include <atomic>
#include <thread>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/daemon_harness.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

// The versions of `model` in state AVAILABLE.
std::vector<int64_t> Available(Daemon& d, const std::string& model) {
  tfs::GetModelStatusRequest request;
  request.mutable_model_spec()->set_name(model);
  tfs::GetModelStatusResponse response;
  if (!d.models().GetModelStatus(ContextWithDeadline().get(), request, &response).ok()) return {};
  std::vector<int64_t> out;
  for (const auto& v : response.model_version_status()) {
    if (v.state() == tfs::ModelVersionStatus::AVAILABLE) out.push_back(v.version());
  }
  return out;
}

grpc::Status PredictVersion(Daemon& d, const std::string& model, std::optional<int64_t> version,
                            float* y = nullptr) {
  tfs::PredictRequest request = FloatRequest(model, "x", {1, 1}, {2});
  if (version) request.mutable_model_spec()->mutable_version()->set_value(*version);
  tfs::PredictResponse response;
  grpc::Status s = d.prediction().Predict(ContextWithDeadline().get(), request, &response);
  if (s.ok() && y != nullptr) *y = Floats(response.outputs().at("y"))[0];
  return s;
}

std::string ModelEntry(const std::string& name, const std::string& base,
                       const std::string& policy = "") {
  return "config { name: '" + name + "' base_path: '" + base +
         "' model_platform: 'tensorflow' " + policy + " }\n";
}

TEST(ServerVersionsTest, Policies) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_2_versions");
  TempDir dir;
  WriteFileOrDie(dir.Join("models.config"),
                 "model_config_list {\n" + ModelEntry("latest", base) +
                     ModelEntry("all", base, "model_version_policy { all {} }") +
                     ModelEntry("specific", base,
                                "model_version_policy { specific { versions: 123 } } "
                                "version_labels { key: 'stable' value: 123 }") +
                     "}\n");
  auto d = Daemon::Start({"--model_config_file=" + dir.Join("models.config")});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(Available(*d, "latest"), (std::vector<int64_t>{124}));
  EXPECT_EQ(Available(*d, "all"), (std::vector<int64_t>{123, 124}));
  EXPECT_EQ(Available(*d, "specific"), (std::vector<int64_t>{123}));

  EXPECT_TRUE(PredictVersion(*d, "latest", 124).ok());
  EXPECT_EQ(PredictVersion(*d, "latest", 123).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(PredictVersion(*d, "all", 123).ok());
  EXPECT_TRUE(PredictVersion(*d, "all", 124).ok());
  EXPECT_TRUE(PredictVersion(*d, "specific", 123).ok());
  EXPECT_EQ(PredictVersion(*d, "specific", 124).error_code(), grpc::StatusCode::NOT_FOUND);

  // Without a version, the highest available one answers.
  tfs::PredictResponse response;
  ASSERT_TRUE(d->prediction()
                  .Predict(ContextWithDeadline().get(), FloatRequest("all", "x", {1, 1}, {2}),
                           &response)
                  .ok());
  EXPECT_EQ(response.model_spec().version().value(), 124);

  // A label resolves to its version.
  tfs::PredictRequest labelled = FloatRequest("specific", "x", {1, 1}, {2});
  labelled.mutable_model_spec()->set_version_label("stable");
  ASSERT_TRUE(d->prediction().Predict(ContextWithDeadline().get(), labelled, &response).ok());
  EXPECT_EQ(response.model_spec().version().value(), 123);
}

TEST(ServerVersionsTest, NewVersionCopiedInWhileServing) {
  SS_REQUIRE_FIXTURE(two, "tf_serving/saved_model_half_plus_two_2_versions");
  SS_REQUIRE_FIXTURE(three, "tf_serving/saved_model_half_plus_three/00000123");
  TempDir dir;
  const std::string base = dir.Join("model");
  ASSERT_EQ(RunCommand("mkdir -p '" + base + "'").exit_code, 0);
  CopyTree(two + "/00000123", base + "/00000123");
  auto d = Daemon::Start({"--model_name=m", "--model_base_path=" + base,
                          "--file_system_poll_wait_seconds=1",
                          "--load_retry_interval_micros=200000"});
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(Available(*d, "m"), (std::vector<int64_t>{123}));

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, answered_by_new{0};
  std::thread load([&] {
    while (!stop) {
      float y = 0;
      if (PredictVersion(*d, "m", std::nullopt, &y).ok()) {
        ++ok;
        if (y == 4.0f) ++answered_by_new;  // 0.5 * 2 + 3
      } else {
        ++failed;
      }
    }
  });
  // Copied file by file, not renamed in: the poller may see a half-copied
  // directory, which must be retried, not fatal.
  ASSERT_EQ(RunCommand("mkdir '" + base + "/00000200' && cp -r '" + three +
                       "/variables' '" + base + "/00000200/' && sleep 1.5 && cp '" + three +
                       "/saved_model.pb' '" + base + "/00000200/'")
                .exit_code,
            0);
  const bool swapped = WaitFor([&] { return Available(*d, "m") == std::vector<int64_t>{200}; },
                               absl::Seconds(30));
  WaitFor([&] { return answered_by_new > 10; }, absl::Seconds(10));
  stop = true;
  load.join();
  EXPECT_TRUE(swapped) << d->Log();
  EXPECT_EQ(failed, 0);
  EXPECT_GT(ok, 0);
  EXPECT_GT(answered_by_new, 0);
}

TEST(ServerVersionsTest, ReloadConfigAddsAndRemovesWhileAnotherAnswers) {
  SS_REQUIRE_FIXTURE(two, "tf_serving/saved_model_half_plus_two_cpu");
  SS_REQUIRE_FIXTURE(three, "tf_serving/saved_model_half_plus_three");
  TempDir dir;
  WriteFileOrDie(dir.Join("models.config"), "model_config_list {" + ModelEntry("two", two) + "}");
  auto d = Daemon::Start({"--model_config_file=" + dir.Join("models.config")});
  ASSERT_NE(d, nullptr);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::thread load([&] {
    while (!stop) (PredictVersion(*d, "two", std::nullopt).ok() ? ok : failed)++;
  });

  tfs::ReloadConfigRequest add;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "model_config_list {" + ModelEntry("two", two) + ModelEntry("three", three) + "}",
      add.mutable_config()));
  tfs::ReloadConfigResponse response;
  grpc::Status s = d->models().HandleReloadConfigRequest(ContextWithDeadline().get(), add, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.status().error_code(), tensorflow::error::OK);
  float y = 0;
  ASSERT_TRUE(PredictVersion(*d, "three", std::nullopt, &y).ok());
  EXPECT_EQ(y, 4.0f);

  tfs::ReloadConfigRequest remove;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "model_config_list {" + ModelEntry("two", two) + "}", remove.mutable_config()));
  ASSERT_TRUE(d->models().HandleReloadConfigRequest(ContextWithDeadline().get(), remove, &response).ok());
  EXPECT_EQ(PredictVersion(*d, "three", std::nullopt).error_code(), grpc::StatusCode::NOT_FOUND);

  // An invalid config is refused and changes nothing.
  tfs::ReloadConfigRequest bad;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "model_config_list { config { name: 'x' } }", bad.mutable_config()));
  s = d->models().HandleReloadConfigRequest(ContextWithDeadline().get(), bad, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("has no base_path"), std::string::npos) << s.error_message();

  stop = true;
  load.join();
  EXPECT_EQ(failed, 0);
  EXPECT_GT(ok, 0);
  EXPECT_TRUE(PredictVersion(*d, "two", std::nullopt).ok());
}

TEST(ServerVersionsTest, PolledConfigFile) {
  SS_REQUIRE_FIXTURE(two, "tf_serving/saved_model_half_plus_two_cpu");
  SS_REQUIRE_FIXTURE(three, "tf_serving/saved_model_half_plus_three");
  TempDir dir;
  const std::string config = dir.Join("models.config");
  WriteFileOrDie(config, "model_config_list {" + ModelEntry("two", two) + "}");
  auto d = Daemon::Start({"--model_config_file=" + config,
                          "--model_config_file_poll_wait_seconds=1"});
  ASSERT_NE(d, nullptr);
  WriteFileOrDie(config, "model_config_list {" + ModelEntry("two", two) +
                             ModelEntry("three", three) + "}");
  EXPECT_TRUE(WaitFor([&] { return PredictVersion(*d, "three", std::nullopt).ok(); },
                      absl::Seconds(20)))
      << d->Log();
  // A broken file is logged and ignored: both models keep answering.
  WriteFileOrDie(config, "model_config_list { this is not text format");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_TRUE(PredictVersion(*d, "two", std::nullopt).ok());
  EXPECT_TRUE(PredictVersion(*d, "three", std::nullopt).ok());
  EXPECT_NE(d->Log().find("is not a text-format ModelServerConfig"), std::string::npos);
}

}  // namespace
}  // namespace swapserve::testing
