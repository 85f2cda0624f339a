// swapserve: serves TensorFlow/Keras models over TF Serving's gRPC and REST APIs.
// Flags carry tensorflow_model_server's names where the meaning is the same.
// SIGTERM/SIGINT: stop accepting calls, let in-flight ones finish (bounded by
// --shutdown_grace_seconds), exit 0.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "model/util/file.h"
#include "server/batching/batching_options.h"
#include "server/config_file.h"
#include "server/isolated_reader.h"
#include "server/server.h"

ABSL_FLAG(int32_t, port, 8500, "Port to listen on for gRPC (0: pick a free port).");
ABSL_FLAG(std::string, port_file, "",
          "After listening, write the port number to this file (atomically); useful "
          "with --port=0.");
ABSL_FLAG(int32_t, rest_api_port, 0,
          "Port to serve TF Serving's REST API (HTTP/1.1) on; 0: no REST API.");
ABSL_FLAG(int32_t, rest_api_num_threads, 0,
          "Threads serving REST requests (0: four per CPU core, as TF Serving).");
ABSL_FLAG(int32_t, rest_api_timeout_in_ms, 30000,
          "Close a REST connection that makes no progress (a slow or stalled client, an "
          "idle keep-alive) for this long.");
ABSL_FLAG(bool, rest_api_enable_cors_support, false,
          "Answer CORS preflights and send Access-Control-Allow-* headers on REST.");
ABSL_FLAG(std::string, monitoring_config_file, "",
          "A MonitoringConfig in protobuf text format: prometheus_config { enable: true "
          "path: \"/monitoring/prometheus/metrics\" } serves Prometheus metrics at that path "
          "on the REST port (needs --rest_api_port).");
ABSL_FLAG(std::string, model_name, "default",
          "Name of the model when serving one model from --model_base_path.");
ABSL_FLAG(std::string, model_base_path, "",
          "Path of the model to serve: a directory of numeric version directories, a "
          "SavedModel directory or a Keras .h5 file (both served as version 1).");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "With --model_base_path: a directory of training checkpoints (`checkpoint` "
          "pointer file) to follow: its latest valid checkpoint supplies the model's "
          "weights, and each new one is validated and swapped in while serving.");
ABSL_FLAG(std::string, model_config_file, "",
          "A ModelServerConfig in protobuf text format naming the models to serve "
          "(model_config_list { config { name base_path model_platform "
          "model_version_policy version_labels checkpoint_dir } }). Overrides "
          "--model_name/--model_base_path.");
ABSL_FLAG(int32_t, model_config_file_poll_wait_seconds, 0,
          "Re-read --model_config_file this often and apply changes (0: read once).");
ABSL_FLAG(int32_t, file_system_poll_wait_seconds, 1,
          "Look for new model versions this often (0: only at start and on reload).");
ABSL_FLAG(int32_t, max_num_load_retries, 5,
          "Retry a failed version load this many times (a version directory may still "
          "be being copied).");
ABSL_FLAG(int64_t, load_retry_interval_micros, 60LL * 1000 * 1000,
          "Wait this long between load retries.");
ABSL_FLAG(int32_t, grpc_max_threads, 0,
          "Most threads gRPC's synchronous services may use, and most calls that may block "
          "(batched calls waiting for their batch) served at once (0: gRPC's default and "
          "1024).");
ABSL_FLAG(int32_t, max_message_bytes, 64 << 20,
          "Largest request or response message, in bytes; bigger requests are refused "
          "with RESOURCE_EXHAUSTED.");
ABSL_FLAG(double, checkpoint_poll_seconds, 2.0,
          "Also look at followed checkpoint directories this often (inotify events "
          "are the fast path; network and overlay volumes often deliver none).");
ABSL_FLAG(bool, checkpoint_inotify, true,
          "Watch followed checkpoint directories with inotify (false: poll only).");
ABSL_FLAG(bool, checkpoint_keep_previous_weights, true,
          "Keep the weights that served before the last swap in memory, so that a "
          "checkpoint Rollback is instant (memory: two weight sets). false: one set; "
          "Rollback reads the previous checkpoint again, if it is still on disk.");
