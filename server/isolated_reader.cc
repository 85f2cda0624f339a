// Keras weights parsed in a child process; see isolated_reader.h.
#include "server/isolated_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/formats/keras_archive.h"
#include "model/loaded_model.h"
#include "model/util/status_macros.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace swapserve::server {
namespace {

constexpr char kMagic[4] = {'S', 'S', 'K', 'W'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kEnd = 0xFFFFFFFFu;
constexpr uint32_t kMaxKey = 4096;
constexpr uint32_t kMaxRank = 32;
constexpr uint32_t kMaxMessage = 1 << 16;

// --- child ---

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

template <typename T>
bool WriteValue(int fd, T v) {
  return WriteAll(fd, &v, sizeof(v));
}

bool WriteEnd(int fd, const absl::Status& status) {
  const std::string message(status.message().substr(0, kMaxMessage));
  return WriteValue(fd, kEnd) && WriteValue(fd, static_cast<int32_t>(status.code())) &&
         WriteValue(fd, static_cast<uint32_t>(message.size())) &&
         WriteAll(fd, message.data(), message.size());
}

// --- parent ---

// Reads exactly `n` bytes from `fd` before `deadline`.
class PipeReader {
 public:
  PipeReader(int fd, absl::Time deadline) : fd_(fd), deadline_(deadline) {}

  absl::Status Read(void* out, size_t n) {
    char* p = static_cast<char*>(out);
    while (n > 0) {
      const int64_t ms = absl::ToInt64Milliseconds(deadline_ - absl::Now());
      if (ms <= 0) return absl::DeadlineExceededError("time limit");
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(ms, 1000)));
      if (ready < 0 && errno != EINTR) return absl::InternalError(std::strerror(errno));
      if (ready <= 0) continue;
      const ssize_t r = ::read(fd_, p, n);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return absl::DataLossError("the stream ended early");
      p += r;
      n -= static_cast<size_t>(r);
    }
    return absl::OkStatus();
  }
  template <typename T>
  absl::StatusOr<T> Value() {
    T v;
    if (absl::Status s = Read(&v, sizeof(v)); !s.ok()) return s;
    return v;
  }

 private:
  const int fd_;
  const absl::Time deadline_;
};

#define SS_ASSIGN_VALUE(var, type, reader)               \
  absl::StatusOr<type> var##_or = (reader).Value<type>(); \
  if (!var##_or.ok()) return var##_or.status();           \
  const type var = *var##_or

absl::StatusOr<std::map<std::string, Tensor>> ReadStream(PipeReader& in, uint64_t budget) {
  char magic[4];
  if (absl::Status s = in.Read(magic, 4); !s.ok()) return s;
  SS_ASSIGN_VALUE(version, uint32_t, in);
  if (std::memcmp(magic, kMagic, 4) != 0 || version != kVersion) {
    return absl::DataLossError("not a weights stream");
  }
  std::map<std::string, Tensor> tensors;
  for (;;) {
    SS_ASSIGN_VALUE(key_size, uint32_t, in);
    if (key_size == kEnd) break;
    if (key_size > kMaxKey) return absl::DataLossError(absl::StrCat("key of ", key_size, " bytes"));
    std::string key(key_size, '\0');
    if (absl::Status s = in.Read(key.data(), key.size()); !s.ok()) return s;
    SS_ASSIGN_VALUE(dtype, int32_t, in);
    SS_ASSIGN_VALUE(rank, uint32_t, in);
    if (rank > kMaxRank) return absl::DataLossError(absl::StrCat(key, ": rank ", rank));
    std::vector<int64_t> dims(rank);
    if (absl::Status s = in.Read(dims.data(), rank * sizeof(int64_t)); !s.ok()) return s;
    SS_ASSIGN_VALUE(bytes, uint64_t, in);
    absl::StatusOr<TensorShape> shape = TensorShape::Make(dims);
    if (!shape.ok()) return absl::DataLossError(absl::StrCat(key, ": ", shape.status().message()));
    const auto type = static_cast<DataType>(dtype);
    const size_t element = tensorflow::DataType_IsValid(dtype) ? DataTypeSize(type) : 0;
    uint64_t want = 0;
    if (element == 0 || type == tensorflow::DT_STRING ||
        __builtin_mul_overflow(static_cast<uint64_t>(shape->num_elements()), element, &want) ||
        want != bytes || bytes > budget) {
      return absl::DataLossError(absl::StrCat(key, ": ", bytes, " bytes for dtype ", dtype,
                                              " and shape ", shape->DebugString()));
    }
    budget -= bytes;
    absl::StatusOr<Tensor> tensor = Tensor::Allocate(type, *std::move(shape));
    if (!tensor.ok()) return tensor.status();
    if (absl::Status s = in.Read(tensor->raw_data(), bytes); !s.ok()) return s;
    tensors.emplace(std::move(key), *std::move(tensor));
  }
  SS_ASSIGN_VALUE(code, int32_t, in);
  SS_ASSIGN_VALUE(message_size, uint32_t, in);
  if (message_size > kMaxMessage) return absl::DataLossError("oversized error message");
  std::string message(message_size, '\0');
  if (absl::Status s = in.Read(message.data(), message.size()); !s.ok()) return s;
  if (code != 0) {
    return absl::Status(static_cast<absl::StatusCode>(code), message);
  }
  return tensors;
}

}  // namespace

