// The daemon's REST front against hostile and unlucky clients: malformed JSON,
// 10,000-deep nesting, invalid UTF-8, numbers that crash RapidJSON, an oversized body, a truncated body, a
// slowloris client, a flood of idle connections — after each, a good request
// still succeeds — plus CORS and the SIGTERM drain over HTTP.
#include <signal.h>
#include <unistd.h>

#include <future>
#include <thread>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/daemon_harness.h"
#include "tests/http_client.h"

namespace swapserve::testing {
namespace {

using json = nlohmann::json;

constexpr char kPredict[] = "/v1/models/hp2:predict";
constexpr char kGood[] = R"({"instances": [1.0, 2.0, 5.0]})";

Reply Post(const Daemon& daemon, const std::string& body, const std::string& extra = "") {
  TempDir dir;
  WriteFileOrDie(dir.Join("body"), body);
  return Curl(extra + " --data-binary @" + dir.Join("body") + " " + daemon.Url(kPredict));
}

std::unique_ptr<Daemon> StartHalfPlusTwo(std::vector<std::string> extra = {}) {
  std::vector<std::string> flags = {
      "--model_name=hp2", "--model_base_path=" + Fixture("tf_serving/saved_model_half_plus_two_cpu")};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return Daemon::Start(flags, true);
}

void ExpectGoodRequestSucceeds(const Daemon& daemon) {
  Reply r = Post(daemon, kGood);
  EXPECT_EQ(r.code, 200) << r.exit_code << " " << r.err << r.body;
  EXPECT_EQ(json::parse(r.body, nullptr, false), json::parse(R"({"predictions": [2.5, 3.0, 4.5]})"));
}

std::string ErrorOf(const Reply& r) {
  const json body = json::parse(r.body, nullptr, false);
  return body.is_object() && body.contains("error") ? body["error"].get<std::string>() : "";
}

TEST(ServerRestHostileTest, BadBodiesAreErrorsAndTheDaemonKeepsServing) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto daemon = StartHalfPlusTwo({"--max_message_bytes=1000000"});
  ASSERT_NE(daemon, nullptr);

  Reply malformed = Post(*daemon, R"({"instances": [1.0, 2.0)");
  EXPECT_EQ(malformed.code, 400);
  EXPECT_TRUE(absl::StrContains(ErrorOf(malformed), "JSON Parse error")) << malformed.body;
  ExpectGoodRequestSucceeds(*daemon);

  const std::string deep = R"({"instances": )" + std::string(10000, '[') + "1.0" +
                           std::string(10000, ']') + "}";
  Reply nested = Post(*daemon, deep);
  EXPECT_EQ(nested.code, 400);
  EXPECT_TRUE(absl::StrContains(ErrorOf(nested), "nest")) << nested.body;
  ExpectGoodRequestSucceeds(*daemon);

  Reply utf8 = Post(*daemon, "{\"signature_name\": \"\xff\xfe\", \"instances\": [1.0]}");
  EXPECT_EQ(utf8.code, 400);
  EXPECT_FALSE(ErrorOf(utf8).empty()) << utf8.body;
  ExpectGoodRequestSucceeds(*daemon);

  // Numbers that crashed RapidJSON 1.1.0's strtod (found by rest_json_fuzz):
  // "0." and ~330 zeros, with or without digits after them, or fewer zeros
  // and a negative exponent. Refused before parsing; the classify route too.
  for (const std::string& tiny :
       {"0." + std::string(400, '0') + "7125601678005487388",
        "-0." + std::string(400, '0') + "7", "0." + std::string(300, '0') + "7e-60"}) {
    Reply r = Post(*daemon, R"({"instances": [)" + tiny + "]}");
    EXPECT_EQ(r.code, 400) << tiny.size() << " " << r.exit_code << r.err;
    EXPECT_TRUE(absl::StrContains(ErrorOf(r), "zeros after its decimal point")) << r.body;
  }
  Reply classify = Curl(absl::StrCat(
      "--data-binary '{\"examples\": [{\"x\": 0.", std::string(400, '0'), "1}]}' ",
      daemon->Url("/v1/models/hp2:classify")));
  EXPECT_EQ(classify.code, 400) << classify.exit_code << classify.err;
  EXPECT_TRUE(absl::StrContains(ErrorOf(classify), "zeros after its decimal point"))
      << classify.body;
  ExpectGoodRequestSucceeds(*daemon);
  // NaN and Infinity with a fraction or an exponent after them, which
  // RapidJSON 1.1.0 went on to parse (an assertion, or a NaN significand),
  // and a long zero with more after it.
  for (const char* bad : {"NaN.5", "NaNe-31", "-Infinity.0", "Infe3", "NaN5", "0e55e55"}) {
    Reply r = Post(*daemon, absl::StrCat(R"({"instances": [)", bad, "]}"));
    EXPECT_EQ(r.code, 400) << bad << ": " << r.body;
    EXPECT_TRUE(absl::StrContains(ErrorOf(r), "Invalid value")) << r.body;
  }
  // Zeros written long (whose parse was undefined behaviour in RapidJSON,
  // found by rest_json_fuzz) are zeros.
  Reply zeros = Post(*daemon, R"({"instances": [0.)" + std::string(600, '0') + ", 0." +
                                  std::string(62, '0') + ", -0." + std::string(100, '0') +
                                  R"(, 0e-30, 0e288, 0.0, 0]})");
  EXPECT_EQ(zeros.code, 200) << zeros.body;
  EXPECT_EQ(json::parse(zeros.body, nullptr, false),
            json::parse(R"({"predictions": [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]})"))
      << zeros.body;
  // Small numbers JSON writers produce still parse, exactly.
  Reply small = Post(*daemon, R"({"instances": [0.)" + std::string(40, '0') + "4, 3e-300]}");
  EXPECT_EQ(small.code, 200) << small.body;
  EXPECT_EQ(json::parse(small.body, nullptr, false), json::parse(R"({"predictions": [2.0, 2.0]})"))
      << small.body;