ABSL_FLAG(bool, reject_nonfinite, true,
          "Reject checkpoints holding a NaN or infinity (the old weights keep serving).");
ABSL_FLAG(double, checkpoint_settle_seconds, 1.0,
          "Take a Keras 3 checkpoint file (*.weights.h5, *.keras) once it has not been "
          "modified for this long (h5py writes them in place, in pieces).");
ABSL_FLAG(double, checkpoint_read_timeout_seconds, 120.0,
          "Kill the child process parsing a Keras 3 checkpoint file after this long.");
ABSL_FLAG(int32_t, shutdown_grace_seconds, 10,
          "On SIGTERM/SIGINT, let in-flight calls run this long before cancelling them.");
ABSL_FLAG(bool, enable_echo, false,
          "Also serve swapserve.bench.v1.Echo, the transport floor of `swapserve-cli bench "
          "--floor` (a PredictRequest in, its size out; no model runs).");
ABSL_FLAG(int32_t, max_concurrent_requests, 0,
          "Most inference calls (Predict, Classify, Regress, metadata; gRPC and REST "
          "together) in progress at once; beyond it a call is refused at once with "
          "RESOURCE_EXHAUSTED (HTTP 429). 0: no bound.");
ABSL_FLAG(std::string, admin_token_file, "",
          "A file holding a bearer token: calls that change what is served (checkpoint "
          "pin/unpin/rollback, HandleReloadConfigRequest, their REST forms) then need "
          "'authorization: Bearer <token>'. Empty: they are open, as in TF Serving.");
ABSL_FLAG(std::string, ssl_config_file, "",
          "A text-format SSLConfig (server_key, server_cert, custom_ca: PEM contents; "
          "client_verify: mutual TLS): gRPC and REST then accept TLS connections only. "
          "Empty: plaintext.");
ABSL_FLAG(std::vector<std::string>, allowed_model_roots, {},
          "Comma-separated directories: every model and checkpoint path the daemon reads "
          "(flags, config files, HandleReloadConfigRequest, pins, checkpoint pointers, "
          "version directories) must resolve inside one of them, with no '..' and no "
          "symlink leading out; others are refused with PERMISSION_DENIED. Empty: any path.");
ABSL_FLAG(bool, testing_hooks, false,
          "For swapserve's own tests only: a Predict/Classify/Regress/metadata call "
          "with metadata swapserve-testing-hold-ms waits that long inside its handler.");
ABSL_FLAG(bool, enable_batching, false,
          "Batch Predict/Classify/Regress calls to the same model version and signature "
          "(TF Serving's dynamic batching); tuned by --batching_parameters_file.");
ABSL_FLAG(std::string, batching_parameters_file, "",
          "TF Serving's BatchingParameters in protobuf text format (max_batch_size { value: 32 } "
          "batch_timeout_micros { value: 1000 } ...); needs --enable_batching.");
ABSL_FLAG(bool, enable_per_model_batching_parameters, false,
          "With --enable_batching: a version whose directory holds batching_params.pbtxt (a "
          "BatchingParameters text proto) batches with those parameters, the other versions do "
          "not batch (TF Serving's per-model batching parameters).");

