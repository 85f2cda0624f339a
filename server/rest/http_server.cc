// HttpServer on evhttp: see http_server.h for the threading and the limits.
#include "server/rest/http_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace swapserve::server::rest {

struct HttpServer::Worker {
  HttpServer* server = nullptr;
  event_base* base = nullptr;
  evhttp* http = nullptr;
  evhttp_bound_socket* listener = nullptr;
  std::thread thread;

  ~Worker() {
    if (http != nullptr) evhttp_free(http);  // closes connections + listener
    if (base != nullptr) event_base_free(base);
  }
};

namespace {

// After the drain, how long the loops keep running so that the responses
// written last reach the kernel before the connections are closed.
constexpr timeval kFlushTime = {0, 50 * 1000};

// The CORS headers TF Serving adds (model_servers/http_rest_api_util.cc).
const HttpHeaders& CorsHeaders() {
  static const HttpHeaders* headers = new HttpHeaders{
      {"Access-Control-Allow-Origin", "*"},
      {"Access-Control-Allow-Methods", "POST, GET"},
      {"Access-Control-Allow-Headers", "Content-Type"},
  };
  return *headers;
}

// Once per process: locking for bases used from several threads (Shutdown
// calls event_base_once on them), and EPIPE instead of SIGPIPE when a client
// went away mid-response.
void InitLibeventOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    evthread_use_pthreads();
    std::signal(SIGPIPE, SIG_IGN);
  });
}

timeval TimeoutTimeval(absl::Duration d) {
  timeval tv = absl::ToTimeval(d);
  if (tv.tv_sec < 0) tv = {0, 0};
  return tv;
}

const char* MethodName(evhttp_cmd_type type) {
  switch (type) {
    case EVHTTP_REQ_GET:
      return "GET";
    case EVHTTP_REQ_POST:
      return "POST";
    case EVHTTP_REQ_OPTIONS:
      return "OPTIONS";
    case EVHTTP_REQ_HEAD:
      return "HEAD";
    case EVHTTP_REQ_PUT:
      return "PUT";
    case EVHTTP_REQ_DELETE:
      return "DELETE";
    case EVHTTP_REQ_PATCH:
      return "PATCH";
    default:
      return "OTHER";
  }
}

HttpRequest ToRequest(evhttp_request* req) {
  HttpRequest out;
  out.method = MethodName(evhttp_request_get_command(req));
  if (const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req)) {
    if (const char* path = evhttp_uri_get_path(uri)) out.path = path;
    if (const char* query = evhttp_uri_get_query(uri)) out.query = query;
  }
  if (out.path.empty()) out.path = "/";
  evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    out.headers.emplace_back(h->key, h->value);
  }
  evbuffer* body = evhttp_request_get_input_buffer(req);
  out.body.resize(evbuffer_get_length(body));
  if (!out.body.empty())
    evbuffer_copyout(body, out.body.data(), out.body.size());
  return out;
}

void Send(evhttp_request* req, const HttpResponse& response, bool cors) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  bool has_type = false;
  for (const auto& [name, value] : response.headers) {
    has_type |= absl::EqualsIgnoreCase(name, "Content-Type");
    evhttp_add_header(headers, name.c_str(), value.c_str());
  }
  if (!has_type) evhttp_add_header(headers, "Content-Type", "application/json");
  if (cors) {
    for (const auto& [name, value] : CorsHeaders()) {
      evhttp_add_header(headers, name.c_str(), value.c_str());
    }
  }
  evbuffer* out = evhttp_request_get_output_buffer(req);
  evbuffer_add(out, response.body.data(), response.body.size());
  // A null reason: evhttp uses the standard phrase for the code.
  evhttp_send_reply(req, response.code, nullptr, nullptr);
}

HttpResponse ErrorResponse(int code, absl::string_view message) {
  HttpResponse response;
  response.code = code;
  response.body = JsonError(message);
  return response;
}

// A listening TCP socket (non-blocking, close-on-exec) for address:port. Made
// here rather than by evhttp_bind_socket for the backlog: evhttp listens with
// 128, which a burst of new connections overflows (the kernel then drops SYNs
// and clients retry after a second); SOMAXCONN is the system's cap.
absl::StatusOr<int> OpenListeningSocket(const std::string& address, int port) {
  const std::string where = absl::StrCat(address, ":", port);
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(address.empty() ? nullptr : address.c_str(),
                             std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "REST server cannot resolve ", where, ": ", gai_strerror(rc)));
  }
  const int fd = socket(found->ai_family,
                        found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        found->ai_protocol);
  int error = errno;
  if (fd >= 0) {
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
      error = errno;
      close(fd);
    } else {
      error = 0;
    }
  }
  freeaddrinfo(found);
  if (error != 0) {
    return absl::UnavailableError(absl::StrCat(
        "REST server cannot listen on ", where, ": ", std::strerror(error)));
  }
  return fd;
}

// evhttp's bufferevent factory under TLS: each accepted connection gets an
// OpenSSL bufferevent in the accepting state (evhttp sets its socket). A client
// that closes without TLS's close_notify is an ordinary close for HTTP/1.1.
bufferevent* NewTlsBufferevent(event_base* base, void* ctx) {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx));
  bufferevent* bev =
      ssl == nullptr ? nullptr
                     : bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE);
  if (bev == nullptr) {
    // evhttp would fall back to a plaintext connection: out of memory here is
    // not worth that risk.
    std::fputs("swapserve: out of memory for a TLS connection\n", stderr);
    std::abort();
  }
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}

int BoundPort(int fd) {
  sockaddr_storage addr = {};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return addr.ss_family == AF_INET6
             ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
             : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

}  // namespace

absl::string_view HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

