// --enable_batching on the real daemon: concurrent Predict, Classify and
// Regress calls over gRPC and REST are merged (the metrics say so) and each
// gets exactly its own answer; an oversized call is refused as TF Serving
// refuses it; per-version parameter files apply to their version only; the
// flags' errors are clear. (The torn-response test with
// batching is in hot_reload_test.)
#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tensorflow/core/example/example.pb.h"
#include "tests/daemon_harness.h"
#include "tests/http_client.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

constexpr char kMetrics[] = "/monitoring/prometheus/metrics";

// A value of the daemon's metrics scrape (-1: absent).
double Metric(const Daemon& d, absl::string_view name) {
  const Reply r = Curl(d.Url(kMetrics));
  EXPECT_EQ(r.code, 200) << r.head;
  for (absl::string_view line : absl::StrSplit(r.body, '\n')) {
    double value = 0;
    if (absl::StartsWith(line, absl::StrCat(name, " ")) &&
        absl::SimpleAtod(line.substr(name.size() + 1), &value)) {
      return value;
    }
  }
  return -1;
}

std::unique_ptr<Daemon> StartBatching(const TempDir& dir, const std::string& params) {
  WriteFileOrDie(dir.Join("batching.config"), params);
  WriteFileOrDie(dir.Join("monitoring.config"), "prometheus_config { enable: true }\n");
  return Daemon::Start({"--model_name=hp2",
                        "--model_base_path=" + Fixture("tf_serving/saved_model_half_plus_two_cpu"),
                        "--enable_batching",
                        "--batching_parameters_file=" + dir.Join("batching.config"),
                        "--monitoring_config_file=" + dir.Join("monitoring.config")},
                       true);
}

tfs::Input Examples(const std::vector<float>& xs) {
  tfs::Input input;
  for (float x : xs) {
    tensorflow::Example e;
    (*e.mutable_features()->mutable_feature())["x"].mutable_float_list()->add_value(x);
    *input.mutable_example_list()->add_examples() = e;
  }
  return input;
}

TEST(ServerBatchingTest, ConcurrentCallsOnBothFrontsGetTheirOwnAnswers) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  TempDir dir;
  auto d = StartBatching(dir, "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 3000 }\n"
                              "num_batch_threads { value: 2 }\n");
  ASSERT_NE(d, nullptr);
  std::atomic<int> wrong{0}, failed{0}, answered{0};
  std::vector<std::thread> threads;
  // half_plus_two: y = x / 2 + 2, exact in float for these x.
  auto want = [](float x) { return x / 2 + 2; };
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      auto stub = tfs::PredictionService::NewStub(d->channel());
      for (int k = 0; k < 30; ++k) {
        const int rows = 1 + (t + k) % 3;
        std::vector<float> xs;
        for (int r = 0; r < rows; ++r) xs.push_back(static_cast<float>(t * 1000 + k * 10 + r));
        std::vector<float> got;
        if (t % 3 == 0) {  // Predict over gRPC
          tfs::PredictResponse response;
          const grpc::Status s = stub->Predict(
              ContextWithDeadline().get(), FloatRequest("hp2", "x", {rows, 1}, xs), &response);
          if (!s.ok()) {
            ++failed;
            continue;
          }
          got = Floats(response.outputs().at("y"));
        } else if (t % 3 == 1) {  // Regress over gRPC
          tfs::RegressionRequest request;
          request.mutable_model_spec()->set_name("hp2");
          request.mutable_model_spec()->set_signature_name("regress_x_to_y");
          *request.mutable_input() = Examples(xs);
          tfs::RegressionResponse response;
          const grpc::Status s = stub->Regress(ContextWithDeadline().get(), request, &response);
          if (!s.ok()) {
            ++failed;
            continue;
          }
          for (const auto& r : response.result().regressions()) got.push_back(r.value());
        } else {  // Predict over REST, row format
          std::string body = "{\"instances\": [";
          for (int r = 0; r < rows; ++r) absl::StrAppend(&body, r ? ", " : "", "[", xs[r], "]");
          body += "]}";
          TempDir req;
          WriteFileOrDie(req.Join("body"), body);
          const Reply reply = Curl("--data-binary @" + req.Join("body") + " " +
                                   d->Url("/v1/models/hp2:predict"));
          if (reply.code != 200) {
            ++failed;
            continue;
          }
          // {"predictions": [[2.5], [3.0]]}
          for (absl::string_view piece : absl::StrSplit(reply.body, absl::ByAnyChar("[], \n{}:"),
                                                        absl::SkipEmpty())) {
            float v = 0;
            if (absl::SimpleAtof(piece, &v)) got.push_back(v);
          }
        }
        bool ok = got.size() == xs.size();
        for (size_t i = 0; ok && i < xs.size(); ++i) ok = got[i] == want(xs[i]);
        if (!ok) ++wrong;
        ++answered;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(answered, 180);
  const double batches = Metric(*d, "swapserve_batches_total");
  const double calls = Metric(*d, "swapserve_batched_calls_total");
  EXPECT_GT(batches, 0);
  EXPECT_GT(calls, batches) << "no two calls were ever merged";
}