namespace {

using swapserve::server::ServerOptions;

// --enable_batching and its parameters file, with TF Serving's checks.
absl::Status BatchingFromFlags(ServerOptions* o) {
  const std::string file = absl::GetFlag(FLAGS_batching_parameters_file);
  if (!absl::GetFlag(FLAGS_enable_batching)) {
    if (!file.empty()) {
      return absl::InvalidArgumentError(
          "--batching_parameters_file is set without setting --enable_batching to true");
    }
    if (absl::GetFlag(FLAGS_enable_per_model_batching_parameters)) {
      return absl::InvalidArgumentError(
          "--enable_per_model_batching_parameters is only applicable with --enable_batching");
    }
    return absl::OkStatus();
  }
  o->per_model_batching = absl::GetFlag(FLAGS_enable_per_model_batching_parameters);
  // Without a file, TF Serving's defaults (which pass its checks).
  absl::StatusOr<swapserve::server::batching::BatchingOptions> batching =
      file.empty() ? swapserve::server::batching::ToBatchingOptions(
                         {}, static_cast<int>(std::thread::hardware_concurrency()))
                   : swapserve::server::ReadBatchingOptions(file);
  if (!batching.ok()) return batching.status();
  o->batching = *std::move(batching);
  return absl::OkStatus();
}

absl::StatusOr<ServerOptions> OptionsFromFlags() {
  ServerOptions o;
  o.port = absl::GetFlag(FLAGS_port);
  o.grpc_max_threads = absl::GetFlag(FLAGS_grpc_max_threads);
  o.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  o.rest_port = absl::GetFlag(FLAGS_rest_api_port);
  o.rest_num_threads = absl::GetFlag(FLAGS_rest_api_num_threads);
  o.rest_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_rest_api_timeout_in_ms));
  o.rest_enable_cors = absl::GetFlag(FLAGS_rest_api_enable_cors_support);
  o.shutdown_grace = absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds));
  o.testing_hooks = absl::GetFlag(FLAGS_testing_hooks);
  o.enable_echo = absl::GetFlag(FLAGS_enable_echo);
  o.max_concurrent_requests = absl::GetFlag(FLAGS_max_concurrent_requests);
  o.admin_token_file = absl::GetFlag(FLAGS_admin_token_file);
  o.ssl_config_file = absl::GetFlag(FLAGS_ssl_config_file);
  if (o.max_concurrent_requests < 0) {
    return absl::InvalidArgumentError("--max_concurrent_requests must be 0 (no bound) or more");
  }
  o.manager.poll_wait = absl::Seconds(absl::GetFlag(FLAGS_file_system_poll_wait_seconds));
  o.manager.max_num_load_retries = absl::GetFlag(FLAGS_max_num_load_retries);
  o.manager.load_retry_interval =
      absl::Microseconds(absl::GetFlag(FLAGS_load_retry_interval_micros));
  o.manager.follower.poll = absl::Seconds(absl::GetFlag(FLAGS_checkpoint_poll_seconds));
  o.manager.follower.reject_nonfinite = absl::GetFlag(FLAGS_reject_nonfinite);
  o.manager.follower.keep_previous_weights = absl::GetFlag(FLAGS_checkpoint_keep_previous_weights);
  o.manager.follower.use_inotify = absl::GetFlag(FLAGS_checkpoint_inotify);
  o.manager.follower.settle = absl::Seconds(absl::GetFlag(FLAGS_checkpoint_settle_seconds));
  absl::StatusOr<swapserve::server::AllowedRoots> roots =
      swapserve::server::AllowedRoots::Create(absl::GetFlag(FLAGS_allowed_model_roots));
  if (!roots.ok()) return roots.status();
  o.manager.follower.allowed_roots = *std::move(roots);
  {
    // HDF5 files (Keras checkpoints and .h5/.keras models) are parsed by this
    // executable in a child process.
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) return absl::InternalError("cannot find this executable (/proc/self/exe)");
    const std::string program(self, static_cast<size_t>(n));
    const absl::Duration timeout =
        absl::Seconds(absl::GetFlag(FLAGS_checkpoint_read_timeout_seconds));
    if (timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--checkpoint_read_timeout_seconds must be > 0");
    }
    o.manager.follower.read_keras_weights = [program, timeout](const std::string& path) {
      return swapserve::server::ReadKerasWeightsIsolated(program, path, timeout);
    };
    o.manager.follower.read_keras_h5 = [program, timeout](const std::string& path) {
      return swapserve::server::ReadKerasH5Isolated(program, path, timeout);
    };
  }
  o.model_config_file = absl::GetFlag(FLAGS_model_config_file);
  o.config_poll_wait = absl::Seconds(absl::GetFlag(FLAGS_model_config_file_poll_wait_seconds));
  if (o.manager.follower.poll <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--checkpoint_poll_seconds must be > 0");
  }
  if (o.port < 0 || o.port > 65535) return absl::InvalidArgumentError("--port must be 0..65535");
  if (o.rest_port < 0 || o.rest_port > 65535) {
    return absl::InvalidArgumentError("--rest_api_port must be 0..65535 (0: no REST API)");
  }
  if (o.rest_port != 0 && o.rest_port == o.port) {
    return absl::InvalidArgumentError("--rest_api_port must differ from --port");
  }
  if (const std::string file = absl::GetFlag(FLAGS_monitoring_config_file); !file.empty()) {
    absl::StatusOr<tensorflow::serving::MonitoringConfig> monitoring =
        swapserve::server::ReadMonitoringConfig(file);
    if (!monitoring.ok()) return monitoring.status();
    if (monitoring->prometheus_config().enable()) {
      if (o.rest_port == 0) {
        return absl::InvalidArgumentError(
            "--monitoring_config_file enables Prometheus metrics, which are served on the REST "
            "port: give --rest_api_port too");
      }
      o.metrics_path = monitoring->prometheus_config().path();
      if (o.metrics_path.empty()) o.metrics_path = swapserve::server::kDefaultMetricsPath;
      if (o.metrics_path[0] != '/' || absl::StartsWithIgnoreCase(o.metrics_path, "/v1/")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the Prometheus path must start with '/' and lie outside /v1/: ", o.metrics_path));
      }
    }
  }
  if (absl::Status s = BatchingFromFlags(&o); !s.ok()) return s;
  if (o.rest_num_threads < 0) return absl::InvalidArgumentError("--rest_api_num_threads must be >= 0");
  if (o.rest_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--rest_api_timeout_in_ms must be > 0");
  }
  if (o.max_message_bytes <= 0) return absl::InvalidArgumentError("--max_message_bytes must be > 0");
  if (o.manager.max_num_load_retries < 0) {
    return absl::InvalidArgumentError("--max_num_load_retries must be >= 0");
  }
  if (!o.model_config_file.empty()) return o;
  if (absl::GetFlag(FLAGS_model_base_path).empty()) {
    return absl::InvalidArgumentError(
        "give --model_base_path (with --model_name) or --model_config_file");
  }
  auto* model = o.config.mutable_model_config_list()->add_config();
  model->set_name(absl::GetFlag(FLAGS_model_name));
  model->set_base_path(absl::GetFlag(FLAGS_model_base_path));
  model->set_model_platform("tensorflow");
  model->set_checkpoint_dir(absl::GetFlag(FLAGS_checkpoint_dir));
  return o;
}

