// `swapserve-cli bench` against the real daemon (half_plus_two, with
// --enable_echo and REST): what it reports is what happened — every measured
// call in the count, the latency samples file and the per-second checkpoint
// table; failures counted by gRPC code or HTTP status with exit 1; the floor
// run beside Predict; the open loop holding its rate; usage errors exit 2.
// (Behaviour only: no assertion on how fast anything is.)
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/daemon_harness.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

class CliBenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // (A skip or failure here keeps the test body from running.)
    SS_REQUIRE_FIXTURE(model, "tf_serving/saved_model_half_plus_two_cpu");
    WriteFileOrDie(dir_.Join("input.json"),
                   R"({"inputs": {"x": {"dtype": "DT_FLOAT", "shape": [3, 1], "values": [1, 2, 5]}}})");
    daemon_ = Daemon::Start({"--model_name=hp2",
                             "--model_base_path=" + model,
                             "--enable_echo"},
                            true);
    ASSERT_NE(daemon_, nullptr);
  }

  // Runs bench on the input file with `args` (which name the front: Grpc(), Rest()).
  CommandResult Bench(const std::string& args) {
    return RunCommand(BuiltProgram("client/swapserve-cli") + " bench --input " +
                      dir_.Join("input.json") + " --warmup 0.2 --duration 1 " + args);
  }
  std::string Grpc() const { return "--server " + daemon_->address(); }
  std::string Rest() const { return "--rest 127.0.0.1:" + std::to_string(daemon_->rest_port()); }

  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
};

int64_t CallsInTable(const nlohmann::json& phase, const std::string& checkpoint) {
  int64_t n = 0;
  for (const auto& second : phase["weights_by_second"]) n += second["calls"].value(checkpoint, 0);
  return n;
}

TEST_F(CliBenchTest, GrpcWithTheFloorCountsEveryCall) {
  const std::string samples = dir_.Join("samples.csv");
  const CommandResult r =
      Bench(Grpc() + " --model hp2 --concurrency 2 --floor --json --samples " + samples);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["api"], "grpc");
  EXPECT_EQ(out["concurrency"], 2);
  const int64_t predict = out["predict"]["calls"], floor = out["floor"]["calls"];
  EXPECT_GT(predict, 0);
  EXPECT_GT(floor, 0);
  EXPECT_TRUE(out["predict"]["errors"].empty()) << out["predict"]["errors"];
  // Every measured call is attributed to the weights that answered it.
  EXPECT_EQ(CallsInTable(out["predict"], "saved_model"), predict);
  EXPECT_EQ(CallsInTable(out["floor"], "echo"), floor);
  EXPECT_TRUE(out["predict_over_floor"].contains("qps"));
  for (const char* q : {"p50", "p90", "p99", "p99.9", "max"}) {
    EXPECT_LE(out["predict"]["latency_us"]["p50"].get<double>(),
              out["predict"]["latency_us"][q].get<double>())
        << q;
  }
  std::ifstream in(samples);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "call,latency_us");
  int64_t rows[2] = {0, 0};
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "predict,")) ++rows[0];
    if (absl::StartsWith(line, "floor,")) ++rows[1];
  }
  EXPECT_EQ(rows[0], predict);
  EXPECT_EQ(rows[1], floor);
}

TEST_F(CliBenchTest, RestCallsAreAnsweredAndAttributed) {
  const CommandResult r = Bench(Rest() + " --model hp2 --concurrency 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["api"], "rest");
  const int64_t predict = out["predict"]["calls"];
  EXPECT_GT(predict, 0);
  EXPECT_TRUE(out["predict"]["errors"].empty()) << out["predict"]["errors"];
  EXPECT_EQ(CallsInTable(out["predict"], "saved_model"), predict);
}

TEST_F(CliBenchTest, FailuresAreCountedByCodeAndExitOne) {
  CommandResult r = Bench(Grpc() + " --model nosuch --json");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  nlohmann::json out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["predict"]["calls"], 0);
  EXPECT_GT(out["predict"]["errors"].value("NOT_FOUND", 0), 0) << out["predict"]["errors"];
  r = Bench(Rest() + " --model nosuch --json");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  out = nlohmann::json::parse(r.out);
  EXPECT_GT(out["predict"]["errors"].value("HTTP 404", 0), 0) << out["predict"]["errors"];
}

TEST_F(CliBenchTest, OpenLoopHoldsItsRate) {
  // 100 calls/s for 1 s (Poisson): far fewer calls than a closed loop makes,
  // however fast or slow the machine is.
  const CommandResult r = Bench(Grpc() + " --model hp2 --rate 100 --concurrency 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["mode"], "open");
  EXPECT_GT(out["predict"]["calls"].get<int64_t>(), 0);
  EXPECT_LT(out["predict"]["calls"].get<int64_t>(), 400);
}

TEST_F(CliBenchTest, UsageErrorsExitTwo) {
  struct Case {
    std::string args, message;
  } cases[] = {
      {Rest() + " --model hp2 --floor", "--floor is gRPC's"},
      {Grpc() + " --model hp2 --concurrency 0", "--concurrency must be 1..4096"},
      {Grpc() + " --model hp2 --rate -3", "--rate must be a positive number"},
      {Grpc() + " --input-typo x", "unknown flag"},
  };
  for (const Case& c : cases) {
    const CommandResult r = Bench(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, c.message)) << c.args << "\n" << r.err;
  }
}

}  // namespace
}  // namespace swapserve::testing
