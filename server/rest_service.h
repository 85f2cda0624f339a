// RestService: TF Serving's REST API as an HttpHandler — the routes of TF
// Serving's http_rest_api_handler, plus swapserve's checkpoint admin:
//
//   GET  /v1/models/{m}[/versions/{v}|/labels/{l}]           GetModelStatus
//   GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata  GetModelMetadata
//   POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict   (and :classify,
//                                                             :regress)
//   GET  /v1/models/{m}/checkpoints                          ListCheckpoints
//   POST /v1/models/{m}/checkpoints:pin   {"prefix": "..."}  Pin
//   POST /v1/models/{m}/checkpoints:unpin | :rollback        Unpin, Rollback
//
// Paths match case-insensitively; the model name and label are percent-decoded.
// The JSON codec is server/rest/json_tensor.h; the semantics are
// server/inference.h and server/checkpoint_admin.h — the same functions the gRPC
// services call, so a request answers alike over both fronts. Responses that ran
// on a model version carry the headers swapserve-checkpoint and
// swapserve-weights-version (the gRPC trailers' values).
//
// Errors are {"error": "<message>"} with TF Serving's status -> HTTP code
// mapping (HttpCodeFor); a path outside /v1/ is 404, an unknown route under it
// 400 "Malformed request: <method> <path>".
//
// Thread safety: Handle() runs concurrently on the HTTP server's threads; all
// state is in the (thread-safe) manager and event log.
#ifndef SWAPSERVE_SERVER_REST_SERVICE_H_
#define SWAPSERVE_SERVER_REST_SERVICE_H_

#include "absl/status/status.h"
#include "server/batching/batcher.h"
#include "server/admin_auth.h"
#include "server/admission.h"
#include "server/event_log.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "server/rest/http_server.h"

namespace swapserve::server {

// TF Serving's mapping: INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE 400;
// UNAUTHENTICATED 401; PERMISSION_DENIED 403; NOT_FOUND 404; ABORTED,
// ALREADY_EXISTS 409; RESOURCE_EXHAUSTED 429; UNIMPLEMENTED 501; UNAVAILABLE
// 503; DEADLINE_EXCEEDED 504; CANCELLED 499; others 500.
int HttpCodeFor(absl::StatusCode code);

class RestService {
 public:
  // `testing_hooks`: a request with header swapserve-testing-hold-ms waits that
  // long (at most a minute) before it is served, as over gRPC (services.h).
  // `metrics`: where requests are recorded (null: nowhere). `batcher`: what
  // :predict, :classify and :regress run through (null: each call alone).
  // `admission`: the bound on inference calls in progress (shared with gRPC);
  // :predict, :classify, :regress and /metadata beyond it get 429 at once.
  // `auth`: the admin token the checkpoint routes' POSTs need (if set).
  RestService(const ModelManager* manager, const EventLog* events, Admission* admission,
              const AdminAuth* auth, Metrics* metrics, batching::Batcher* batcher,
              bool testing_hooks)
      : manager_(manager),
        events_(events),
        admission_(admission),
        auth_(auth),
        metrics_(metrics),
        batcher_(batcher),
        testing_hooks_(testing_hooks) {}

  rest::HttpResponse Handle(const rest::HttpRequest& request) const;

 private:
  const ModelManager* manager_;
  const EventLog* events_;
  Admission* admission_;
  const AdminAuth* auth_;
  Metrics* metrics_;
  batching::Batcher* batcher_;
  const bool testing_hooks_;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_REST_SERVICE_H_
