#include "model/formats/checkpoint_state.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "model/formats/bundle_format.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

// A pointer file holds a few paths; anything far larger is not one.
constexpr uint64_t kMaxStateBytes = 16 << 20;

std::string StatePath(absl::string_view dir) {
  return absl::StrCat(dir, "/", kCheckpointStateFilename);
}

}  // namespace

std::string ResolveCheckpointPath(absl::string_view dir, absl::string_view path) {
  if (absl::StartsWith(path, "/")) return std::string(path);
  if (dir.empty()) return std::string(path);
  if (absl::EndsWith(dir, "/")) return absl::StrCat(dir, path);
  return absl::StrCat(dir, "/", path);
}

absl::StatusOr<tensorflow::CheckpointState> ReadCheckpointState(
    const std::string& dir) {
  const std::string path = StatePath(dir);
  std::string text;
  RETURN_IF_ERROR(ReadFileToString(path, kMaxStateBytes, &text));
  tensorflow::CheckpointState state;
  google::protobuf::TextFormat::Parser parser;
  parser.AllowUnknownField(false);
  // Silence protobuf's own stderr logging of parse errors; we report them.
  class Collector : public google::protobuf::io::ErrorCollector {
   public:
    void AddError(int line, int column, const std::string& message) override {
      if (first.empty()) first = absl::StrCat(line + 1, ":", column + 1, ": ", message);
    }
    std::string first;
  } errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &state)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a CheckpointState text proto: ", errors.first));
  }
  if (state.model_checkpoint_path().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": names no model_checkpoint_path"));
  }
  state.set_model_checkpoint_path(
      ResolveCheckpointPath(dir, state.model_checkpoint_path()));
  for (std::string& p : *state.mutable_all_model_checkpoint_paths()) {
    p = ResolveCheckpointPath(dir, p);
  }
  return state;
}

absl::Status WriteCheckpointState(const std::string& dir,
                                  const tensorflow::CheckpointState& state) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(state, &text)) {
    return absl::InternalError("cannot print CheckpointState");
  }
  return WriteFileAtomically(StatePath(dir), text);
}

absl::StatusOr<std::string> LatestCheckpoint(const std::string& dir) {
  ASSIGN_OR_RETURN(tensorflow::CheckpointState state, ReadCheckpointState(dir));
  const std::string& prefix = state.model_checkpoint_path();
  if (PathExists(BundleIndexFilename(prefix)) || PathExists(prefix)) return prefix;
  return absl::NotFoundError(absl::StrCat(StatePath(dir), " names ", prefix,
                                          ", but ", BundleIndexFilename(prefix),
                                          " does not exist"));
}

}  // namespace swapserve
