#include "tests/daemon_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "model/formats/checkpoint_state.h"
#include "model/tensor_proto.h"
#include "tests/http_client.h"

namespace swapserve::testing {
namespace {

std::string ReadIfExists(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::unique_ptr<Daemon> Daemon::StartForMemory(const std::vector<std::string>& flags, bool rest) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string saved = asan ? asan : "";
  setenv("ASAN_OPTIONS", absl::StrCat(saved, ":quarantine_size_mb=0").c_str(), 1);
  std::unique_ptr<Daemon> d = Start(flags, rest);
  if (asan) {
    setenv("ASAN_OPTIONS", saved.c_str(), 1);
  } else {
    unsetenv("ASAN_OPTIONS");
  }
  return d;
}

std::unique_ptr<Daemon> Daemon::Start(const std::vector<std::string>& flags, bool rest) {
  if (rest) {
    // The port is free when chosen but not reserved: another process may take it
    // before the daemon binds it. Then the daemon exits saying so; try another.
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::vector<std::string> with_rest = flags;
      const int port = UnusedPort();
      with_rest.push_back(absl::StrCat("--rest_api_port=", port));
      std::unique_ptr<Daemon> started = StartProcess(with_rest, /*quiet_if_port_taken=*/attempt < 2);
      if (started != nullptr) {
        started->rest_port_ = port;
        return started;
      }
    }
    return nullptr;
  }
  return StartProcess(flags, false);
}

std::unique_ptr<Daemon> Daemon::StartProcess(const std::vector<std::string>& flags,
                                             bool quiet_if_port_taken) {
  std::unique_ptr<Daemon> d(new Daemon());
  const std::string port_file = d->dir_.Join("port");
  const std::string log_file = d->dir_.Join("log");
  std::vector<std::string> argv = {BuiltProgram("server/swapserve"), "--port=0",
                                   "--port_file=" + port_file};
  argv.insert(argv.end(), flags.begin(), flags.end());
  // Everything the child needs is prepared before fork: between fork and exec
  // the child may only make async-signal-safe calls (gRPC threads may hold locks).
  std::vector<char*> exec_args;
  for (std::string& a : argv) exec_args.push_back(a.data());
  exec_args.push_back(nullptr);
  const int log_fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  d->pid_ = fork();
  if (d->pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed or killed test
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(exec_args[0], exec_args.data());
    _exit(127);
  }
  if (log_fd >= 0) close(log_fd);
  const bool up = WaitFor(
      [&] {
        int status;
        if (waitpid(d->pid_, &status, WNOHANG) == d->pid_) {
          d->pid_ = -1;
          return true;  // exited: stop waiting
        }
        std::string text = ReadIfExists(port_file);
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &d->port_) && d->port_ > 0;
      },
      absl::Seconds(120));
  if (!up || d->pid_ < 0 || d->port_ <= 0) {
    if (quiet_if_port_taken && absl::StrContains(ReadIfExists(log_file), "Address already in use")) {
      return nullptr;
    }
    ADD_FAILURE() << "swapserve did not start; log:\n" << ReadIfExists(log_file);
    return nullptr;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  d->channel_ = grpc::CreateCustomChannel(d->address(), grpc::InsecureChannelCredentials(), args);
  d->prediction_ = tensorflow::serving::PredictionService::NewStub(d->channel_);
  d->models_ = tensorflow::serving::ModelService::NewStub(d->channel_);
  return d;
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

int Daemon::Stop(int signal, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  const bool exited = WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
  if (!exited) return -1;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Daemon::Url(const std::string& path) const {
  return absl::StrCat("'http://127.0.0.1:", rest_port_, path, "'");
}

int64_t Daemon::StatusKib(const std::string& field) const {
  // (/proc files report size 0, so read them as a stream.)
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  const std::string status((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string key = field + ":";
  const size_t at = status.find(key);
  if (at == std::string::npos) return 0;
  int64_t kib = 0;
  const size_t start = at + key.size(), end = status.find(" kB", at);
  (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(status.substr(start, end - start)), &kib);
  return kib;
}

int64_t Daemon::ResidentKib() const { return StatusKib("VmRSS"); }
int64_t Daemon::PeakResidentKib() const { return StatusKib("VmHWM"); }

bool Daemon::ResetPeakResident() const {
  // "5" resets the peak resident set (VmHWM) to the current one (proc(5)).
  std::ofstream out("/proc/" + std::to_string(pid_) + "/clear_refs");
  out << "5";
  out.close();
  return static_cast<bool>(out);
}

std::string Daemon::Log() const { return ReadIfExists(dir_.Join("log")); }

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

tensorflow::serving::PredictRequest FloatRequest(const std::string& model, const std::string& alias,
                                                 const std::vector<int64_t>& shape,
                                                 const std::vector<float>& values) {
  tensorflow::serving::PredictRequest request;
  request.mutable_model_spec()->set_name(model);
  tensorflow::TensorProto& t = (*request.mutable_inputs())[alias];
  t.set_dtype(tensorflow::DT_FLOAT);
  for (int64_t d : shape) t.mutable_tensor_shape()->add_dim()->set_size(d);
  for (float v : values) t.add_float_val(v);
  return request;
}

std::vector<float> Floats(const tensorflow::TensorProto& proto) {
  absl::StatusOr<Tensor> t = TensorFromProto(proto);
  if (!t.ok() || t->dtype() != tensorflow::DT_FLOAT) {
    ADD_FAILURE() << "not a float tensor: " << proto.ShortDebugString();
    return {};
  }
  return std::vector<float>(t->data<float>(), t->data<float>() + t->num_elements());
}

void CopyTree(const std::string& from, const std::string& to) {
  CommandResult r = RunCommand("cp -a '" + from + "' '" + to + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

void MakeSeedCheckpointDir(const std::string& prefix, const std::string& dir) {
  CopyTree(prefix + ".index", dir + "/cp-0000.ckpt.index");
  CopyTree(prefix + ".data-00000-of-00001", dir + "/cp-0000.ckpt.data-00000-of-00001");
  tensorflow::CheckpointState state;
  state.set_model_checkpoint_path("cp-0000.ckpt");
  state.add_all_model_checkpoint_paths("cp-0000.ckpt");
  ASSERT_TRUE(WriteCheckpointState(dir, state).ok());
}

std::string CheckpointOf(const grpc::ClientContext& context) {
  for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
    if (key == "swapserve-checkpoint") return std::string(value.data(), value.size());
  }
  return "";
}

void CopyCheckpointAndPoint(const std::string& source, const std::string& dir,
                            const std::string& name) {
  const std::string prefix = dir + "/" + name;
  CopyTree(source + ".index", prefix + ".index");
  CopyTree(source + ".data-00000-of-00001", prefix + ".data-00000-of-00001");
  WriteFileOrDie(dir + "/checkpoint.tmp", absl::StrCat("model_checkpoint_path: \"", name, "\"\n"));
  ASSERT_EQ(std::rename((dir + "/checkpoint.tmp").c_str(), (dir + "/checkpoint").c_str()), 0);
}

}  // namespace swapserve::testing
