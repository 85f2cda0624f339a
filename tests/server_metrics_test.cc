// --monitoring_config_file: the daemon's Prometheus endpoint on the REST port,
// scraped with curl and checked by promtool (Debian's prometheus package): the
// request counters and latency histograms match the calls made over both
// fronts, and the swap, rejection, step and weights-version metrics move when
// the followed directory gets a good and then a corrupt checkpoint.
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "model/formats/checkpoint_state.h"
#include "nlohmann/json.hpp"
#include "tests/daemon_harness.h"
#include "tests/http_client.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;
constexpr char kPath[] = "/monitoring/prometheus/metrics";

// "name{labels}" -> value, for every sample line of a scrape.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space != absl::string_view::npos && absl::SimpleAtod(line.substr(space + 1), &value)) {
      samples[std::string(line.substr(0, space))] = value;
    }
  }
  return samples;
}

// The scrape, after promtool has read it: it must parse (exit 0 or 3), and
// its only lint complaints may be about TF Serving's own names, which keep
// their colons and suffixes so that existing dashboards work.
std::map<std::string, double> Scrape(const Daemon& daemon) {
  Reply r = Curl(daemon.Url(kPath));
  EXPECT_EQ(r.code, 200) << r.head;
  EXPECT_TRUE(absl::StartsWith(HeaderValue(r, "Content-Type"), "text/plain; version=0.0.4"));
  TempDir dir;
  WriteFileOrDie(dir.Join("scrape"), r.body);
  const CommandResult lint = RunCommand("promtool check metrics < " + dir.Join("scrape"));
  EXPECT_TRUE(lint.exit_code == 0 || lint.exit_code == 3) << "promtool could not read it:\n"
                                                          << lint.err << lint.out;
  for (absl::string_view problem : absl::StrSplit(lint.err + lint.out, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(problem, ":tensorflow:")) << "promtool: " << problem;
  }
  return Samples(r.body);
}

Reply PostPredict(const Daemon& daemon, const std::string& model) {
  TempDir dir;
  const std::string body =
      nlohmann::json{{"instances", nlohmann::json::array({std::vector<float>(784, 0.5f)})}}.dump();
  WriteFileOrDie(dir.Join("body"), body);
  return Curl("--data-binary @" + dir.Join("body") + " " +
              daemon.Url("/v1/models/" + model + ":predict"));
}

// Copies the seed's cp-0000 as DIR/cp-K.ckpt (its data cut in half when
// `corrupt`), then points the pointer at it.
void PublishCopy(const std::string& seed_prefix, const std::string& dir, int k,
                 bool corrupt = false) {
  const std::string name = "cp-000" + std::to_string(k) + ".ckpt";
  const std::string data = dir + "/" + name + ".data-00000-of-00001";
  CopyTree(seed_prefix + ".index", dir + "/" + name + ".index");
  CopyTree(seed_prefix + ".data-00000-of-00001", data);
  if (corrupt) std::filesystem::resize_file(data, std::filesystem::file_size(data) / 2);
  tensorflow::CheckpointState state;
  state.set_model_checkpoint_path(name);
  state.add_all_model_checkpoint_paths(name);
  ASSERT_TRUE(WriteCheckpointState(dir, state).ok());
}