TEST(ServerBatchingTest, OversizedCallsAreRefusedOnBothFronts) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  TempDir dir;
  auto d = StartBatching(dir, "max_batch_size { value: 4 }\n");
  ASSERT_NE(d, nullptr);
  tfs::PredictResponse response;
  const grpc::Status s = d->prediction().Predict(
      ContextWithDeadline().get(), FloatRequest("hp2", "x", {5, 1}, {1, 2, 3, 4, 5}), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "Task size 5 is larger than maximum input batch size 4");
  TempDir req;
  WriteFileOrDie(req.Join("body"), R"({"instances": [1, 2, 3, 4, 5]})");
  const Reply r =
      Curl("--data-binary @" + req.Join("body") + " " + d->Url("/v1/models/hp2:predict"));
  EXPECT_EQ(r.code, 400);
  EXPECT_TRUE(absl::StrContains(r.body, "Task size 5 is larger than maximum input batch size 4"))
      << r.body;
  // Four rows fit.
  ASSERT_TRUE(d->prediction()
                  .Predict(ContextWithDeadline().get(),
                           FloatRequest("hp2", "x", {4, 1}, {1, 2, 3, 4}), &response)
                  .ok());
  EXPECT_EQ(Floats(response.outputs().at("y")), (std::vector<float>{2.5, 3, 3.5, 4}));
}

