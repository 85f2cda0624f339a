#include "server/rest_service.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "google/protobuf/util/json_util.h"
#include "model/util/status_macros.h"
#include "server/checkpoint_admin.h"
#include "server/inference.h"
#include "server/rest/json_tensor.h"
#include "server/services.h"

namespace swapserve::server {
namespace {

namespace tfs = tensorflow::serving;
namespace admin = swapserve::admin::v1;
using rest::HttpRequest;
using rest::HttpResponse;

// What a path names, once parsed.
struct Route {
  std::string model;
  std::optional<int64_t> version;
  std::optional<std::string> label;
  // After the model part: "" (status), "metadata", "checkpoints"; and for POST
  // the ":method" suffix ("predict", "pin", ...).
  std::string subresource;
  std::string method;
};

// Consumes `prefix` from the front of *rest, case-insensitively.
bool ConsumePrefix(absl::string_view prefix, absl::string_view* rest) {
  if (rest->size() < prefix.size() ||
      !absl::EqualsIgnoreCase(rest->substr(0, prefix.size()), prefix)) {
    return false;
  }
  rest->remove_prefix(prefix.size());
  return true;
}

// The segment up to the next '/' or ':' (TF Serving's [^/:]+), consumed.
absl::string_view TakeSegment(absl::string_view* rest) {
  const size_t end = std::min(rest->find_first_of("/:"), rest->size());
  absl::string_view segment = rest->substr(0, end);
  rest->remove_prefix(end);
  return segment;
}

absl::Status Malformed(const HttpRequest& request) {
  return absl::InvalidArgumentError(
      absl::StrCat("Malformed request: ", request.method, " ", request.path));
}

// Parses /v1/models/{m}[/versions/{v}|/labels/{l}][/sub][:method] — the routes of
// TF Serving's prediction and model-status regexes, and swapserve's checkpoints.
absl::StatusOr<Route> ParseRoute(const HttpRequest& request) {
  absl::string_view rest = request.path;
  if (!ConsumePrefix("/v1/models", &rest)) return Malformed(request);
  Route route;
  if (rest.empty() && request.method == "GET") {
    return absl::InvalidArgumentError("Missing model name in request.");
  }
  if (!ConsumePrefix("/", &rest)) return Malformed(request);
  absl::string_view name = TakeSegment(&rest);
  if (name.empty()) return Malformed(request);
  route.model = rest::UriDecode(name);
  if (ConsumePrefix("/versions/", &rest)) {
    absl::string_view digits = TakeSegment(&rest);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
      return Malformed(request);
    }
    int64_t version = 0;
    if (!absl::SimpleAtoi(digits, &version)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Failed to convert version: ", digits, " to numeric."));
    }
    route.version = version;
  }
  if (ConsumePrefix("/labels/", &rest)) {
    absl::string_view label = TakeSegment(&rest);
    if (label.empty()) return Malformed(request);
    route.label = rest::UriDecode(label);
  }
  if (route.version && route.label) {
    return absl::InvalidArgumentError(absl::StrCat("Both model version (", *route.version,
                                                   ") and model version label (", *route.label,
                                                   ") cannot be supplied."));
  }
  if (ConsumePrefix("/metadata", &rest)) {
    route.subresource = "metadata";
  } else if (ConsumePrefix("/checkpoints", &rest)) {
    route.subresource = "checkpoints";
  }
  if (ConsumePrefix(":", &rest)) {
    route.method = absl::AsciiStrToLower(rest);
    rest = {};
  }
  if (!rest.empty()) return Malformed(request);
  return route;
}

void FillSpec(const Route& route, tfs::ModelSpec* spec) {
  spec->set_name(route.model);
  if (route.version) spec->mutable_version()->set_value(*route.version);
  if (route.label) spec->set_version_label(*route.label);
}

// A message as TF Serving's REST API prints protos: indented, every field
// present, the .proto's field names.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("Failed to convert proto to json: ", status.ToString()));
  }
  return out;
}

// The admin's request bodies are the proto messages as JSON (an empty body is
// an empty message); `model` comes from the path.
template <typename Request>
absl::StatusOr<Request> AdminRequest(const Route& route, const std::string& body) {
  Request request;
  if (!absl::StripAsciiWhitespace(body).empty()) {
    auto status = google::protobuf::util::JsonStringToMessage(body, &request);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Malformed request body: ", status.message().as_string()));
    }
  }
  request.set_model(route.model);
  return request;
}