std::string UriDecode(absl::string_view raw) {
  // evhttp_uridecode wants a NUL-terminated string.
  const std::string copy(raw);
  size_t size = 0;
  char* decoded = evhttp_uridecode(copy.c_str(), /*decode_plus=*/0, &size);
  if (decoded == nullptr) return copy;
  std::string out(decoded, size);
  std::free(decoded);
  return out;
}

std::string JsonError(absl::string_view message) {
  const nlohmann::json body = {{"error", std::string(message)}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Shutdown(absl::ZeroDuration()); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options, HttpHandler handler) {
  InitLibeventOnce();
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("REST port ", options.port, " is out of range"));
  }
  if (options.num_threads <= 0) {
    options.num_threads =
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  std::unique_ptr<HttpServer> server(
      new HttpServer(std::move(options), std::move(handler)));
  if (absl::Status status = server->Listen(); !status.ok()) {
    server->stopped_ = true;  // no loop runs; the Workers free what was made
    return status;
  }
  for (auto& worker : server->workers_) {
    worker->thread = std::thread([base = worker->base] {
      event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    });
  }
  return server;
}

// One event_base + evhttp with the options' limits; not yet accepting.
absl::StatusOr<std::unique_ptr<HttpServer::Worker>> HttpServer::NewWorker() {
  auto worker = std::make_unique<Worker>();
  worker->server = this;
  worker->base = event_base_new();
  if (worker->base == nullptr)
    return absl::InternalError("event_base_new failed");
  worker->http = evhttp_new(worker->base);
  if (worker->http == nullptr) return absl::InternalError("evhttp_new failed");
  evhttp* http = worker->http;
  // Every method evhttp knows reaches Handle(), which answers 405 itself
  // (with a JSON body) for those the API does not serve. Unknown methods get
  // evhttp's 501.
  evhttp_set_allowed_methods(
      http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
  evhttp_set_max_body_size(http,
                           static_cast<ev_ssize_t>(options_.max_body_bytes));
  evhttp_set_max_headers_size(
      http, static_cast<ev_ssize_t>(options_.max_header_bytes));
  const timeval timeout = TimeoutTimeval(options_.timeout);
  evhttp_set_timeout_tv(http, &timeout);
  // Read (and discard) an over-limit body before answering 413, so that the
  // client reads the 413 rather than a connection reset.
  evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
  evhttp_set_gencb(http, &HttpServer::OnRequest, worker.get());
  if (options_.tls != nullptr) evhttp_set_bevcb(http, &NewTlsBufferevent, options_.tls->get());
  return worker;
}

// Every loop accepts on its own dup() of one listening socket (each evhttp
// closes the descriptor it owns; they share the one kernel socket).
absl::Status HttpServer::Listen() {
  absl::StatusOr<int> fd = OpenListeningSocket(options_.address, options_.port);
  if (!fd.ok()) return fd.status();
  port_ = BoundPort(*fd);
  for (int i = 0; i < options_.num_threads; ++i) {
    absl::StatusOr<std::unique_ptr<Worker>> worker = NewWorker();
    if (!worker.ok()) {
      if (i == 0) close(*fd);  // later, worker 0 owns it
      return worker.status();
    }
    const int own = i == 0 ? *fd : fcntl(*fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
      return absl::InternalError(absl::StrCat(
          "REST server: dup of the listening socket: ", std::strerror(errno)));
    }
    (*worker)->listener =
        evhttp_accept_socket_with_handle((*worker)->http, own);
    if ((*worker)->listener == nullptr) {
      close(own);
      return absl::InternalError("REST server: evhttp_accept_socket failed");
    }
    workers_.push_back(*std::move(worker));
  }
  return absl::OkStatus();
}

void HttpServer::OnRequest(evhttp_request* req, void* worker) {
  static_cast<Worker*>(worker)->server->Handle(req);
}

void HttpServer::Handle(evhttp_request* req) {
  const bool cors = options_.enable_cors;
  CallGuard guard(&gate_);
  if (!guard.entered()) {
    HttpResponse response = ErrorResponse(503, "the server is shutting down");
    response.headers.emplace_back("Connection", "close");
    Send(req, response, cors);
    return;
  }
  const evhttp_cmd_type type = evhttp_request_get_command(req);
  if (type == EVHTTP_REQ_OPTIONS && cors) {
    Send(req, HttpResponse{.code = 204, .body = {}, .headers = {}}, cors);
    return;
  }
  if (type != EVHTTP_REQ_GET && type != EVHTTP_REQ_POST) {
    HttpResponse response = ErrorResponse(
        405, absl::StrCat("method ", MethodName(type), " is not allowed"));
    response.headers.emplace_back("Allow",
                                  cors ? "GET, POST, OPTIONS" : "GET, POST");
    Send(req, response, cors);
    return;
  }
  Send(req, handler_(ToRequest(req)), cors);
}

void HttpServer::Shutdown(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  gate_.CloseAndDrain(grace);
  StopLoops();
}

// In each loop's own thread: stop accepting, then leave the loop once the last
// responses had kFlushTime to be written. The Workers' destructors then close
// the remaining connections.
void HttpServer::StopLoops() {
  static const timeval kNow = {0, 0};
  for (auto& worker : workers_) {
    event_base_once(
        worker->base, -1, EV_TIMEOUT,
        [](evutil_socket_t, short, void* arg) {
          auto* w = static_cast<Worker*>(arg);
          if (w->listener != nullptr) {
            evhttp_del_accept_socket(w->http, w->listener);
            w->listener = nullptr;
          }
          event_base_loopexit(w->base, &kFlushTime);
        },
        worker.get(), &kNow);
  }
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
  workers_.clear();
}

}  // namespace swapserve::server::rest
