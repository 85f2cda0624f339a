// HTTP from the tests' side: the real curl binary (what users call the REST API
// with) and raw sockets for what curl will not send (stalled headers, floods).
#ifndef SWAPSERVE_TESTS_HTTP_CLIENT_H_
#define SWAPSERVE_TESTS_HTTP_CLIENT_H_

#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"

namespace swapserve::testing {

// A response as `curl -i` shows it.
struct Reply {
  int exit_code = -1;  // curl's (0: a response arrived)
  int code = 0;        // the HTTP status of the last response
  std::string head;    // status line + headers
  std::string body;
  std::string err;
  bool Has(const std::string& header_line) const { return absl::StrContains(head, header_line); }
};

// Runs `curl -sS -i --max-time 10 ARGS` (ARGS is shell text: quote URLs).
Reply Curl(const std::string& args);

// The value of header `name` in reply.head (case-insensitive), or "".
std::string HeaderValue(const Reply& reply, const std::string& name);

// A TCP connection to 127.0.0.1:port (-1 and a test failure if refused).
int Connect(int port);
void SendAll(int fd, const std::string& data);
// Reads until the peer closes or `timeout` passes; `closed` says which.
std::string ReadUntilClosed(int fd, absl::Duration timeout, bool* closed);
// True when the peer has closed `fd` (without waiting).
bool ClosedByPeer(int fd);

// A loopback port nothing listens on right now (bound, read, released).
int UnusedPort();

}  // namespace swapserve::testing

#endif  // SWAPSERVE_TESTS_HTTP_CLIENT_H_