namespace {

// The child's stream of `tensors` (or of their error) on stdout; the exit code.
int WriteStream(const absl::StatusOr<std::map<std::string, Tensor>>& tensors) {
  const int out = STDOUT_FILENO;
  if (!WriteAll(out, kMagic, 4) || !WriteValue(out, kVersion)) return 1;
  if (tensors.ok()) {
    for (const auto& [key, t] : *tensors) {
      const std::vector<int64_t>& dims = t.shape().dims();
      const uint64_t bytes = static_cast<uint64_t>(t.num_elements()) * DataTypeSize(t.dtype());
      if (!WriteValue(out, static_cast<uint32_t>(key.size())) ||
          !WriteAll(out, key.data(), key.size()) ||
          !WriteValue(out, static_cast<int32_t>(t.dtype())) ||
          !WriteValue(out, static_cast<uint32_t>(dims.size())) ||
          !WriteAll(out, dims.data(), dims.size() * sizeof(int64_t)) || !WriteValue(out, bytes) ||
          !WriteAll(out, t.raw_data(), bytes)) {
        return 1;
      }
    }
  }
  return WriteEnd(out, tensors.ok() ? absl::OkStatus() : tensors.status()) ? 0 : 1;
}

// Runs `program command path` and reads its stream (see the header for errors).
absl::StatusOr<std::map<std::string, Tensor>> RunReader(const std::string& program,
                                                        absl::string_view command_name,
                                                        const std::string& path,
                                                        absl::Duration timeout) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  // What the stream may carry: the file's bytes, or what an archive's
  // deflated weights can expand to.
  const uint64_t budget = static_cast<uint64_t>(st.st_size) * kMaxDeflateRatio + (1 << 20);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  const std::string command(command_name);
  std::vector<char*> argv = {const_cast<char*>(program.c_str()),
                             const_cast<char*>(command.c_str()),
                             const_cast<char*>(path.c_str()), nullptr};
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (spawned != 0) {
    ::close(fds[0]);
    return absl::InternalError(
        absl::StrCat("cannot run the weights reader ", program, ": ", std::strerror(spawned)));
  }
  PipeReader reader(fds[0], absl::Now() + timeout);
  absl::StatusOr<std::map<std::string, Tensor>> tensors = ReadStream(reader, budget);
  if (absl::IsDeadlineExceeded(tensors.status())) ::kill(pid, SIGKILL);
  ::close(fds[0]);  // a child still writing gets SIGPIPE
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (absl::IsDeadlineExceeded(tensors.status())) {
    return absl::DeadlineExceededError(absl::StrCat(
        path, ": reading took longer than ", absl::FormatDuration(timeout),
        " (the reader was killed; libhdf5 hangs on some corrupt files)"));
  }
  if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) != SIGPIPE) {
    return absl::DataLossError(absl::StrCat(path, ": the reader crashed (signal ",
                                            WTERMSIG(wstatus), ", ", strsignal(WTERMSIG(wstatus)),
                                            "): the file is corrupt"));
  }
  if (!tensors.ok() && absl::IsDataLoss(tensors.status()) &&
      !absl::StrContains(tensors.status().message(), path)) {
    return absl::DataLossError(absl::StrCat(path, ": reader: ", tensors.status().message()));
  }
  return tensors;
}

constexpr char kH5Header[] = "keras_h5";

std::string WeightKey(size_t layer, size_t weight) { return absl::StrCat("w/", layer, "/", weight); }

