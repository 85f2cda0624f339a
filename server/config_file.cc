#include "server/config_file.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

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

absl::StatusOr<tensorflow::serving::ModelServerConfig> ParseModelServerConfig(
    const std::string& text, const std::string& what) {
  tensorflow::serving::ModelServerConfig config;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a text-format ModelServerConfig: ", errors.error()));
  }
  return config;
}

absl::StatusOr<tensorflow::serving::ModelServerConfig> ReadModelServerConfig(
    const std::string& path) {
  std::string text;
  RETURN_IF_ERROR(ReadFileToString(path, kMaxConfigBytes, &text));
  return ParseModelServerConfig(text, path);
}

}  // namespace swapserve::server
