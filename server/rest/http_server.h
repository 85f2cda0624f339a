// HttpServer: the HTTP/1.1 transport of the REST front, on libevent's evhttp
// (what TF Serving's own HTTP server sits on). evhttp parses requests; this
// class turns each one into an HttpRequest, calls one HttpHandler, and writes
// the HttpResponse back. It knows nothing about models or JSON tensors.
//
// Threads: num_threads event loops, each with its own event_base and evhttp,
// all accepting on one listening socket. A connection belongs to the loop that
// accepted it; the handler runs on that loop's thread, so at most num_threads
// handlers run at once and a blocked handler stalls only its own loop's
// connections. Slow clients do not hold a thread: a connection that has not
// finished its headers (or body) is only buffered state in its loop, closed
// after `timeout` without progress.
//
// Limits enforced by evhttp itself (the handler never sees these requests;
// the replies are evhttp's, with a small HTML body and "Connection: close"):
//  - a body over max_body_bytes: "413 Request Entity Too Large". The body is
//    read and discarded first (lingering close) so that the client reads the
//    413 instead of a connection reset; a client sending
//    "Expect: 100-continue" gets no "100 Continue" and so sends its body after
//    its own expect timeout (curl: 1 s), then reads the 413.
//  - headers over max_header_bytes, a malformed request line or header: 400.
//    An unknown method: 501.
//  - no progress for `timeout` while reading a request or writing a response,
//    or an idle keep-alive connection: closed without a reply.
// TLS (options.tls): each connection's bytes pass through OpenSSL under
// evhttp (libevent's bufferevent_openssl); a failed handshake closes the
// connection before any request is read. Everything above applies unchanged.
// Methods: GET and POST reach the handler; OPTIONS is answered here (the CORS
// preflight when enable_cors, else 405); others get 405 with a JSON body.
//
// Thread safety: Shutdown and the destructor must not run concurrently with
// each other; port() from any thread.
// The handler is called concurrently from up to num_threads threads.
#ifndef SWAPSERVE_SERVER_REST_HTTP_SERVER_H_
#define SWAPSERVE_SERVER_REST_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/call_gate.h"
#include "server/rest/tls_context.h"

struct evhttp_request;  // libevent

namespace swapserve::server::rest {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST"
  std::string path;    // as sent, still percent-encoded: see UriDecode()
  std::string query;   // after '?', raw; empty when absent
  std::string body;
  HttpHeaders headers;  // as sent, in order

  // The value of the first header named `name` (case-insensitive), or "".
  absl::string_view Header(absl::string_view name) const;
};

struct HttpResponse {
  int code = 200;
  std::string body;
  // Sent as given; "Content-Type: application/json" is added when absent.
  HttpHeaders headers;
};

// Must always return a response (no exceptions in this codebase).
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  int port = 8501;  // 0: any free port (read it back with port())
  // Event-loop threads; 0: the hardware concurrency (the daemon passes
  // --rest_api_num_threads, whose 0 means four per core, as in TF Serving).
  int num_threads = 0;
  // Read/write inactivity timeout per connection (slow or stalled clients,
  // idle keep-alive connections).
  absl::Duration timeout = absl::Seconds(30);
  size_t max_body_bytes = 64 << 20;
  size_t max_header_bytes = 64 << 10;
  // TF Serving's --rest_api_enable_cors_support: every response carries
  // Access-Control-Allow-{Origin: *, Methods: POST, GET, Headers:
  // Content-Type}, and OPTIONS preflights are answered 204 with them.
  bool enable_cors = false;
  // HTTPS with this context (every connection; a plaintext client's bytes fail
  // the handshake and it is closed); null: plain HTTP.
  std::shared_ptr<TlsContext> tls;
};

// Percent-decodes a path or query component ("+" stays "+").
std::string UriDecode(absl::string_view raw);

// {"error": "<message>"} with the message escaped for JSON.
std::string JsonError(absl::string_view message);

class HttpServer {
 public:
  // Listening (the socket is bound and the loops run) when it returns.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // Shutdown(absl::ZeroDuration()) if not done

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

  // Answers new requests 503 {"error": ...} with "Connection: close", waits up
  // to `grace` for the requests inside the handler, then stops accepting,
  // stops the loops (a handler still running past `grace` is waited for: it
  // cannot be interrupted) and closes every connection.
  void Shutdown(absl::Duration grace);

  struct Worker;  // one event loop; defined in the .cc

 private:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  absl::StatusOr<std::unique_ptr<Worker>> NewWorker();
  absl::Status Listen();
  void StopLoops();

  static void OnRequest(evhttp_request* req, void* worker);
  void Handle(evhttp_request* req);

  const HttpServerOptions options_;
  const HttpHandler handler_;
  CallGate gate_;
  std::vector<std::unique_ptr<Worker>> workers_;
  int port_ = 0;
  bool stopped_ = false;
};

}  // namespace swapserve::server::rest

#endif  // SWAPSERVE_SERVER_REST_HTTP_SERVER_H_