// A legacy .h5 file as stream tensors: its header (JSON as uint8) and weights.
absl::StatusOr<std::map<std::string, Tensor>> EncodeKerasH5(KerasH5File file) {
  nlohmann::json header = {{"keras_version", file.keras_version},
                           {"backend", file.backend},
                           {"model_config", file.model_config.value_or(nullptr)},
                           {"training_config", file.training_config.value_or(nullptr)},
                           {"layers", nlohmann::json::array()}};
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < file.layers.size(); ++i) {
    nlohmann::json names = nlohmann::json::array();
    for (size_t j = 0; j < file.layers[i].weights.size(); ++j) {
      names.push_back(file.layers[i].weights[j].name);
      out.emplace(WeightKey(i, j), std::move(file.layers[i].weights[j].value));
    }
    header["layers"].push_back({{"name", file.layers[i].name}, {"weights", std::move(names)}});
  }
  const std::string text = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  ASSIGN_OR_RETURN(Tensor bytes,
                   Tensor::Allocate(tensorflow::DT_UINT8,
                                    *TensorShape::Make({static_cast<int64_t>(text.size())})));
  std::memcpy(bytes.raw_data(), text.data(), text.size());
  out.emplace(kH5Header, std::move(bytes));
  return out;
}

absl::Status Malformed(const std::string& path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(path, ": reader: the .h5 stream ", what));
}

// The inverse, checking every field (the stream comes from another process).
absl::StatusOr<KerasH5File> DecodeKerasH5(const std::string& path,
                                          std::map<std::string, Tensor> tensors) {
  auto it = tensors.find(kH5Header);
  if (it == tensors.end() || it->second.dtype() != tensorflow::DT_UINT8) {
    return Malformed(path, "has no header");
  }
  const Tensor& bytes = it->second;
  const nlohmann::json header = nlohmann::json::parse(
      static_cast<const char*>(bytes.raw_data()),
      static_cast<const char*>(bytes.raw_data()) + bytes.num_elements(), nullptr,
      /*allow_exceptions=*/false);
  if (!header.is_object() || !header.contains("layers") || !header["layers"].is_array() ||
      !header.value("keras_version", nlohmann::json()).is_string() ||
      !header.value("backend", nlohmann::json()).is_string()) {
    return Malformed(path, "header is not the expected JSON");
  }
  KerasH5File file;
  file.path = path;
  file.keras_version = header["keras_version"].get<std::string>();
  file.backend = header["backend"].get<std::string>();
  if (const auto& c = header.value("model_config", nlohmann::json()); !c.is_null()) file.model_config = c;
  if (const auto& c = header.value("training_config", nlohmann::json()); !c.is_null()) {
    file.training_config = c;
  }
  size_t used = 1;
  const nlohmann::json& layers = header["layers"];
  for (size_t i = 0; i < layers.size(); ++i) {
    const nlohmann::json& l = layers[i];
    if (!l.is_object() || !l.value("name", nlohmann::json()).is_string() ||
        !l.value("weights", nlohmann::json()).is_array()) {
      return Malformed(path, absl::StrCat("layer ", i, " is not the expected JSON"));
    }
    KerasH5Layer layer;
    layer.name = l["name"].get<std::string>();
    const nlohmann::json& names = l["weights"];
    for (size_t j = 0; j < names.size(); ++j) {
      auto w = tensors.find(WeightKey(i, j));
      if (!names[j].is_string() || w == tensors.end()) {
        return Malformed(path, absl::StrCat("lacks weight ", j, " of layer ", layer.name));
      }
      layer.weights.push_back(KerasH5Weight{names[j].get<std::string>(), std::move(w->second)});
      ++used;
    }
    file.layers.push_back(std::move(layer));
  }
  if (used != tensors.size()) return Malformed(path, "holds tensors no layer names");
  return file;
}

}  // namespace

int RunKerasWeightsReader(int argc, char** argv) {
  if (argc != 3) return 2;
  signal(SIGPIPE, SIG_DFL);
  return WriteStream(ReadKerasLayerWeights(argv[2]));
}

int RunKerasH5Reader(int argc, char** argv) {
  if (argc != 3) return 2;
  signal(SIGPIPE, SIG_DFL);
  absl::StatusOr<KerasH5File> file = ReadKerasH5(argv[2]);
  return WriteStream(file.ok() ? EncodeKerasH5(*std::move(file)) : file.status());
}

absl::StatusOr<std::map<std::string, Tensor>> ReadKerasWeightsIsolated(
    const std::string& program, const std::string& path, absl::Duration timeout) {
  return RunReader(program, kReadKerasWeightsCommand, path, timeout);
}

absl::StatusOr<KerasH5File> ReadKerasH5Isolated(const std::string& program,
                                                const std::string& path, absl::Duration timeout) {
  absl::StatusOr<std::map<std::string, Tensor>> tensors =
      RunReader(program, kReadKerasH5Command, path, timeout);
  if (!tensors.ok()) return tensors.status();
  return DecodeKerasH5(path, *std::move(tensors));
}

}  // namespace swapserve::server
