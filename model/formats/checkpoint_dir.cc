// Latest checkpoint of a directory, TF pointer or Keras 3 files; see checkpoint_dir.h.
#include "model/formats/checkpoint_dir.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "model/formats/checkpoint_state.h"
#include "model/util/file.h"

namespace swapserve {

bool IsKerasCheckpointName(absl::string_view name) {
  return absl::EndsWith(name, ".weights.h5") || absl::EndsWith(name, ".keras");
}

int64_t CheckpointStep(absl::string_view path) {
  absl::string_view name = path.substr(path.rfind('/') + 1);
  for (absl::string_view ext : {".weights.h5", ".keras"}) {
    if (absl::EndsWith(name, ext)) name.remove_suffix(ext.size());
  }
  size_t end = name.size();
  while (end > 0 && !std::isdigit(static_cast<unsigned char>(name[end - 1]))) --end;
  size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(name[begin - 1]))) --begin;
  int64_t step = -1;
  if (begin == end || !absl::SimpleAtoi(name.substr(begin, end - begin), &step)) return -1;
  return step;
}

std::vector<KerasCheckpointFile> ListKerasCheckpoints(const std::string& dir) {
  std::vector<KerasCheckpointFile> files;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return files;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    // Hidden names are temporaries (ours are written as .NAME.tmp, then renamed).
    if (name.empty() || name[0] == '.' || !IsKerasCheckpointName(name)) continue;
    KerasCheckpointFile f;
    f.path = absl::StrCat(dir, "/", name);
    struct stat st;
    if (stat(f.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    f.step = CheckpointStep(name);
    f.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    f.size = st.st_size;
    files.push_back(std::move(f));
  }
  closedir(d);
  std::sort(files.begin(), files.end(), [](const KerasCheckpointFile& a, const KerasCheckpointFile& b) {
    return std::tie(a.step, a.mtime_ns, a.path) < std::tie(b.step, b.mtime_ns, b.path);
  });
  return files;
}

absl::StatusOr<std::string> LatestCheckpointInDir(const std::string& dir) {
  if (!IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("checkpoint directory ", dir, " does not exist"));
  }
  if (PathExists(absl::StrCat(dir, "/", kCheckpointStateFilename))) return LatestCheckpoint(dir);
  std::vector<KerasCheckpointFile> files = ListKerasCheckpoints(dir);
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat(
        dir, "/", kCheckpointStateFilename,
        " does not exist, and there is no Keras *.weights.h5 or *.keras file"));
  }
  return files.back().path;
}

}  // namespace swapserve
