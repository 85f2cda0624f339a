#include "tests/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/test_support.h"

namespace swapserve::testing {

Reply Curl(const std::string& args) {
  const CommandResult r = RunCommand("curl -sS -i --max-time 10 " + args);
  Reply reply;
  reply.exit_code = r.exit_code;
  reply.err = r.err;
  // With "100 Continue" or a redirect there are several heads: keep the last.
  std::string out = r.out;
  size_t split = out.find("\r\n\r\n");
  while (split != std::string::npos && absl::StartsWith(out, "HTTP/1.1 100")) {
    out = out.substr(split + 4);
    split = out.find("\r\n\r\n");
  }
  reply.head = out.substr(0, split);
  if (split != std::string::npos) reply.body = out.substr(split + 4);
  std::vector<std::string> status = absl::StrSplit(reply.head.substr(0, reply.head.find('\r')), ' ');
  if (status.size() >= 2) (void)absl::SimpleAtoi(status[1], &reply.code);
  return reply;
}

std::string HeaderValue(const Reply& reply, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(reply.head, "\r\n")) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::EqualsIgnoreCase(line.substr(0, colon), name)) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& data) {
  ASSERT_EQ(send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
}

std::string ReadUntilClosed(int fd, absl::Duration timeout, bool* closed) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string out;
  *closed = false;
  while (absl::Now() < deadline) {
    pollfd p = {fd, POLLIN, 0};
    const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (poll(&p, 1, std::max(wait_ms, 1)) <= 0) continue;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      *closed = true;
      break;
    }
    out.append(buf, n);
  }
  return out;
}

bool ClosedByPeer(int fd) {
  pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  char c;
  return recv(fd, &c, 1, MSG_PEEK) <= 0;
}

int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  EXPECT_GT(port, 0) << "no free port: " << std::strerror(errno);
  return port;
}

}  // namespace swapserve::testing