// --enable_per_model_batching_parameters, as TF Serving: a version whose
// directory holds batching_params.pbtxt batches with those parameters, a
// version without one never batches, and a bad file fails its version's load
// with the file named.
TEST(ServerBatchingTest, PerVersionParametersFiles) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_2_versions");
  TempDir dir;
  const std::string models = dir.Join("hp2");
  ASSERT_EQ(RunCommand("cp -r " + base + " " + models + " && cp -r " + models + "/00000124 " +
                       models + "/00000125")
                .exit_code,
            0);
  // Version 124 holds its calls up to 10 s for a batch of 4; 125's file is bad.
  WriteFileOrDie(models + "/00000124/batching_params.pbtxt",
                 "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 10000000 }\n");
  WriteFileOrDie(models + "/00000125/batching_params.pbtxt", "max_batch_size: 4\n");
  WriteFileOrDie(dir.Join("models.config"),
                 "model_config_list { config { name: 'hp2' base_path: '" + models +
                     "' model_platform: 'tensorflow' model_version_policy { all {} } } }");
  WriteFileOrDie(dir.Join("monitoring.config"), "prometheus_config { enable: true }\n");
  auto d = Daemon::Start({"--model_config_file=" + dir.Join("models.config"),
                          "--enable_batching", "--enable_per_model_batching_parameters",
                          "--monitoring_config_file=" + dir.Join("monitoring.config")},
                         true);
  ASSERT_NE(d, nullptr);

  tfs::GetModelStatusRequest status_request;
  status_request.mutable_model_spec()->set_name("hp2");
  tfs::GetModelStatusResponse status;
  ASSERT_TRUE(d->models().GetModelStatus(ContextWithDeadline().get(), status_request, &status).ok());
  std::map<int64_t, tfs::ModelVersionStatus> by_version;
  for (const auto& v : status.model_version_status()) by_version[v.version()] = v;
  EXPECT_EQ(by_version[123].state(), tfs::ModelVersionStatus::AVAILABLE);
  EXPECT_EQ(by_version[124].state(), tfs::ModelVersionStatus::AVAILABLE);
  EXPECT_NE(by_version[125].state(), tfs::ModelVersionStatus::AVAILABLE);
  const std::string error = by_version[125].status().error_message();
  EXPECT_TRUE(absl::StrContains(error, "00000125/batching_params.pbtxt")) << error;
  EXPECT_TRUE(absl::StrContains(error, "is not a text-format BatchingParameters")) << error;

  auto predict = [&](int64_t version, float x, std::vector<float>* got) {
    tfs::PredictRequest request = FloatRequest("hp2", "x", {1, 1}, {x});
    request.mutable_model_spec()->mutable_version()->set_value(version);
    tfs::PredictResponse response;
    const grpc::Status s = d->prediction().Predict(ContextWithDeadline().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (s.ok()) *got = Floats(response.outputs().at("y"));
  };
  // Without a file, calls run at once, alone (a batcher would hold them).
  for (int k = 0; k < 3; ++k) {
    std::vector<float> got;
    predict(123, static_cast<float>(k), &got);
    EXPECT_EQ(got, std::vector<float>{k / 2.0f + 2});
  }
  EXPECT_EQ(Metric(*d, "swapserve_batches_total"), 0);
  // With one, four concurrent calls make one batch, each getting its own answer.
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { predict(124, 10.0f * t, &got[t]); });
  for (auto& t : threads) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(got[t], std::vector<float>{5.0f * t + 2}) << t;
  EXPECT_EQ(Metric(*d, "swapserve_batches_total"), 1);
  EXPECT_EQ(Metric(*d, "swapserve_batched_calls_total"), 4);
}

TEST(ServerBatchingTest, FlagErrorsAreClear) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  TempDir dir;
  WriteFileOrDie(dir.Join("ok.config"), "max_batch_size { value: 8 }\n");
  WriteFileOrDie(dir.Join("typo.config"), "max_batch_size: 8\n");
  WriteFileOrDie(dir.Join("sizes.config"),
                 "max_batch_size { value: 8 }\nallowed_batch_sizes: 2\nallowed_batch_sizes: 4\n");
  const std::string swapserve =
      BuiltProgram("server/swapserve") + " --port=0 --model_base_path=" + base;
  struct Case {
    std::string flags, message;
  } cases[] = {
      {"--batching_parameters_file=" + dir.Join("ok.config"),
       "--batching_parameters_file is set without setting --enable_batching to true"},
      {"--enable_batching --batching_parameters_file=" + dir.Join("typo.config"),
       "is not a text-format BatchingParameters: line 1"},
      {"--enable_batching --batching_parameters_file=" + dir.Join("sizes.config"),
       dir.Join("sizes.config") +
           ": Last entry in allowed_batch_sizes must match max_batch_size; last entry was 4; "
           "expected 8"},
      {"--enable_batching --batching_parameters_file=" + dir.Join("missing.config"),
       "missing.config"},
      {"--enable_per_model_batching_parameters",
       "--enable_per_model_batching_parameters is only applicable with --enable_batching"},
  };
  for (const Case& c : cases) {
    const CommandResult r = RunCommand("timeout 30 " + swapserve + " " + c.flags);
    EXPECT_EQ(r.exit_code, 2) << c.flags << "\n" << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, c.message)) << c.flags << "\n" << r.err;
  }
}

}  // namespace
}  // namespace swapserve::testing
