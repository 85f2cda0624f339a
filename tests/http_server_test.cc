// HttpServer (server/rest/http_server.h) driven by the real curl binary and by
// raw sockets: routing to the handler, keep-alive, evhttp's limits (body size,
// malformed requests, slow and idle clients), the shutdown drain, CORS, and a
// busy port.
#include "server/rest/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/http_client.h"
#include "tests/test_support.h"

namespace swapserve::server::rest {
namespace {

using ::swapserve::testing::ClosedByPeer;
using ::swapserve::testing::CommandResult;
using ::swapserve::testing::Connect;
using ::swapserve::testing::Curl;
using ::swapserve::testing::ReadUntilClosed;
using ::swapserve::testing::Reply;
using ::swapserve::testing::SendAll;
using ::swapserve::testing::RunCommand;
using ::swapserve::testing::TempDir;
using ::swapserve::testing::WriteFileOrDie;

// Echoes what it was given as JSON; "/status/418" answers as a teapot.
HttpResponse Echo(const HttpRequest& request) {
  HttpResponse response;
  if (request.path == "/status/418") {
    response.code = 418;
    response.body = "teapot";
    response.headers = {{"Content-Type", "text/plain"}, {"X-Custom", "yes"}};
    return response;
  }
  response.body = nlohmann::json{{"method", request.method},
                                 {"path", request.path},
                                 {"query", request.query},
                                 {"body_bytes", request.body.size()},
                                 {"user_agent", request.Header("user-agent")}}
                      .dump();
  return response;
}

HttpServerOptions TestOptions() {
  HttpServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.num_threads = 2;
  return options;
}

std::unique_ptr<HttpServer> StartOrDie(HttpServerOptions options,
                                       HttpHandler handler = Echo) {
  auto server = HttpServer::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

std::string Url(const HttpServer& server, const std::string& path) {
  return absl::StrCat("'http://127.0.0.1:", server.port(), path, "'");
}

TEST(HttpServerTest, GetAndPostReachTheHandler) {
  auto server = StartOrDie(TestOptions());
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);

  Reply get = Curl(Url(*server, "/v1/models/a%2Fb?x=1&y=2"));
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_TRUE(absl::StartsWith(get.head, "HTTP/1.1 200")) << get.head;
  EXPECT_TRUE(get.Has("Content-Type: application/json")) << get.head;
  const auto g = nlohmann::json::parse(get.body);
  EXPECT_EQ(g["method"], "GET");
  EXPECT_EQ(g["path"], "/v1/models/a%2Fb");  // raw: the caller decodes
  EXPECT_EQ(g["query"], "x=1&y=2");
  EXPECT_EQ(g["body_bytes"], 0);
  EXPECT_TRUE(absl::StartsWith(g["user_agent"].get<std::string>(), "curl/"));
  EXPECT_EQ(UriDecode("a%2Fb+c%20d"), "a/b+c d");

  Reply post =
      Curl("--data-binary 'hello' " + Url(*server, "/v1/models/m:predict"));
  ASSERT_EQ(post.exit_code, 0) << post.err;
  const auto p = nlohmann::json::parse(post.body);
  EXPECT_EQ(p["method"], "POST");
  EXPECT_EQ(p["path"], "/v1/models/m:predict");
  EXPECT_EQ(p["body_bytes"], 5);
}

TEST(HttpServerTest, ResponseIsWhatTheHandlerSays) {
  auto server = StartOrDie(TestOptions());
  ASSERT_NE(server, nullptr);
  Reply r = Curl(Url(*server, "/status/418"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.head, "HTTP/1.1 418")) << r.head;
  EXPECT_TRUE(r.Has("X-Custom: yes")) << r.head;
  EXPECT_TRUE(r.Has("Content-Type: text/plain")) << r.head;
  EXPECT_FALSE(r.Has("application/json")) << r.head;
  EXPECT_EQ(r.body, "teapot");
}

TEST(HttpServerTest, MethodsOtherThanGetAndPostGet405) {
  auto server = StartOrDie(TestOptions());
  ASSERT_NE(server, nullptr);
  Reply r = Curl("-X PUT " + Url(*server, "/v1/models/m"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.head, "HTTP/1.1 405")) << r.head;
  EXPECT_TRUE(r.Has("Allow: GET, POST")) << r.head;
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"],
            "method PUT is not allowed");
}

TEST(HttpServerTest, KeepAliveReusesTheConnection) {
  auto server = StartOrDie(TestOptions());
  ASSERT_NE(server, nullptr);
  const CommandResult r =
      RunCommand("curl -sS -v --max-time 10 " + Url(*server, "/a") + " " +
                 Url(*server, "/b"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "Re-using existing connection"))
      << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "\"path\":\"/a\"")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "\"path\":\"/b\"")) << r.out;
}

