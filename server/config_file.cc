#include "server/config_file.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"
#include "server/batching/batching_options.h"

namespace swapserve::server {
namespace {

constexpr uint64_t kMaxConfigBytes = 16 << 20;

// Keeps the first parse error with its position.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (error_.empty()) error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

}  // namespace

// Parses `text` (read from `what`) as a text-format `Message`, named `kind` in errors.
template <typename Message>
absl::StatusOr<Message> ParseText(const std::string& text, const std::string& what,
                                  const char* kind) {
  Message message;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &message)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a text-format ", kind, ": ", errors.error()));
  }
  return message;
}

absl::StatusOr<tensorflow::serving::ModelServerConfig> ParseModelServerConfig(
    const std::string& text, const std::string& what) {
  return ParseText<tensorflow::serving::ModelServerConfig>(text, what, "ModelServerConfig");
}

absl::StatusOr<tensorflow::serving::ModelServerConfig> ReadModelServerConfig(
    const std::string& path) {
  std::string text;
  RETURN_IF_ERROR(ReadFileToString(path, kMaxConfigBytes, &text));
  return ParseModelServerConfig(text, path);
}

absl::StatusOr<tensorflow::serving::MonitoringConfig> ReadMonitoringConfig(
    const std::string& path) {
  std::string text;
  RETURN_IF_ERROR(ReadFileToString(path, kMaxConfigBytes, &text));
  return ParseText<tensorflow::serving::MonitoringConfig>(text, path, "MonitoringConfig");
}

absl::StatusOr<batching::BatchingOptions> ReadBatchingOptions(const std::string& path) {
  std::string text;
  RETURN_IF_ERROR(ReadFileToString(path, kMaxConfigBytes, &text));
  ASSIGN_OR_RETURN(const tensorflow::serving::BatchingParameters params,
                   ParseText<tensorflow::serving::BatchingParameters>(text, path,
                                                                      "BatchingParameters"));
  absl::StatusOr<batching::BatchingOptions> options = batching::ToBatchingOptions(
      params, static_cast<int>(std::thread::hardware_concurrency()));
  if (!options.ok()) {
    return absl::Status(options.status().code(),
                        absl::StrCat(path, ": ", options.status().message()));
  }
  return options;
}

absl::StatusOr<tensorflow::serving::SSLConfig> ReadSslConfig(const std::string& path) {
  std::string text;
  RETURN_IF_ERROR(ReadFileToString(path, kMaxConfigBytes, &text));
  ASSIGN_OR_RETURN(tensorflow::serving::SSLConfig config,
                   ParseText<tensorflow::serving::SSLConfig>(text, path, "SSLConfig"));
  if (config.server_key().empty() || config.server_cert().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": server_key and server_cert (PEM contents) are both required"));
  }
  if (config.client_verify() && config.custom_ca().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": client_verify needs custom_ca, the CA that client certificates must chain to"));
  }
  return config;
}

}  // namespace swapserve::server
