#include "server/server.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "model/ops/gemm.h"
#include "model/util/file.h"
#include "server/config_file.h"

namespace swapserve::server {

constexpr absl::Duration kShutdownLinger = absl::Milliseconds(500);
constexpr char kPerModelBatchingFile[] = "batching_params.pbtxt";
// The most calls that may block at once without --grpc_max_threads (the
// batcher merges at most this many).
constexpr int kMaxBlockingThreads = 1024;

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      metrics_(options_.metrics_path.empty()
                   ? nullptr
                   : std::make_unique<Metrics>([this] { return gate_.Inside(); })),
      events_([this](const CheckpointEvent& e) {
        if (metrics_ != nullptr) metrics_->RecordCheckpointEvent(e);
      }),
      manager_([this] {
        ManagerOptions m = options_.manager;
        m.events = &events_;
        if (metrics_ != nullptr) {
          m.on_load = [this](const std::string& model, int64_t version, const std::string& path,
                             const absl::Status& status, absl::Duration took) {
            metrics_->RecordLoad(model, version, path, status, took);
          };
        }
        if (options_.batching && options_.per_model_batching) {
          m.version_batcher = [this](const std::string& path) { return VersionBatcher(path); };
        }
        return m;
      }()),
      admission_(options_.max_concurrent_requests),
      batcher_(options_.batching && !options_.per_model_batching
                   ? std::make_unique<batching::Batcher>(*options_.batching, RunPlan,
                                                         RecordBatches())
                   : nullptr),
      blocking_(options_.batching || options_.testing_hooks
                    ? std::make_unique<BlockingPool>(options_.grpc_max_threads > 0
                                                         ? options_.grpc_max_threads
                                                         : kMaxBlockingThreads)
                    : nullptr),
      prediction_service_(&manager_, &gate_, &admission_, metrics_.get(), batcher_.get(),
                          blocking_.get(),
                          options_.batching.has_value(), options_.testing_hooks),
      model_service_(&manager_, &gate_, &admin_auth_,
                     [this](const tensorflow::serving::ModelServerConfig& c) {
                       return ApplyConfig(c);
                     }),
      admin_service_(&manager_, &events_, &gate_, &admin_auth_),
      rest_service_(&manager_, &events_, &admission_, &admin_auth_, metrics_.get(),
                    batcher_.get(), options_.testing_hooks) {}

// Every batch, from any batcher, in the metrics.
batching::BatchObserver Server::RecordBatches() {
  return [this](int64_t rows, int64_t calls, int64_t padding) {
    if (metrics_ != nullptr) metrics_->RecordBatch(rows, calls, padding);
  };
}

// TF Serving's per-model batching parameters: the version directory's
// batching_params.pbtxt, checked as --batching_parameters_file is.
absl::StatusOr<std::shared_ptr<batching::Batcher>> Server::VersionBatcher(
    const std::string& version_dir) {
  const std::string file = version_dir + "/" + kPerModelBatchingFile;
  if (!PathExists(file)) return nullptr;
  absl::StatusOr<batching::BatchingOptions> options = ReadBatchingOptions(file);
  if (!options.ok()) return options.status();
  LOG(INFO) << "Calls to " << version_dir << " are batched with " << file;
  return std::make_shared<batching::Batcher>(*std::move(options), RunPlan, RecordBatches());
}

rest::HttpResponse Server::HandleHttp(const rest::HttpRequest& request) {
  // The gRPC services' gate: shutdown refuses and drains both fronts at once.
  CallGuard guard(&gate_);
  if (!guard.entered()) {
    return rest::HttpResponse{503, rest::JsonError(kShuttingDownMessage), {{"Connection", "close"}}};
  }
  if (metrics_ != nullptr && request.path == options_.metrics_path) {
    if (request.method != "GET") {
      return rest::HttpResponse{405, rest::JsonError("metrics are read with GET"), {}};
    }
    return rest::HttpResponse{
        200, metrics_->Scrape(), {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}};
  }
  return rest_service_.Handle(request);
}

namespace {

// The credentials of both ports: plaintext without an SSL config; else TLS for
// gRPC (TF Serving's mapping of SSLConfig) and the REST front's TLS context,
// whose construction checks every PEM field first.
struct Credentials {
  std::shared_ptr<grpc::ServerCredentials> grpc;
  std::shared_ptr<rest::TlsContext> rest;
};

absl::StatusOr<Credentials> ReadCredentials(const std::string& ssl_config_file) {
  if (ssl_config_file.empty()) return Credentials{grpc::InsecureServerCredentials(), nullptr};
  absl::StatusOr<tensorflow::serving::SSLConfig> config = ReadSslConfig(ssl_config_file);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::shared_ptr<rest::TlsContext>> rest = rest::TlsContext::Create(
      {config->server_key(), config->server_cert(), config->custom_ca(), config->client_verify()});
  if (!rest.ok()) {
    return absl::Status(rest.status().code(),
                        absl::StrCat(ssl_config_file, ": ", rest.status().message()));
  }
  grpc::SslServerCredentialsOptions ssl(
      config->client_verify() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                              : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_root_certs = config->custom_ca();
  ssl.pem_key_cert_pairs.push_back({config->server_key(), config->server_cert()});
  LOG(INFO) << "TLS on every port from " << ssl_config_file
            << (config->client_verify() ? " (mutual: clients need a certificate from custom_ca)"
                                        : "");
  return Credentials{grpc::SslServerCredentials(ssl), *std::move(rest)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  std::unique_ptr<Server> server(new Server(std::move(options)));
  ServerOptions& o = server->options_;
  if (!o.admin_token_file.empty()) {
    absl::StatusOr<AdminAuth> auth = AdminAuth::FromFile(o.admin_token_file);
    if (!auth.ok()) return auth.status();
    server->admin_auth_ = *std::move(auth);
    LOG(INFO) << "Admin calls need the bearer token of " << o.admin_token_file;
  } else {
    LOG(WARNING) << "Admin calls (checkpoint pin/unpin/rollback, HandleReloadConfigRequest) are "
                    "unauthenticated: anyone who reaches the ports can change what is served "
                    "(--admin_token_file requires a bearer token)";
  }
  absl::StatusOr<Credentials> credentials = ReadCredentials(o.ssl_config_file);
  if (!credentials.ok()) return credentials.status();
  if (!o.model_config_file.empty()) {
    absl::StatusOr<tensorflow::serving::ModelServerConfig> config =
        ReadModelServerConfig(o.model_config_file);
    if (!config.ok()) return config.status();
    o.config = *std::move(config);
  }
  if (absl::Status s = server->ApplyConfig(o.config); !s.ok()) return s;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(o.listen_address, ":", o.port),
                           credentials->grpc, &server->port_);
  // gRPC sets SO_REUSEPORT by default: a second daemon on the same port would
  // start and silently split the connections with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(o.max_message_bytes);
  builder.SetMaxSendMessageSize(o.max_message_bytes);
  if (o.grpc_max_threads > 0) {
    grpc::ResourceQuota quota("swapserve");
    quota.SetMaxThreads(o.grpc_max_threads);
    builder.SetResourceQuota(quota);
  }
  builder.RegisterService(&server->prediction_service_);
  builder.RegisterService(&server->model_service_);
  builder.RegisterService(&server->admin_service_);
  if (o.enable_echo) builder.RegisterService(&server->echo_service_);
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", o.listen_address, ":", o.port));
  }
  const char* tls = o.ssl_config_file.empty() ? "" : " (TLS)";
  LOG(INFO) << "Serving gRPC" << tls << " on " << o.listen_address << ":" << server->port_;
  if (o.rest_port > 0) {
    rest::HttpServerOptions http;
    http.address = o.listen_address;
    http.port = o.rest_port;
    http.num_threads = o.rest_num_threads > 0
                           ? o.rest_num_threads
                           : 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    http.timeout = o.rest_timeout;
    http.max_body_bytes = static_cast<size_t>(o.max_message_bytes);
    http.enable_cors = o.rest_enable_cors;
    http.tls = credentials->rest;
    absl::StatusOr<std::unique_ptr<rest::HttpServer>> started = rest::HttpServer::Start(
        http, [s = server.get()](const rest::HttpRequest& r) { return s->HandleHttp(r); });
    if (!started.ok()) return started.status();
    server->http_server_ = *std::move(started);
    LOG(INFO) << "Serving REST" << (o.ssl_config_file.empty() ? "" : " (HTTPS)") << " on "
              << o.listen_address << ":" << server->http_server_->port()
              << " (" << http.num_threads << " threads)";
    if (server->metrics_ != nullptr) LOG(INFO) << "Prometheus metrics at " << o.metrics_path;
  }
  if (o.testing_hooks) LOG(WARNING) << "--testing_hooks is on: for swapserve's own tests only";
  // Which kernels the GEMMs run: a generic fallback core is the first thing to
  // see when a machine serves slower than expected.
  LOG(INFO) << "GEMMs: " << GemmBackendDescription();
  server->manager_.Start([s = server.get()] { s->UpdateHealth(); });
  if (!o.model_config_file.empty() && o.config_poll_wait > absl::ZeroDuration()) {
    server->config_poller_ = std::thread([s = server.get()] { s->ConfigPollLoop(); });
  }
  return server;
}

Server::~Server() { Shutdown(); }

absl::Status Server::ApplyConfig(const tensorflow::serving::ModelServerConfig& config) {
  if (config.config_case() != tensorflow::serving::ModelServerConfig::kModelConfigList) {
    return absl::InvalidArgumentError("the config has no model_config_list");
  }
  absl::Status s = manager_.ApplyConfig(config.model_config_list());
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    applied_config_ = config.SerializeAsString();
  }
  if (grpc_server_ != nullptr) UpdateHealth();
  return s;
}

void Server::UpdateHealth() {
  if (grpc_server_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = grpc_server_->GetHealthCheckService();
  if (health == nullptr) return;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
  }
  health->SetServingStatus(manager_.AllModelsAvailable());
}

void Server::ConfigPollLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.config_poll_wait);
      if (stopping_) return;
    }
    absl::StatusOr<tensorflow::serving::ModelServerConfig> config =
        ReadModelServerConfig(options_.model_config_file);
    if (!config.ok()) {
      LOG(ERROR) << "Keeping the current models: " << config.status();
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      if (config->SerializeAsString() == applied_config_) continue;
    }
    LOG(INFO) << "Model config file " << options_.model_config_file << " changed; applying it";
    if (absl::Status s = ApplyConfig(*config); !s.ok()) {
      LOG(ERROR) << "Keeping the current models: " << s;
    }
  }
}

void Server::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (grpc_server_ != nullptr) {
    if (auto* health = grpc_server_->GetHealthCheckService()) health->SetServingStatus(false);
    LOG(INFO) << "Shutting down: draining in-flight calls (at most "
              << absl::FormatDuration(options_.shutdown_grace) << ")";
    const int left = gate_.CloseAndDrain(options_.shutdown_grace);
    if (left > 0) LOG(WARNING) << left << " calls did not finish within the grace period";
    // Calls still in transit (a large request being received) reach the gate and
    // get UNAVAILABLE, which clients retry elsewhere; gRPC's Shutdown would cancel
    // them instead. So linger briefly before stopping the transport.
    absl::SleepFor(kShutdownLinger);
    grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    grpc_server_->Wait();
    // Its handlers are inside the same gate, drained above.
    if (http_server_ != nullptr) http_server_->Shutdown(absl::Seconds(1));
  }
  if (config_poller_.joinable()) config_poller_.join();
  manager_.Stop();
}

}  // namespace swapserve::server