TEST(HttpServerTest, BodyOverTheLimitGets413AndTheServerGoesOn) {
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 1024;
  std::atomic<int> calls{0};
  auto server = StartOrDie(options, [&](const HttpRequest& r) {
    ++calls;
    return Echo(r);
  });
  ASSERT_NE(server, nullptr);
  TempDir dir;
  WriteFileOrDie(dir.Join("big"), std::string(4096, 'x'));
  WriteFileOrDie(dir.Join("limit"), std::string(1024, 'x'));
  const std::string big = "--data-binary @" + dir.Join("big") + " ";
  // Without "Expect: 100-continue" (curl sends none for small bodies) evhttp
  // reads and discards the body, then answers 413. With it, evhttp sends no
  // "100 Continue" and waits for the body too: the client sends it after its
  // expect timeout (curl's default is 1 s, shortened here) and then gets 413.
  for (const std::string expect :
       {"", "-H 'Expect: 100-continue' --expect100-timeout 0.1 "}) {
    Reply r = Curl(big + expect + Url(*server, "/big"));
    ASSERT_EQ(r.exit_code, 0) << expect << r.err;
    EXPECT_TRUE(absl::StartsWith(r.head, "HTTP/1.1 413")) << expect << r.head;
    EXPECT_TRUE(r.Has("Connection: close")) << r.head;
  }
  EXPECT_EQ(calls.load(), 0);
  Reply ok =
      Curl("--data-binary @" + dir.Join("limit") + " " + Url(*server, "/ok"));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(nlohmann::json::parse(ok.body)["body_bytes"], 1024);
}

TEST(HttpServerTest, SlowClientDoesNotBlockOthersAndIsDropped) {
  HttpServerOptions options = TestOptions();
  options.num_threads = 1;  // one loop: the slow client shares it with curl
  options.timeout = absl::Seconds(1);
  auto server = StartOrDie(options);
  ASSERT_NE(server, nullptr);
  const int slow = Connect(server->port());
  ASSERT_GE(slow, 0);
  SendAll(slow, "GET /slow HTTP/1.1\r\nHost: x\r\nX-Unfinished: ");

  Reply r = Curl(Url(*server, "/fast"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.head, "HTTP/1.1 200")) << r.head;
  // Served while the stalled client was still connected to the same loop.
  ASSERT_FALSE(ClosedByPeer(slow)) << "timed out before curl ran: inconclusive";

  bool closed = false;
  const std::string got = ReadUntilClosed(slow, absl::Seconds(5), &closed);
  EXPECT_TRUE(closed) << "the server kept a stalled client past its timeout";
  EXPECT_EQ(got, "");  // timed out: closed without a reply
  close(slow);
}

TEST(HttpServerTest, HundredsOfOpenConnectionsDoNotStarveANewOne) {
  HttpServerOptions options = TestOptions();
  options.num_threads = 1;
  auto server = StartOrDie(options);
  ASSERT_NE(server, nullptr);
  std::vector<int> fds;
  for (int i = 0; i < 400; ++i) {
    const int fd = Connect(server->port());
    ASSERT_GE(fd, 0) << i;
    fds.push_back(fd);
    if (i % 2 == 0)
      SendAll(fd, "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nab");
  }
  Reply r = Curl(Url(*server, "/after"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.head, "HTTP/1.1 200")) << r.head;
  for (int fd : fds) close(fd);
}

