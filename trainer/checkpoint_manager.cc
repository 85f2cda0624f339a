#include "trainer/checkpoint_manager.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "model/formats/checkpoint_state.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"
#include "trainer/keras3_checkpoint.h"
#include "trainer/keras_checkpoint.h"

namespace swapserve::trainer {
namespace {

// Removes PREFIX.index and every PREFIX.data-* file.
void DeleteCheckpoint(const std::string& dir, const std::string& name) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n == name + ".index" || absl::StartsWith(n, name + ".data-")) {
        unlink((dir + "/" + n).c_str());
      }
    }
    closedir(d);
  }
}

}  // namespace

absl::StatusOr<std::string> FormatCheckpointPath(const std::string& pattern, int64_t epoch,
                                                 int64_t batch) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    const size_t close = pattern.find('}', i);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("unclosed '{' in ", pattern));
    }
    const std::string field = pattern.substr(i + 1, close - i - 1);
    const std::string name = field.substr(0, field.find(':'));
    const std::string spec = field.find(':') == std::string::npos ? "" : field.substr(field.find(':') + 1);
    int64_t value;
    if (name == "epoch") {
      value = epoch;
    } else if (name == "batch") {
      value = batch;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown field {", field, "} in ", pattern,
                                                     " (use {epoch} or {batch}, e.g. {epoch:04d})"));
    }
    int width = 0;
    if (!spec.empty() && (spec.back() != 'd' || !absl::SimpleAtoi(spec.substr(0, spec.size() - 1), &width) ||
                          width < 0 || width > 20)) {
      return absl::InvalidArgumentError(absl::StrCat("unsupported format {", field, "} in ", pattern,
                                                     " (only integer widths such as :04d)"));
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%0*lld", width, static_cast<long long>(value));
    out += buf;
    i = close;
  }
  return out;
}

absl::StatusOr<CheckpointFormat> CheckpointFormatByName(const std::string& name) {
  if (name == "tf") return CheckpointFormat::kTf;
  if (name == "keras3") return CheckpointFormat::kKeras3;
  return absl::InvalidArgumentError(
      absl::StrCat("--checkpoint_format: '", name, "' is neither tf nor keras3"));
}

CheckpointManager::CheckpointManager(std::string pattern, int max_to_keep, CheckpointFormat format)
    : pattern_(std::move(pattern)),
      dir_(DirName(pattern_)),
      max_to_keep_(max_to_keep),
      format_(format) {
  if (absl::StatusOr<tensorflow::CheckpointState> state = ReadCheckpointState(dir_); state.ok()) {
    for (const std::string& p : state->all_model_checkpoint_paths()) kept_.push_back(BaseName(p));
  }
}

absl::StatusOr<std::string> CheckpointManager::Save(int64_t epoch, int64_t batch,
                                                    const Network& network, const Adam* optimizer) {
  ASSIGN_OR_RETURN(std::string prefix, FormatCheckpointPath(pattern_, epoch, batch));
  RETURN_IF_ERROR(CreateDirectories(dir_));
  if (format_ == CheckpointFormat::kKeras3) {
    if (!absl::EndsWith(prefix, ".weights.h5")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--checkpoint_format=keras3: the checkpoint path must end in .weights.h5, not ", prefix));
    }
    if (optimizer == nullptr) {
      return absl::InvalidArgumentError("a Keras 3 checkpoint holds the optimizer's state");
    }
    RETURN_IF_ERROR(WriteKeras3Checkpoint(prefix, network, optimizer));
    std::erase(kept_, prefix);
    kept_.push_back(prefix);
    while (max_to_keep_ > 0 && static_cast<int>(kept_.size()) > max_to_keep_) {
      unlink(kept_.front().c_str());
      kept_.pop_front();
    }
    return prefix;
  }
  RETURN_IF_ERROR(WriteKerasCheckpoint(prefix, network, optimizer));  // data, then index
  const std::string name = BaseName(prefix);
  std::erase(kept_, name);
  kept_.push_back(name);
  std::deque<std::string> removed;
  while (max_to_keep_ > 0 && static_cast<int>(kept_.size()) > max_to_keep_) {
    removed.push_back(kept_.front());
    kept_.pop_front();
  }
  tensorflow::CheckpointState state;
  state.set_model_checkpoint_path(name);
  for (const std::string& k : kept_) state.add_all_model_checkpoint_paths(k);
  RETURN_IF_ERROR(WriteCheckpointState(dir_, state));  // the pointer, last
  for (const std::string& r : removed) DeleteCheckpoint(dir_, r);
  return prefix;
}

}  // namespace swapserve::trainer
