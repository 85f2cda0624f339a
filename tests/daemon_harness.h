// Integration-test harness: runs the real `swapserve` binary of this build tree
// on a port chosen by the OS (--port=0 --port_file) and talks to it through the
// generated gRPC stubs. The daemon's log goes to a file the failing test prints.
#ifndef SWAPSERVE_TESTS_DAEMON_HARNESS_H_
#define SWAPSERVE_TESTS_DAEMON_HARNESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "tensorflow_serving/apis/model_service.grpc.pb.h"
#include "tensorflow_serving/apis/prediction_service.grpc.pb.h"
#include "tests/test_support.h"

namespace swapserve::testing {

class Daemon {
 public:
  // Starts swapserve with `flags` (plus --port=0 and --port_file; with `rest`,
  // also --rest_api_port on a free port) and waits for its port; returns null
  // (after an ADD_FAILURE with the log) if it does not come up.
  static std::unique_ptr<Daemon> Start(const std::vector<std::string>& flags, bool rest = false);
  // Start() with AddressSanitizer's quarantine of freed memory off (in an ASan
  // build), so that freed blocks are reused: for tests that bound the daemon's
  // resident memory, which the quarantine would otherwise hold.
  static std::unique_ptr<Daemon> StartForMemory(const std::vector<std::string>& flags,
                                                bool rest = false);
  ~Daemon();  // SIGKILL if still running

  int port() const { return port_; }  // gRPC's
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int rest_port() const { return rest_port_; }
  // 'http://127.0.0.1:<rest port><path>', quoted for a shell (curl's argument).
  std::string Url(const std::string& path) const;
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  tensorflow::serving::PredictionService::Stub& prediction() { return *prediction_; }
  tensorflow::serving::ModelService::Stub& models() { return *models_; }

  // Sends `signal` and waits for the exit; returns the exit code (-1: killed by a
  // signal or not exited within `timeout`).
  int Stop(int signal, absl::Duration timeout = absl::Seconds(30));
  std::string Log() const;
  pid_t pid() const { return pid_; }  // -1 once exited
  int64_t ResidentKib() const;        // VmRSS from /proc (0 if unreadable)
  int64_t PeakResidentKib() const;    // VmHWM: the peak since start or the last reset
  bool ResetPeakResident() const;     // VmHWM := VmRSS; false if refused

 private:
  Daemon() = default;
  int64_t StatusKib(const std::string& field) const;  // a "kB" field of /proc/PID/status
  static std::unique_ptr<Daemon> StartProcess(const std::vector<std::string>& flags,
                                              bool quiet_if_port_taken);
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int rest_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tensorflow::serving::PredictionService::Stub> prediction_;
  std::unique_ptr<tensorflow::serving::ModelService::Stub> models_;
};

// A context whose deadline is `timeout` from now.
std::unique_ptr<grpc::ClientContext> ContextWithDeadline(absl::Duration timeout = absl::Seconds(30));

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

// A Predict request for one float input.
tensorflow::serving::PredictRequest FloatRequest(const std::string& model, const std::string& alias,
                                                 const std::vector<int64_t>& shape,
                                                 const std::vector<float>& values);

// The float values of a response tensor (float_val or tensor_content).
std::vector<float> Floats(const tensorflow::TensorProto& proto);

// Copies a directory tree (cp -a); fails the test on error.
void CopyTree(const std::string& from, const std::string& to);

// Fills `dir` with the seed's complete checkpoint cp-0000.ckpt (`prefix` is
// fixtures' keras_seed_mlp/training_2/cp-0000.ckpt) and a pointer naming it —
// the seed's own training_2 points at cp-0050, whose data is missing.
void MakeSeedCheckpointDir(const std::string& prefix, const std::string& dir);

// The `swapserve-checkpoint` trailer of a finished call: the checkpoint whose
// weights answered ("" when absent).
std::string CheckpointOf(const grpc::ClientContext& context);

// Copies the one-shard bundle `source` (a prefix) to `dir`/`name` and points
// `dir`'s `checkpoint` file at it with an atomic rename, as a trainer saves:
// what a follower sees as a new checkpoint. Fails the test on error.
void CopyCheckpointAndPoint(const std::string& source, const std::string& dir,
                            const std::string& name);

}  // namespace swapserve::testing

#endif  // SWAPSERVE_TESTS_DAEMON_HARNESS_H_