  // Over --max_message_bytes: 413 from the transport, before any parsing.
  std::string huge = R"({"instances": [)";
  while (huge.size() < 2'000'000) huge += "1.0, ";
  huge += "1.0]}";
  Reply too_big = Post(*daemon, huge, "--expect100-timeout 0.2");
  EXPECT_EQ(too_big.code, 413) << too_big.head;
  ExpectGoodRequestSucceeds(*daemon);

  // A body cut short: the client promises 100 bytes, sends 10 and hangs up.
  const int fd = Connect(daemon->rest_port());
  ASSERT_GE(fd, 0);
  SendAll(fd, absl::StrCat("POST ", kPredict, " HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
                           R"({"instance)"));
  close(fd);
  ExpectGoodRequestSucceeds(*daemon);
}

TEST(ServerRestHostileTest, SlowClientsAndFloodsDoNotStopOthers) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto daemon = StartHalfPlusTwo({"--rest_api_timeout_in_ms=1500", "--rest_api_num_threads=2"});
  ASSERT_NE(daemon, nullptr);

  // Slowloris: headers begun and never finished, on every loop's connections.
  std::vector<int> slow;
  for (int i = 0; i < 8; ++i) {
    const int fd = Connect(daemon->rest_port());
    ASSERT_GE(fd, 0);
    SendAll(fd, "POST /v1/models/hp2:predict HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    slow.push_back(fd);
  }
  ExpectGoodRequestSucceeds(*daemon);
  // The stalled connections are closed after the timeout, without a reply.
  for (int fd : slow) {
    bool closed = false;
    const std::string got = ReadUntilClosed(fd, absl::Seconds(10), &closed);
    EXPECT_TRUE(closed) << "a stalled client was never cut off";
    close(fd);
  }

  // A flood of idle connections.
  std::vector<int> flood;
  for (int i = 0; i < 400; ++i) {
    const int fd = Connect(daemon->rest_port());
    ASSERT_GE(fd, 0) << "connection " << i;
    flood.push_back(fd);
  }
  ExpectGoodRequestSucceeds(*daemon);
  for (int fd : flood) close(fd);
  ExpectGoodRequestSucceeds(*daemon);
  EXPECT_FALSE(absl::StrContains(daemon->Log(), "Check failed")) << daemon->Log();
}

TEST(ServerRestHostileTest, CorsOnlyWhenEnabled) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto plain = StartHalfPlusTwo();
  ASSERT_NE(plain, nullptr);
  Reply r = Post(*plain, kGood);
  EXPECT_EQ(HeaderValue(r, "Access-Control-Allow-Origin"), "");
  Reply preflight_off = Curl("-X OPTIONS " + plain->Url(kPredict));
  EXPECT_EQ(preflight_off.code, 405);

  auto cors = StartHalfPlusTwo({"--rest_api_enable_cors_support"});
  ASSERT_NE(cors, nullptr);
  Reply with = Post(*cors, kGood);
  EXPECT_EQ(with.code, 200);
  EXPECT_EQ(HeaderValue(with, "Access-Control-Allow-Origin"), "*");
  Reply preflight = Curl("-X OPTIONS -H 'Origin: http://example.com' " + cors->Url(kPredict));
  EXPECT_EQ(preflight.code, 204) << preflight.head;
  EXPECT_EQ(HeaderValue(preflight, "Access-Control-Allow-Methods"), "POST, GET");
}

// SIGTERM: requests inside the handler finish with their answers, new ones are
// refused 503 (or find nothing listening once the daemon is gone), exit 0.
TEST(ServerRestHostileTest, SigtermDrainsHttpRequestsInProgress) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto daemon = StartHalfPlusTwo({"--testing_hooks", "--shutdown_grace_seconds=20"});
  ASSERT_NE(daemon, nullptr);
  std::vector<std::future<Reply>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::async(std::launch::async, [&] {
      return Post(*daemon, kGood, "-H 'swapserve-testing-hold-ms: 1500'");
    }));
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string log = daemon->Log();
        size_t n = 0;
        for (size_t at = log.find("testing hook: holding"); at != std::string::npos;
             at = log.find("testing hook: holding", at + 1)) {
          ++n;
        }
        return n == 3;
      },
      absl::Seconds(30)))
      << daemon->Log();
  int exit_code = -2;
  std::thread stopper([&] { exit_code = daemon->Stop(SIGTERM); });
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(daemon->Log(), "Shutting down: draining"); },
                      absl::Seconds(10)));
  for (int i = 0; i < 3; ++i) {
    Reply late = Post(*daemon, kGood);
    if (late.exit_code == 7) break;  // curl: could not connect — the daemon is gone
    EXPECT_EQ(late.code, 503) << late.exit_code << " " << late.err << late.head;
    EXPECT_EQ(ErrorOf(late), "swapserve is shutting down; retry on another replica");
  }
  for (auto& f : held) {
    Reply r = f.get();
    EXPECT_EQ(r.code, 200) << "a request in progress at SIGTERM: " << r.exit_code << " " << r.err;
    EXPECT_EQ(json::parse(r.body, nullptr, false),
              json::parse(R"({"predictions": [2.5, 3.0, 4.5]})"));
  }
  stopper.join();
  EXPECT_EQ(exit_code, 0) << daemon->Log();
}

}  // namespace
}  // namespace swapserve::testing
