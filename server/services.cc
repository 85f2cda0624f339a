#include "server/services.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "server/grpc_status.h"
#include "server/inference.h"

namespace swapserve::server {
namespace {

namespace tfs = tensorflow::serving;

const grpc::Status kShuttingDown(grpc::StatusCode::UNAVAILABLE, kShuttingDownMessage);

// The --testing_hooks hold (kTestingHoldMetadata) this call asks for, in ms
// (0: none).
int64_t HoldFor(const grpc::CallbackServerContext& context) {
  auto it = context.client_metadata().find(kTestingHoldMetadata);
  if (it == context.client_metadata().end()) return 0;
  int64_t ms = 0;
  if (!absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &ms)) return 0;
  return std::clamp<int64_t>(ms, 0, 60'000);
}

}  // namespace

// The batcher, with the call's deadline and cancellation (also when there is no
// server-wide batcher: the version may have its own).
Execution PredictionServiceImpl::ExecutionFor(grpc::CallbackServerContext& context) const {
  Execution execution{batcher_, {}};
  const absl::Time deadline = absl::FromChrono(context.deadline());
  // gRPC's "no deadline" is a far-future time point.
  if (deadline < absl::Now() + absl::Hours(24 * 365)) execution.call.deadline = deadline;
  execution.call.cancelled = [&context] { return context.IsCancelled(); };
  return execution;
}

grpc::Status PredictionServiceImpl::Answer(const char* api, grpc::CallbackServerContext* context,
                                           const tfs::ModelSpec& spec, absl::Time start,
                                           SnapshotBody body) {
  AnsweredBy answered;
  absl::Status status = ServeOnSnapshot(*manager_, spec, body, &answered);
  if (!answered.checkpoint.empty()) {
    context->AddTrailingMetadata(kCheckpointKey, answered.checkpoint);
    context->AddTrailingMetadata(kWeightsVersionKey, absl::StrCat(answered.generation));
  }
  if (!status.ok()) VLOG(1) << "request to " << spec.name() << " failed: " << status;
  if (metrics_ != nullptr) {
    const bool known = !answered.checkpoint.empty() || manager_->HasModel(spec.name());
    metrics_->RecordRequest(known ? spec.name() : "", api, kGrpcEntrypoint, status,
                            absl::Now() - start, answered.runtime);
  }
  return ToGrpcStatus(status);
}

// Enters the gate and the admission bound at arrival, leaves the bound once
// the answer is computed and the gate once it is handed to gRPC: shutdown
// drains calls waiting for a pool thread too, and those count against the
// bound. `may_batch`: the call may go through a batcher (and so wait for its
// batch).
template <typename Body>
grpc::ServerUnaryReactor* PredictionServiceImpl::Serve(const char* api,
                                                       grpc::CallbackServerContext* context,
                                                       const tfs::ModelSpec& spec, bool may_batch,
                                                       Body body) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!gate_->Enter()) {
    reactor->Finish(kShuttingDown);
    return reactor;
  }
  if (!admission_->TryEnter()) {
    const absl::Status refused = admission_->Refusal();
    if (metrics_ != nullptr) {
      metrics_->RecordRequest(manager_->HasModel(spec.name()) ? spec.name() : "", api,
                              kGrpcEntrypoint, refused, absl::Now() - start, absl::ZeroDuration());
    }
    reactor->Finish(ToGrpcStatus(refused));
    gate_->Exit();
    return reactor;
  }
  const int64_t hold_ms = testing_hooks_ ? HoldFor(*context) : 0;
  auto answer = [this, api, context, &spec, start, hold_ms, reactor, body] {
    if (hold_ms > 0) {
      LOG(INFO) << "testing hook: holding a call for " << hold_ms << " ms";
      absl::SleepFor(absl::Milliseconds(hold_ms));
    }
    const grpc::Status status = Answer(api, context, spec, start, body);
    // Before Finish: a client that sends its next call on this answer must
    // find the bound free again.
    admission_->Exit();
    reactor->Finish(status);
    gate_->Exit();
  };
  if (blocking_ != nullptr && ((may_batch && batching_) || hold_ms > 0)) {
    blocking_->Schedule(std::move(answer));
  } else {
    answer();
  }
  return reactor;
}

grpc::ServerUnaryReactor* PredictionServiceImpl::Predict(grpc::CallbackServerContext* context,
                                                         const tfs::PredictRequest* request,
                                                         tfs::PredictResponse* response) {
  return Serve("Predict", context, request->model_spec(), true,
               [this, context, request, response](const ServableHandle& h, const ServedWeights& w) {
                 return RunPredict(h, w, *request, response, ExecutionFor(*context));
               });
}

grpc::ServerUnaryReactor* PredictionServiceImpl::Classify(grpc::CallbackServerContext* context,
                                                          const tfs::ClassificationRequest* request,
                                                          tfs::ClassificationResponse* response) {
  return Serve("Classify", context, request->model_spec(), true,
               [this, context, request, response](const ServableHandle& h, const ServedWeights& w) {
                 return RunClassify(h, w, *request, response, ExecutionFor(*context));
               });
}

grpc::ServerUnaryReactor* PredictionServiceImpl::Regress(grpc::CallbackServerContext* context,
                                                         const tfs::RegressionRequest* request,
                                                         tfs::RegressionResponse* response) {
  return Serve("Regress", context, request->model_spec(), true,
               [this, context, request, response](const ServableHandle& h, const ServedWeights& w) {
                 return RunRegress(h, w, *request, response, ExecutionFor(*context));
               });
}

grpc::ServerUnaryReactor* PredictionServiceImpl::GetModelMetadata(
    grpc::CallbackServerContext* context, const tfs::GetModelMetadataRequest* request,
    tfs::GetModelMetadataResponse* response) {
  return Serve("GetModelMetadata", context, request->model_spec(), false,
               [request, response](const ServableHandle& h, const ServedWeights&) {
                 return GetMetadata(h, *request, response);
               });
}

grpc::Status ModelServiceImpl::GetModelStatus(grpc::ServerContext*,
                                              const tfs::GetModelStatusRequest* request,
                                              tfs::GetModelStatusResponse* response) {
  CallGuard guard(gate_);
  if (!guard.entered()) return kShuttingDown;
  return ToGrpcStatus(server::GetModelStatus(*manager_, *request, response));
}

grpc::Status ModelServiceImpl::HandleReloadConfigRequest(grpc::ServerContext* context,
                                                         const tfs::ReloadConfigRequest* request,
                                                         tfs::ReloadConfigResponse* response) {
  CallGuard guard(gate_);
  if (!guard.entered()) return kShuttingDown;
  absl::Status status =
      auth_->Check(AuthorizationOf(*context), "ModelService.HandleReloadConfigRequest");
  if (status.ok()) status = apply_(request->config());
  if (!status.ok()) LOG(ERROR) << "ReloadConfig failed: " << status;
  response->mutable_status()->set_error_code(static_cast<tensorflow::error::Code>(status.code()));
  response->mutable_status()->set_error_message(std::string(status.message()));
  return ToGrpcStatus(status);
}

}  // namespace swapserve::server