TEST(HttpServerTest, MalformedRequestAndHugeHeadersGet400) {
  auto server = StartOrDie(TestOptions());
  ASSERT_NE(server, nullptr);
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "THIS IS NOT HTTP\r\n\r\n");
  bool closed = false;
  const std::string got = ReadUntilClosed(fd, absl::Seconds(5), &closed);
  close(fd);
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 400")) << got;
  EXPECT_TRUE(closed);

  const int big = Connect(server->port());
  ASSERT_GE(big, 0);
  SendAll(big, "GET / HTTP/1.1\r\nX-Big: " + std::string(70 << 10, 'a') +
                   "\r\n\r\n");  // over the 64 KiB header limit
  const std::string refused = ReadUntilClosed(big, absl::Seconds(5), &closed);
  close(big);
  EXPECT_TRUE(absl::StartsWith(refused, "HTTP/1.1 400")) << refused;

  Reply r = Curl(Url(*server, "/still"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(HttpServerTest, ShutdownLetsTheRunningRequestFinishAndRefusesLaterOnes) {
  absl::Notification entered, release;
  auto server = StartOrDie(TestOptions(), [&](const HttpRequest& r) {
    if (r.path == "/slow") {
      entered.Notify();
      release.WaitForNotification();
    }
    return Echo(r);
  });
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  Reply slow;
  std::thread slow_client([&] { slow = Curl(Url(*server, "/slow")); });
  if (!entered.WaitForNotificationWithTimeout(absl::Seconds(10))) {
    release.Notify();
    slow_client.join();
    FAIL() << "the handler never saw /slow: " << slow.head << slow.err;
  }
  std::thread stopper([&] { server->Shutdown(absl::Seconds(20)); });

  // The gate closes while /slow is inside: new requests get 503 + JSON.
  Reply refused;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    refused = Curl(Url(*server, "/fast"));
  } while (!absl::StartsWith(refused.head, "HTTP/1.1 503") &&
           absl::Now() < deadline);
  EXPECT_TRUE(absl::StartsWith(refused.head, "HTTP/1.1 503")) << refused.head;
  EXPECT_TRUE(refused.Has("Connection: close")) << refused.head;
  EXPECT_EQ(nlohmann::json::parse(refused.body)["error"],
            "the server is shutting down");

  release.Notify();
  slow_client.join();
  stopper.join();
  EXPECT_EQ(slow.exit_code, 0) << slow.err;
  EXPECT_TRUE(absl::StartsWith(slow.head, "HTTP/1.1 200")) << slow.head;
  EXPECT_EQ(nlohmann::json::parse(slow.body)["path"], "/slow");
  // Stopped: nothing listens any more (curl exit 7: could not connect).
  const CommandResult after = RunCommand(
      absl::StrCat("curl -sS --max-time 5 http://127.0.0.1:", port, "/late"));
  EXPECT_EQ(after.exit_code, 7) << after.out << after.err;
}

TEST(HttpServerTest, CorsHeadersOnlyWhenEnabled) {
  auto plain = StartOrDie(TestOptions());
  ASSERT_NE(plain, nullptr);
  Reply r =
      Curl("-H 'Origin: http://example.com' " + Url(*plain, "/v1/models/m"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.Has("Access-Control-Allow-Origin")) << r.head;
  Reply preflight = Curl("-X OPTIONS " + Url(*plain, "/v1/models/m:predict"));
  EXPECT_TRUE(absl::StartsWith(preflight.head, "HTTP/1.1 405"))
      << preflight.head;

  HttpServerOptions options = TestOptions();
  options.enable_cors = true;
  auto cors = StartOrDie(options);
  ASSERT_NE(cors, nullptr);
  r = Curl("-H 'Origin: http://example.com' " + Url(*cors, "/v1/models/m"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.head, "HTTP/1.1 200")) << r.head;
  EXPECT_TRUE(r.Has("Access-Control-Allow-Origin: *")) << r.head;
  EXPECT_TRUE(r.Has("Access-Control-Allow-Methods: POST, GET")) << r.head;
  EXPECT_TRUE(r.Has("Access-Control-Allow-Headers: Content-Type")) << r.head;
  preflight = Curl(
      "-X OPTIONS -H 'Origin: http://example.com' -H "
      "'Access-Control-Request-Method: POST' " +
      Url(*cors, "/v1/models/m:predict"));
  ASSERT_EQ(preflight.exit_code, 0) << preflight.err;
  EXPECT_TRUE(absl::StartsWith(preflight.head, "HTTP/1.1 204"))
      << preflight.head;
  EXPECT_TRUE(preflight.Has("Access-Control-Allow-Origin: *"))
      << preflight.head;
}

TEST(HttpServerTest, BusyPortIsAClearError) {
  auto first = StartOrDie(TestOptions());
  ASSERT_NE(first, nullptr);
  HttpServerOptions options = TestOptions();
  options.port = first->port();
  auto second = HttpServer::Start(options, Echo);
  ASSERT_FALSE(second.ok());
  const std::string message(second.status().message());
  EXPECT_TRUE(
      absl::StrContains(message, absl::StrCat("127.0.0.1:", first->port())))
      << message;
  EXPECT_TRUE(absl::StrContains(message, "Address already in use")) << message;
  // The first one is unaffected.
  Reply r = Curl(Url(*first, "/ok"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace swapserve::server::rest