TEST(ServerMetricsTest, CountersMoveWithRequestsAndSwaps) {
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  TempDir ckpt, config;
  MakeSeedCheckpointDir(prefix, ckpt.path());
  WriteFileOrDie(config.Join("monitoring.config"),
                 "prometheus_config { enable: true path: \"/monitoring/prometheus/metrics\" }\n");
  auto daemon = Daemon::Start({"--model_name=mlp", "--model_base_path=" + model,
                               "--checkpoint_dir=" + ckpt.path(),
                               "--monitoring_config_file=" + config.Join("monitoring.config")},
                              true);
  ASSERT_NE(daemon, nullptr);

  for (int i = 0; i < 5; ++i) ASSERT_EQ(PostPredict(*daemon, "mlp").code, 200);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(PostPredict(*daemon, "no-such-model").code, 404);
  for (int i = 0; i < 3; ++i) {
    tfs::PredictResponse response;
    const grpc::Status s = daemon->prediction().Predict(
        ContextWithDeadline().get(),
        FloatRequest("mlp", "dense_10_input", {1, 784}, std::vector<float>(784, 0.5f)), &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  auto m = Scrape(*daemon);
  EXPECT_EQ(m[R"(:tensorflow:serving:request_count{model_name="mlp",status="OK"})"], 8);
  EXPECT_EQ(m[R"(:tensorflow:serving:request_count{model_name="",status="NOT_FOUND"})"], 2)
      << "unknown models share one label value";
  const std::string rest = R"({API="predict",entrypoint="REST",model_name="mlp"})";
  const std::string grpc = R"({API="Predict",entrypoint="GRPC",model_name="mlp"})";
  EXPECT_EQ(m[":tensorflow:serving:request_latency_count" + rest], 5);
  EXPECT_EQ(m[":tensorflow:serving:request_latency_count" + grpc], 3);
  // Every sample lands in a bucket; the buckets are cumulative and end at +Inf.
  const std::string bucket = R"(:tensorflow:serving:request_latency_bucket{API="Predict",entrypoint="GRPC",model_name="mlp",le=")";
  std::map<double, double> by_bound;
  for (const auto& [series, value] : m) {
    double le = 0;
    if (!absl::StartsWith(series, bucket)) continue;
    const std::string bound = series.substr(bucket.size(), series.size() - bucket.size() - 2);
    by_bound[bound == "+Inf" ? INFINITY : (absl::SimpleAtod(bound, &le) ? le : NAN)] = value;
  }
  EXPECT_EQ(by_bound.size(), 33u) << "TF Serving's 32 bounds and +Inf";
  double previous = 0;
  for (const auto& [le, count] : by_bound) {
    EXPECT_GE(count, previous) << "le=" << le;
    previous = count;
  }
  EXPECT_EQ(by_bound[INFINITY], 3);
  EXPECT_DOUBLE_EQ(by_bound.begin()->first, 10) << "the first bound is 10 µs";
  EXPECT_GT(m[":tensorflow:serving:request_latency_sum" + grpc], 0);
  EXPECT_EQ(m[R"(:tensorflow:serving:runtime_latency_count{API="predict",model_name="mlp",runtime="swapserve"})"],
            5);
  EXPECT_EQ(m[R"(:tensorflow:cc:saved_model:load_attempt_count{model_path=")" + model +
              R"(",status="success"})"],
            1);
  EXPECT_EQ(m[R"(swapserve_checkpoint_step{model_name="mlp",version="1"})"], 0);
  EXPECT_EQ(m[R"(swapserve_weights_version{model_name="mlp",version="1"})"], 1);
  EXPECT_EQ(m.count(R"(swapserve_checkpoint_swaps_total{model_name="mlp"})"), 1u)
      << "the swap counter is exported at 0 from the load, so increase() counts the first swap";
  EXPECT_EQ(m[R"(swapserve_checkpoint_swaps_total{model_name="mlp"})"], 0);
  EXPECT_GE(m["swapserve_requests_in_flight"], 1) << "the scrape itself is in flight";

  // A good checkpoint: the swap counter, step and weights version move.
  PublishCopy(prefix, ckpt.path(), 1);
  ASSERT_TRUE(WaitFor([&] { return HeaderValue(PostPredict(*daemon, "mlp"), "swapserve-weights-version") == "2"; },
                      absl::Seconds(30)))
      << daemon->Log();
  m = Scrape(*daemon);
  EXPECT_EQ(m[R"(swapserve_checkpoint_swaps_total{model_name="mlp"})"], 1);
  EXPECT_EQ(m[R"(swapserve_checkpoint_swap_seconds_count{model_name="mlp"})"], 1);
  EXPECT_EQ(m[R"(swapserve_checkpoint_step{model_name="mlp",version="1"})"], 1);
  EXPECT_EQ(m[R"(swapserve_weights_version{model_name="mlp",version="1"})"], 2);

  // A corrupt one (its data cut short): rejected, counted with its code, and
  // the step and weights version stay.
  PublishCopy(prefix, ckpt.path(), 2, /*corrupt=*/true);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& [series, value] : Scrape(*daemon)) {
          if (absl::StartsWith(series, "swapserve_checkpoint_rejections_total{") && value == 1) return true;
        }
        return false;
      },
      absl::Seconds(30)))
      << daemon->Log();
  m = Scrape(*daemon);
  EXPECT_EQ(m[R"(swapserve_checkpoint_swaps_total{model_name="mlp"})"], 1);
  EXPECT_EQ(m[R"(swapserve_checkpoint_step{model_name="mlp",version="1"})"], 1);
  EXPECT_EQ(m[R"(swapserve_weights_version{model_name="mlp",version="1"})"], 2);

  // Every metric the Grafana dashboard queries is in this real scrape (by
  // name, as {__name__="..."} or bare), so no panel stays empty.
  std::set<std::string> names;
  for (const auto& [series, value] : m) names.insert(series.substr(0, series.find('{')));
  const nlohmann::json dashboard = nlohmann::json::parse(
      ReadFileOrDie(std::string(SWAPSERVE_SOURCE_DIR) + "/deploy/grafana/swapserve.json"));
  const std::regex quoted(R"re(__name__="([^"]+)")re"), bare(R"re(\b(swapserve_[a-z_]+)\b)re");
  int queried = 0;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) {
      const std::string expr = target["expr"];
      for (const std::regex* re : {&quoted, &bare}) {
        for (std::sregex_iterator it(expr.begin(), expr.end(), *re), end; it != end; ++it) {
          ++queried;
          EXPECT_TRUE(names.count((*it)[1].str())) << (*it)[1].str() << " (panel \""
                                                   << panel["title"].get<std::string>()
                                                   << "\") is not in the scrape";
        }
      }
    }
  }
  EXPECT_GE(queried, 8);
}

