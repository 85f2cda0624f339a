// HttpConnection (see http_connection.h): blocking sockets with the timeout as
// SO_RCVTIMEO/SO_SNDTIMEO, the answer parsed from one growing buffer.
#include "client/http_connection.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "model/util/status_macros.h"

namespace swapserve::cli {
namespace {

constexpr size_t kMaxHeadBytes = 64 << 10;

absl::Status Closed() { return absl::UnavailableError("the server closed the connection"); }

}  // namespace

HttpConnection::HttpConnection(std::string host_port, absl::Duration timeout) : timeout_(timeout) {
  const size_t colon = host_port.rfind(':');
  host_ = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  port_ = colon == std::string::npos ? "80" : host_port.substr(colon + 1);
}

HttpConnection::~HttpConnection() { Close(); }

void HttpConnection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  buffer_.clear();
}

absl::Status HttpConnection::Connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int e = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found); e != 0) {
    return absl::UnavailableError(absl::StrCat(host_, ":", port_, ": ", gai_strerror(e)));
  }
  timeval tv{};
  tv.tv_sec = absl::ToInt64Seconds(timeout_);
  tv.tv_usec = absl::ToInt64Microseconds(timeout_ - absl::Seconds(tv.tv_sec));
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
    } else {
      error = std::strerror(errno);
      close(fd);
    }
  }
  freeaddrinfo(found);
  if (fd_ < 0) return absl::UnavailableError(absl::StrCat("connecting to ", host_, ":", port_, ": ", error));
  return absl::OkStatus();
}

absl::Status HttpConnection::Send(const std::string& head, const std::string& body) {
  const std::pair<const std::string*, int> parts[] = {{&head, MSG_MORE}, {&body, 0}};
  for (const auto& [data, more] : parts) {
    size_t sent = 0;
    while (sent < data->size()) {
      const ssize_t n = send(fd_, data->data() + sent, data->size() - sent, MSG_NOSIGNAL | more);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::UnavailableError(absl::StrCat("sending: ", std::strerror(errno)));
      sent += static_cast<size_t>(n);
    }
  }
  return absl::OkStatus();
}

absl::Status HttpConnection::Fill() {
  char chunk[64 << 10];
  for (;;) {
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return absl::OkStatus();
    }
    if (n == 0) return Closed();
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return absl::DeadlineExceededError(
          absl::StrCat("no answer within ", absl::FormatDuration(timeout_)));
    }
    return absl::UnavailableError(absl::StrCat("receiving: ", std::strerror(errno)));
  }
}

absl::StatusOr<HttpResponse> HttpConnection::Receive(bool* nothing_read) {
  *nothing_read = false;
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > kMaxHeadBytes) {
      return absl::InvalidArgumentError("the answer's headers exceed 64 KiB");
    }
    const bool empty = buffer_.empty();
    absl::Status filled = Fill();
    if (!filled.ok()) {
      *nothing_read = empty && absl::IsUnavailable(filled);
      return filled;
    }
  }
  HttpResponse response;
  std::vector<std::string> lines = absl::StrSplit(buffer_.substr(0, head_end), "\r\n");
  // "HTTP/1.1 200 OK"
  std::vector<std::string> status = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status.size() < 2 || !absl::StartsWith(status[0], "HTTP/1.") ||
      !absl::SimpleAtoi(status[1], &response.status)) {
    return absl::InvalidArgumentError(absl::StrCat("not an HTTP/1.x answer: ", lines[0]));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    response.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  if (response.headers.count("transfer-encoding") != 0) {
    return absl::UnimplementedError(absl::StrCat(
        "the answer is sent with Transfer-Encoding: ", response.headers["transfer-encoding"],
        "; only Content-Length framing is supported"));
  }
  size_t length = 0;
  auto it = response.headers.find("content-length");
  if (it == response.headers.end() || !absl::SimpleAtoi(it->second, &length)) {
    return absl::InvalidArgumentError("the answer has no valid Content-Length");
  }
  const size_t body_begin = head_end + 4;
  while (buffer_.size() < body_begin + length) RETURN_IF_ERROR(Fill());
  response.body = buffer_.substr(body_begin, length);
  buffer_.erase(0, body_begin + length);
  return response;
}

absl::StatusOr<HttpResponse> HttpConnection::PostJson(const std::string& path,
                                                      const std::string& body) {
  const std::string head =
      absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: ", host_, ":", port_,
                   "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                   "\r\n\r\n");
  for (int attempt = 0;; ++attempt) {
    const bool reused = fd_ >= 0;
    if (fd_ < 0) RETURN_IF_ERROR(Connect());
    const absl::Status sent = Send(head, body);
    bool nothing_read = !sent.ok();
    absl::StatusOr<HttpResponse> response =
        sent.ok() ? Receive(&nothing_read) : absl::StatusOr<HttpResponse>(sent);
    if (response.ok()) {
      auto connection = response->headers.find("connection");
      if (connection != response->headers.end() &&
          absl::AsciiStrToLower(connection->second) == "close") {
        Close();
      }
      return response;
    }
    Close();
    // A kept-alive connection the server had closed: once more on a new one.
    if (!reused || attempt > 0 || !nothing_read) return response.status();
  }
}

}  // namespace swapserve::cli