// Blocks SIGTERM/SIGINT in every thread (gRPC's threads inherit the mask) so that
// main can wait for them with sigwait.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  // The child that parses a Keras checkpoint file for the daemon (isolated_reader.h).
  if (argc >= 2 && argv[1] == swapserve::server::kReadKerasWeightsCommand) {
    return swapserve::server::RunKerasWeightsReader(argc, argv);
  }
  if (argc >= 2 && argv[1] == swapserve::server::kReadKerasH5Command) {
    return swapserve::server::RunKerasH5Reader(argc, argv);
  }
#ifdef NDEBUG
  // Debian's Abseil is built with mutex deadlock detection on, and gRPC's locks
  // are absl::Mutex: every lock went through a global lock-order graph
  // (GraphCycles, ~3% of a serving thread). Release binaries skip it; debug and
  // sanitizer builds keep the check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  absl::SetProgramUsageMessage(
      "Serves TensorFlow SavedModels and Keras .h5 and .keras models over TF Serving's gRPC and REST APIs.\n"
      "  swapserve --model_base_path=/models/m [--model_name=m] [--port=8500] "
      "[--rest_api_port=8501]\n"
      "  swapserve --model_config_file=models.config");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server/");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;

  absl::StatusOr<ServerOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "swapserve: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  const sigset_t signals = BlockShutdownSignals();
  absl::StatusOr<std::unique_ptr<swapserve::server::Server>> server =
      swapserve::server::Server::Start(*std::move(options));
  if (!server.ok()) {
    LOG(ERROR) << "swapserve failed to start: " << server.status();
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    absl::Status s = swapserve::WriteFileAtomically(port_file, absl::StrCat((*server)->port(), "\n"));
    if (!s.ok()) {
      LOG(ERROR) << "cannot write --port_file: " << s;
      return 1;
    }
  }
  int signal = 0;
  sigwait(&signals, &signal);
  LOG(INFO) << "Received " << (signal == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  LOG(INFO) << "Stopped";
  return 0;
}
