// One keep-alive HTTP/1.1 connection, for swapserve-cli bench's REST load: a
// request at a time, answers framed by Content-Length (what the evhttp servers
// of swapserve and TF Serving send; a chunked answer is a clear error). A
// connection the server closed between two requests is reopened once.
//
// Thread safety: none; one per client thread.
#ifndef SWAPSERVE_CLIENT_HTTP_CONNECTION_H_
#define SWAPSERVE_CLIENT_HTTP_CONNECTION_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace swapserve::cli {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

class HttpConnection {
 public:
  // `host_port` as "localhost:8501"; nothing connects until the first Post.
  HttpConnection(std::string host_port, absl::Duration timeout);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // POSTs `body` (application/json) to `path` and reads the answer; an error
  // for a failed connection, a timeout or an answer it cannot frame.
  absl::StatusOr<HttpResponse> PostJson(const std::string& path, const std::string& body);

 private:
  absl::Status Connect();
  void Close();
  absl::Status Send(const std::string& head, const std::string& body);
  // Reads one answer; *nothing_read says the peer closed before its first byte.
  absl::StatusOr<HttpResponse> Receive(bool* nothing_read);
  absl::Status Fill();  // reads more into buffer_

  std::string host_, port_;
  absl::Duration timeout_;
  int fd_ = -1;
  std::string buffer_;  // received, not yet consumed
};

}  // namespace swapserve::cli

#endif  // SWAPSERVE_CLIENT_HTTP_CONNECTION_H_