// The --testing_hooks hold, from the header (services.h's kTestingHoldMetadata).
void HoldForTesting(const HttpRequest& request) {
  absl::string_view value = request.Header(kTestingHoldMetadata);
  int64_t ms = 0;
  if (value.empty() || !absl::SimpleAtoi(value, &ms)) return;
  ms = std::clamp<int64_t>(ms, 0, 60'000);
  LOG(INFO) << "testing hook: holding a call for " << ms << " ms";
  absl::SleepFor(absl::Milliseconds(ms));
}

// Runs the request `route` names; the response body, or why not.
absl::StatusOr<std::string> Dispatch(const ModelManager& manager, const EventLog& events,
                                     const HttpRequest& request, const Route& route,
                                     const Execution& execution, AnsweredBy* answered_by) {
  AnsweredBy& answered = *answered_by;
  const bool get = request.method == "GET", post = request.method == "POST";
  if (route.subresource == "checkpoints") {
    if (route.version || route.label) {
      return absl::InvalidArgumentError(
          "the checkpoint admin acts on a model's highest version: no /versions or /labels");
    }
    if (get && route.method.empty()) {
      admin::ListCheckpointsRequest list;
      list.set_model(route.model);
      admin::ListCheckpointsResponse out;
      RETURN_IF_ERROR(ListCheckpoints(manager, events, list, &out));
      return ToJson(out);
    }
    admin::ServingState state;
    if (post && route.method == "pin") {
      ASSIGN_OR_RETURN(auto pin, AdminRequest<admin::PinRequest>(route, request.body));
      RETURN_IF_ERROR(PinCheckpoint(manager, pin, &state));
    } else if (post && route.method == "unpin") {
      ASSIGN_OR_RETURN(auto unpin, AdminRequest<admin::UnpinRequest>(route, request.body));
      RETURN_IF_ERROR(UnpinCheckpoint(manager, unpin, &state));
    } else if (post && route.method == "rollback") {
      ASSIGN_OR_RETURN(auto back, AdminRequest<admin::RollbackRequest>(route, request.body));
      RETURN_IF_ERROR(RollbackCheckpoint(manager, back, &state));
    } else {
      return Malformed(request);
    }
    return ToJson(state);
  }
  if (get && route.method.empty() && route.subresource.empty()) {
    tfs::GetModelStatusRequest status_request;
    FillSpec(route, status_request.mutable_model_spec());
    tfs::GetModelStatusResponse out;
    RETURN_IF_ERROR(GetModelStatus(manager, status_request, &out));
    return ToJson(out);
  }
  if (get && route.method.empty() && route.subresource == "metadata") {
    tfs::GetModelMetadataRequest metadata_request;
    FillSpec(route, metadata_request.mutable_model_spec());
    metadata_request.add_metadata_field("signature_def");
    tfs::GetModelMetadataResponse out;
    RETURN_IF_ERROR(ServeOnSnapshot(
        manager, metadata_request.model_spec(),
        [&](const ServableHandle& h, const ServedWeights&) {
          return GetMetadata(h, metadata_request, &out);
        },
        &answered));
    // TF Serving prints the model spec and the unpacked SignatureDefMap.
    tfs::SignatureDefMap signatures;
    auto packed = out.metadata().find("signature_def");
    if (packed == out.metadata().end() || !packed->second.UnpackTo(&signatures)) {
      return absl::InternalError("Failed to unpack 'Any' object to 'SignatureDefMap'.");
    }
    ASSIGN_OR_RETURN(std::string spec, ToJson(out.model_spec()));
    ASSIGN_OR_RETURN(std::string map, ToJson(signatures));
    return absl::StrCat("{\n\"model_spec\": ", spec, ",\n\"metadata\": {\"signature_def\": ", map,
                        "}\n}\n");
  }
  if (!post || !route.subresource.empty()) return Malformed(request);
  if (route.method == "predict") {
    tfs::PredictRequest predict;
    FillSpec(route, predict.mutable_model_spec());
    const tfs::ModelSpec spec = predict.model_spec();
    std::string out;
    RETURN_IF_ERROR(ServeOnSnapshot(
        manager, spec,
        [&](const ServableHandle& h, const ServedWeights& w) -> absl::Status {
          rest::JsonFormat format;
          RETURN_IF_ERROR(rest::FillPredictRequestFromJson(
              request.body,
              [&](const std::string& signature) { return SignatureInputs(h, signature); },
              &predict, &format));
          tfs::PredictResponse response;
          RETURN_IF_ERROR(RunPredict(h, w, predict, &response, execution));
          ASSIGN_OR_RETURN(out, rest::MakeJsonFromTensors(response.outputs(), format));
          return absl::OkStatus();
        },
        &answered));
    return out;
  }
  if (route.method == "classify") {
    tfs::ClassificationRequest classify;
    FillSpec(route, classify.mutable_model_spec());
    RETURN_IF_ERROR(rest::FillClassificationRequestFromJson(request.body, &classify));
    tfs::ClassificationResponse out;
    RETURN_IF_ERROR(ServeOnSnapshot(
        manager, classify.model_spec(),
        [&](const ServableHandle& h, const ServedWeights& w) {
          return RunClassify(h, w, classify, &out, execution);
        },
        &answered));
    return rest::MakeJsonFromClassificationResult(out.result());
  }
  if (route.method == "regress") {
    tfs::RegressionRequest regress;
    FillSpec(route, regress.mutable_model_spec());
    RETURN_IF_ERROR(rest::FillRegressionRequestFromJson(request.body, &regress));
    tfs::RegressionResponse out;
    RETURN_IF_ERROR(ServeOnSnapshot(
        manager, regress.model_spec(),
        [&](const ServableHandle& h, const ServedWeights& w) {
          return RunRegress(h, w, regress, &out, execution);
        },
        &answered));
    return rest::MakeJsonFromRegressionResult(out.result());
  }
  return Malformed(request);
}

}  // namespace

int HttpCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

HttpResponse RestService::Handle(const HttpRequest& request) const {
  HttpResponse response;
  if (absl::string_view path = request.path; !ConsumePrefix("/v1/", &path)) {
    response.code = 404;
    response.body = rest::JsonError(absl::StrCat("Not found: ", request.path,
                                                 " (TF Serving's REST API is under /v1/)"));
    return response;
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<Route> route = ParseRoute(request);
  // Inference calls count against the admission bound; status, metadata
  // listing and the checkpoint admin do not.
  const bool inference = route.ok() && route->subresource != "checkpoints" &&
                         !(route->method.empty() && route->subresource.empty());
  const bool admitted = !inference || admission_->TryEnter();
  if (testing_hooks_ && admitted) HoldForTesting(request);
  // The checkpoint routes' POSTs (pin, unpin, rollback) change what is served.
  absl::Status authorized;
  if (route.ok() && route->subresource == "checkpoints" && request.method == "POST") {
    const absl::string_view header = request.Header(kAuthorizationKey);
    authorized = auth_->Check(header.empty() ? std::nullopt : std::optional(header),
                              absl::StrCat("POST ", request.path));
  }
  AnsweredBy answered;
  absl::StatusOr<std::string> body;
  if (!route.ok()) {
    body = route.status();
  } else if (!admitted) {
    body = admission_->Refusal();
  } else if (!authorized.ok()) {
    body = authorized;
  } else {
    body = Dispatch(*manager_, *events_, request, *route, Execution{batcher_, {}}, &answered);
  }
  if (inference && admitted) admission_->Exit();
  if (!answered.checkpoint.empty()) {
    response.headers.emplace_back(kCheckpointKey, answered.checkpoint);
    response.headers.emplace_back(kWeightsVersionKey, absl::StrCat(answered.generation));
  }
  if (metrics_ != nullptr && route.ok() && route->subresource != "checkpoints") {
    const bool known = !answered.checkpoint.empty() || manager_->HasModel(route->model);
    metrics_->RecordRequest(known ? route->model : "", route->method, kRestEntrypoint,
                            body.status(), absl::Now() - start, answered.runtime);
  }
  if (body.ok()) {
    response.body = *std::move(body);
  } else {
    VLOG(1) << request.method << " " << request.path << " failed: " << body.status();
    response.code = HttpCodeFor(body.status().code());
    response.body = rest::JsonError(body.status().message());
  }
  return response;
}

}  // namespace swapserve::server
