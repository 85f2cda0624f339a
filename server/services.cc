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

// The --testing_hooks hold (kTestingHoldMetadata), inside the call gate.
void HoldForTesting(const grpc::ServerContext& context) {
  auto it = context.client_metadata().find(kTestingHoldMetadata);
  if (it == context.client_metadata().end()) return;
  int64_t ms = 0;
  if (!absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &ms)) return;
  ms = std::clamp<int64_t>(ms, 0, 60'000);
  LOG(INFO) << "testing hook: holding a call for " << ms << " ms";
  absl::SleepFor(absl::Milliseconds(ms));
}

}  // namespace

// The batcher, with the call's deadline and cancellation (also when there is no
// server-wide batcher: the version may have its own).
Execution PredictionServiceImpl::ExecutionFor(grpc::ServerContext& context) const {
  Execution execution{batcher_, {}};
  const absl::Time deadline = absl::FromChrono(context.deadline());
  // gRPC's "no deadline" is a far-future time point.
  if (deadline < absl::Now() + absl::Hours(24 * 365)) execution.call.deadline = deadline;
  execution.call.cancelled = [&context] { return context.IsCancelled(); };
  return execution;
}

// ServeOnSnapshot inside the call gate; names the snapshot in the trailers and
// records the request as `api` (TF Serving's metric label).
template <typename Body>
grpc::Status PredictionServiceImpl::Serve(const char* api, grpc::ServerContext* context,
                                          const tfs::ModelSpec& spec, Body body) {
  const absl::Time start = absl::Now();
  CallGuard guard(gate_);
  if (!guard.entered()) return kShuttingDown;
  if (testing_hooks_) HoldForTesting(*context);
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

grpc::Status PredictionServiceImpl::Predict(grpc::ServerContext* context,
                                            const tfs::PredictRequest* request,
                                            tfs::PredictResponse* response) {
  return Serve("Predict", context, request->model_spec(),
               [&](const ServableHandle& h, const ServedWeights& w) {
                 return RunPredict(h, w, *request, response, ExecutionFor(*context));
               });
}

grpc::Status PredictionServiceImpl::Classify(grpc::ServerContext* context,
                                             const tfs::ClassificationRequest* request,
                                             tfs::ClassificationResponse* response) {
  return Serve("Classify", context, request->model_spec(),
               [&](const ServableHandle& h, const ServedWeights& w) {
                 return RunClassify(h, w, *request, response, ExecutionFor(*context));
               });
}

grpc::Status PredictionServiceImpl::Regress(grpc::ServerContext* context,
                                            const tfs::RegressionRequest* request,
                                            tfs::RegressionResponse* response) {
  return Serve("Regress", context, request->model_spec(),
               [&](const ServableHandle& h, const ServedWeights& w) {
                 return RunRegress(h, w, *request, response, ExecutionFor(*context));
               });
}

grpc::Status PredictionServiceImpl::GetModelMetadata(grpc::ServerContext* context,
                                                     const tfs::GetModelMetadataRequest* request,
                                                     tfs::GetModelMetadataResponse* response) {
  return Serve("GetModelMetadata", context, request->model_spec(),
               [&](const ServableHandle& h, const ServedWeights&) {
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

grpc::Status ModelServiceImpl::HandleReloadConfigRequest(grpc::ServerContext*,
                                                         const tfs::ReloadConfigRequest* request,
                                                         tfs::ReloadConfigResponse* response) {
  CallGuard guard(gate_);
  if (!guard.entered()) return kShuttingDown;
  absl::Status status = apply_(request->config());
  if (!status.ok()) LOG(ERROR) << "ReloadConfig failed: " << status;
  response->mutable_status()->set_error_code(static_cast<tensorflow::error::Code>(status.code()));
  response->mutable_status()->set_error_message(std::string(status.message()));
  return ToGrpcStatus(status);
}

}  // namespace swapserve::server
