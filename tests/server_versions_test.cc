// Versions and configuration on the real daemon: the three version policies, a
// version directory copied in while serving (no failed request), and config
// reloads (RPC and polled file) that add and remove models while another keeps
// answering.
#include <atomic>
#include <cmath>
#include <thread>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tensorflow/core/example/example.pb.h"
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

// What one RPC answered: its status, the model_spec of its response and the value
// it computed for x = 2 (NaN for GetModelMetadata, which computes none).
struct Answer {
  std::string rpc;
  std::string signature;  // the signature it ran; none for GetModelMetadata
  grpc::Status status;
  tfs::ModelSpec spec;
  float value = std::nanf("");
};

// Predict, Classify, Regress and GetModelMetadata on `spec` (half_plus_two's
// signatures), x = 2.
std::vector<Answer> AskAll(Daemon& d, const tfs::ModelSpec& spec) {
  std::vector<Answer> out(4);
  tfs::PredictRequest predict = FloatRequest(spec.name(), "x", {1, 1}, {2});
  *predict.mutable_model_spec() = spec;
  tfs::PredictResponse predicted;
  out[0] = {"Predict", "serving_default",
            d.prediction().Predict(ContextWithDeadline().get(), predict, &predicted),
            predicted.model_spec()};
  if (out[0].status.ok()) out[0].value = Floats(predicted.outputs().at("y"))[0];

  tensorflow::Example example;
  (*example.mutable_features()->mutable_feature())["x"].mutable_float_list()->add_value(2);
  tfs::ClassificationRequest classify;
  *classify.mutable_model_spec() = spec;
  classify.mutable_model_spec()->set_signature_name("classify_x_to_y");
  *classify.mutable_input()->mutable_example_list()->add_examples() = example;
  tfs::ClassificationResponse classified;
  out[1] = {"Classify", "classify_x_to_y",
            d.prediction().Classify(ContextWithDeadline().get(), classify, &classified),
            classified.model_spec()};
  if (classified.result().classifications_size() > 0 &&
      classified.result().classifications(0).classes_size() > 0) {
    out[1].value = classified.result().classifications(0).classes(0).score();
  }

  tfs::RegressionRequest regress;
  *regress.mutable_model_spec() = spec;
  regress.mutable_model_spec()->set_signature_name("regress_x_to_y");
  *regress.mutable_input()->mutable_example_list()->add_examples() = example;
  tfs::RegressionResponse regressed;
  out[2] = {"Regress", "regress_x_to_y",
            d.prediction().Regress(ContextWithDeadline().get(), regress, &regressed),
            regressed.model_spec()};
  if (regressed.result().regressions_size() > 0) {
    out[2].value = regressed.result().regressions(0).value();
  }

  tfs::GetModelMetadataRequest metadata;
  *metadata.mutable_model_spec() = spec;
  metadata.add_metadata_field("signature_def");
  tfs::GetModelMetadataResponse described;
  out[3] = {"GetModelMetadata", "",
            d.prediction().GetModelMetadata(ContextWithDeadline().get(), metadata, &described),
            described.model_spec()};
  return out;
}

tfs::ModelSpec Spec(const std::string& model, std::optional<int64_t> version,
                    const std::string& label = "") {
  tfs::ModelSpec spec;
  spec.set_name(model);
  if (version) spec.mutable_version()->set_value(*version);
  if (!label.empty()) spec.set_version_label(label);
  return spec;
}

// Every RPC on `spec` answers, and its response's model_spec is what TF Serving
// fills in: the model, `served` — the version that computed it (for a label or
// no version, the one chosen; never the label) — and the signature it ran.
// Both fixture versions compute y = 0.5 * 2 + 2.
void ExpectServedBy(Daemon& d, const tfs::ModelSpec& spec, int64_t served) {
  for (const Answer& a : AskAll(d, spec)) {
    SCOPED_TRACE(a.rpc + " on {" + spec.ShortDebugString() + "}");
    ASSERT_TRUE(a.status.ok()) << a.status.error_message();
    tfs::ModelSpec want = Spec(spec.name(), served);
    if (!a.signature.empty()) want.set_signature_name(a.signature);
    EXPECT_EQ(a.spec.ShortDebugString(), want.ShortDebugString());
    if (!a.signature.empty()) {
      EXPECT_EQ(a.value, 3.0f);
    }
  }
}

// Every RPC on `model` at `version` gets NOT_FOUND naming both.
void ExpectNotServed(Daemon& d, const std::string& model, int64_t version) {
  const std::string want =
      "Servable not found for request: Specific(" + model + ", " + std::to_string(version) + ")";
  for (const Answer& a : AskAll(d, Spec(model, version))) {
    SCOPED_TRACE(a.rpc);
    EXPECT_EQ(a.status.error_code(), grpc::StatusCode::NOT_FOUND) << a.status.error_message();
    EXPECT_EQ(a.status.error_message(), want);
  }
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
                     ModelEntry("all", base,
                                "model_version_policy { all {} } "
                                "version_labels { key: 'stable' value: 123 } "
                                "version_labels { key: 'canary' value: 124 }") +
                     ModelEntry("specific", base,
                                "model_version_policy { specific { versions: 123 } } "
                                "version_labels { key: 'stable' value: 123 }") +
                     "}\n");
  auto d = Daemon::Start({"--model_config_file=" + dir.Join("models.config")});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(Available(*d, "latest"), (std::vector<int64_t>{124}));
  EXPECT_EQ(Available(*d, "all"), (std::vector<int64_t>{123, 124}));
  EXPECT_EQ(Available(*d, "specific"), (std::vector<int64_t>{123}));

  // Both fixture versions compute the same values: only the response's
  // model_spec shows which one answered.
  ExpectServedBy(*d, Spec("latest", 124), 124);
  ExpectNotServed(*d, "latest", 123);
  ExpectServedBy(*d, Spec("all", 123), 123);
  ExpectServedBy(*d, Spec("all", 124), 124);
  ExpectServedBy(*d, Spec("specific", 123), 123);
  ExpectNotServed(*d, "specific", 124);

  // Without a version, the highest available one answers.
  ExpectServedBy(*d, Spec("all", std::nullopt), 124);
  ExpectServedBy(*d, Spec("specific", std::nullopt), 123);

  // A label resolves to its version — on "all", 'stable' is not the latest.
  ExpectServedBy(*d, Spec("all", std::nullopt, "stable"), 123);
  ExpectServedBy(*d, Spec("all", std::nullopt, "canary"), 124);
  ExpectServedBy(*d, Spec("specific", std::nullopt, "stable"), 123);
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