TEST(ServerMetricsTest, ConfigErrorsAreClear) {
  SS_REQUIRE_FIXTURE(model, "tf_serving/saved_model_half_plus_two_cpu");
  TempDir dir;
  WriteFileOrDie(dir.Join("on.config"), "prometheus_config { enable: true }\n");
  WriteFileOrDie(dir.Join("bad.config"), "prometheus_config { enabled: yes }\n");
  const std::string swapserve = BuiltProgram("server/swapserve") + " --port=0 --model_base_path=" + model;
  CommandResult no_rest = RunCommand(swapserve + " --monitoring_config_file=" + dir.Join("on.config"));
  EXPECT_EQ(no_rest.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(no_rest.err, "give --rest_api_port too")) << no_rest.err;
  CommandResult bad = RunCommand(swapserve + " --rest_api_port=1 --monitoring_config_file=" +
                                 dir.Join("bad.config"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "is not a text-format MonitoringConfig: line 1")) << bad.err;
}

// The default path when the config names none; no metrics route without a config.
TEST(ServerMetricsTest, DefaultPathAndOffByDefault) {
  SS_REQUIRE_FIXTURE(model, "tf_serving/saved_model_half_plus_two_cpu");
  TempDir dir;
  WriteFileOrDie(dir.Join("on.config"), "prometheus_config { enable: true }\n");
  auto on = Daemon::Start({"--model_base_path=" + model,
                           "--monitoring_config_file=" + dir.Join("on.config")},
                          true);
  ASSERT_NE(on, nullptr);
  EXPECT_EQ(Curl(on->Url(kPath)).code, 200);
  auto off = Daemon::Start({"--model_base_path=" + model}, true);
  ASSERT_NE(off, nullptr);
  EXPECT_EQ(Curl(off->Url(kPath)).code, 404);
}

}  // namespace
}  // namespace swapserve::testing
