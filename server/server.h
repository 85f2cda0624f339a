// Server: the swapserve daemon's parts put together — the ModelManager fed from a
// ModelServerConfig (flags or --model_config_file, re-read periodically), the TF
// Serving gRPC services, the standard health service (SERVING once every
// configured model has an available version), server reflection, and the
// checkpoint admin service (swapserve.admin.v1) for followed directories; and,
// with a rest_port, TF Serving's REST API (rest_service.h) on its own port.
// With an ssl_config_file, both ports speak only TLS (mutual TLS with
// client_verify), from one SSLConfig checked in full before either listens.
//
// Start() loads the configured models (one poll round) before it listens, so the
// first request finds them. Shutdown() turns health to NOT_SERVING, refuses new
// calls (gRPC UNAVAILABLE, HTTP 503), lets the calls in progress on both fronts
// finish (within the grace period), then stops gRPC, HTTP and the pollers.
//
// Thread safety: Start/Shutdown from one thread; everything else is internal.
#ifndef SWAPSERVE_SERVER_SERVER_H_
#define SWAPSERVE_SERVER_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "server/admin_service.h"
#include "server/batching/batcher.h"
#include "server/echo_service.h"
#include "server/event_log.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "server/rest/http_server.h"
#include "server/rest_service.h"
#include "server/services.h"
#include "tensorflow_serving/config/model_server_config.pb.h"

namespace swapserve::server {

struct ServerOptions {
  std::string listen_address = "0.0.0.0";
  int port = 8500;  // 0: any free port (read it back with port())
  int grpc_max_threads = 0;       // 0: gRPC's default
  int max_message_bytes = 64 << 20;  // gRPC messages and HTTP bodies
  // TF Serving's --rest_api_*: port 0 = no REST front; num_threads 0 = 4 per core.
  int rest_port = 0;
  int rest_num_threads = 0;
  absl::Duration rest_timeout = absl::Seconds(30);
  bool rest_enable_cors = false;
  // Prometheus metrics on the REST port at this path (empty: no metrics).
  std::string metrics_path;
  // TF Serving's --enable_batching: Predict/Classify/Regress from both fronts
  // through one batcher (nullopt: every call alone).
  std::optional<batching::BatchingOptions> batching;
  // With `batching`, TF Serving's --enable_per_model_batching_parameters: a
  // version whose directory holds batching_params.pbtxt gets a batcher of its
  // own with those parameters (a bad file fails the version's load); the other
  // versions run every call alone, as in TF Serving.
  bool per_model_batching = false;
  ManagerOptions manager;
  // The models: a config file (re-read every config_poll_wait, if > 0) or, when
  // the path is empty, `config` as given.
  std::string model_config_file;
  absl::Duration config_poll_wait = absl::ZeroDuration();
  tensorflow::serving::ModelServerConfig config;
  absl::Duration shutdown_grace = absl::Seconds(10);
  bool testing_hooks = false;  // see kTestingHoldMetadata
  bool enable_echo = false;    // serve the benchmark floor (echo_service.h)
  // Inference calls in progress at once, both fronts (admission.h); 0: no bound.
  int max_concurrent_requests = 0;
  // The bearer token file admin calls need (admin_auth.h); empty: none.
  std::string admin_token_file;
  // TF Serving's --ssl_config_file (an SSLConfig): TLS on the gRPC port and,
  // beyond TF Serving, on the REST port too; empty: plaintext on both.
  std::string ssl_config_file;
};

// The path metrics are served at when a MonitoringConfig enables them without one.
inline constexpr char kDefaultMetricsPath[] = "/monitoring/prometheus/metrics";

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options);
  ~Server();  // Shutdown() if not done

  int port() const { return port_; }
  int rest_port() const { return http_server_ != nullptr ? http_server_->port() : 0; }
  // Replaces the model config (what HandleReloadConfigRequest does).
  absl::Status ApplyConfig(const tensorflow::serving::ModelServerConfig& config);
  void Shutdown();

 private:
  explicit Server(ServerOptions options);
  void UpdateHealth();
  rest::HttpResponse HandleHttp(const rest::HttpRequest& request);
  void ConfigPollLoop();
  batching::BatchObserver RecordBatches();
  absl::StatusOr<std::shared_ptr<batching::Batcher>> VersionBatcher(const std::string& version_dir);

  ServerOptions options_;
  std::unique_ptr<Metrics> metrics_;  // with a metrics_path
  EventLog events_;
  ModelManager manager_;
  CallGate gate_;
  Admission admission_;
  AdminAuth admin_auth_;  // read from options_.admin_token_file by Start()
  // With options_.batching unless per-model; outlives the fronts.
  std::unique_ptr<batching::Batcher> batcher_;
  // Where calls that may block run (with batching or testing hooks); outlives
  // the fronts, after the batcher.
  std::unique_ptr<BlockingPool> blocking_;
  PredictionServiceImpl prediction_service_;
  ModelServiceImpl model_service_;
  AdminServiceImpl admin_service_;
  EchoServiceImpl echo_service_;
  RestService rest_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<rest::HttpServer> http_server_;
  int port_ = 0;
  absl::Mutex mu_;
  std::string applied_config_ ABSL_GUARDED_BY(mu_);  // serialized, to spot changes
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread config_poller_;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_SERVER_H_
