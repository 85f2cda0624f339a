// `.keras` zips through libzip, with hostile-archive checks; see keras_archive.h.
#include "model/formats/keras_archive.h"

#include <fcntl.h>
#include <unistd.h>
#include <zip.h>

#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "model/formats/keras_json.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

constexpr char kConfig[] = "config.json";
constexpr char kMetadata[] = "metadata.json";
constexpr char kWeights[] = "model.weights.h5";
constexpr char kNpzWeights[] = "model.weights.npz";
constexpr uint64_t kMaxConfigBytes = 64ull << 20;
constexpr uint64_t kMaxMetadataBytes = 1ull << 20;
constexpr uint64_t kMaxWeightsBytes = 32ull << 30;
constexpr uint64_t kMaxEntries = 1 << 16;

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using Zip = std::unique_ptr<zip_t, ZipCloser>;

std::string ZipOpenError(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

// Names an archive may hold: relative, no "..", no backslashes, no empty
// components except a directory entry's trailing slash.
bool SafeEntryName(absl::string_view name) {
  if (name.empty() || name.front() == '/' || absl::StrContains(name, '\\')) return false;
  if (absl::EndsWith(name, "/")) name.remove_suffix(1);
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

struct Entry {
  zip_uint64_t index;
  zip_stat_t stat;
};

class ArchiveReader {
 public:
  explicit ArchiveReader(std::string path) : path_(std::move(path)) {}

  absl::Status Open() {
    int code = 0;
    zip_.reset(zip_open(path_.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
    if (zip_ == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": not a readable zip archive (", ZipOpenError(code), ")"));
    }
    const zip_int64_t count = zip_get_num_entries(zip_.get(), 0);
    if (count < 0 || static_cast<uint64_t>(count) > kMaxEntries) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": ", count, " entries (at most ",
                                                     kMaxEntries, ")"));
    }
    for (zip_int64_t i = 0; i < count; ++i) {
      Entry entry{static_cast<zip_uint64_t>(i), {}};
      zip_stat_init(&entry.stat);
      if (zip_stat_index(zip_.get(), entry.index, 0, &entry.stat) != 0 ||
          (entry.stat.valid & ZIP_STAT_NAME) == 0) {
        return ArchiveError(absl::StrCat("entry ", i, " is unreadable"));
      }
      const std::string name = entry.stat.name;
      if (!SafeEntryName(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path_, ": entry name '", name, "' escapes the archive"));
      }
      if (!entries_.emplace(name, entry).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(path_, ": two entries are named '", name, "'"));
      }
    }
    return absl::OkStatus();
  }

  bool Has(const std::string& name) const { return entries_.contains(name); }

  // The whole entry, at most `limit` bytes.
  absl::StatusOr<std::string> Read(const std::string& name, uint64_t limit) {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      return absl::NotFoundError(absl::StrCat(path_, ": no ", name, " in the archive"));
    }
    const zip_stat_t& st = it->second.stat;
    const std::string where = absl::StrCat(path_, ": ", name);
    const uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((st.valid & need) != need) return absl::InvalidArgumentError(where + ": no sizes");
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
      return absl::UnimplementedError(where + ": encrypted entries are not supported");
    }
    if (st.comp_method == ZIP_CM_STORE) {
      if (st.size != st.comp_size) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": stored entry claims ", st.size,
                                                       " bytes in ", st.comp_size));
      }
    } else if (st.comp_method == ZIP_CM_DEFLATE) {
      if (st.size / kMaxDeflateRatio > st.comp_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": claims ", st.size, " bytes from ", st.comp_size,
            " compressed (more than deflate's 1032:1: a zip bomb)"));
      }
    } else {
      return absl::UnimplementedError(absl::StrCat(
          where, ": compression method ", st.comp_method, " (only stored and deflate)"));
    }
    if (st.size > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", st.size, " bytes, more than the ", limit, " allowed"));
    }
    std::unique_ptr<zip_file_t, ZipFileCloser> file(zip_fopen_index(zip_.get(), it->second.index, 0));
    if (file == nullptr) return ArchiveError(absl::StrCat("cannot open ", name));
    std::string bytes(st.size, '\0');
    uint64_t done = 0;
    while (done < bytes.size()) {
      const zip_int64_t n = zip_fread(file.get(), bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        return absl::DataLossError(absl::StrCat(where, ": ", zip_file_strerror(file.get())));
      }
      if (n == 0) break;
      done += static_cast<uint64_t>(n);
    }
    char extra = 0;
    const zip_int64_t more = done == bytes.size() ? zip_fread(file.get(), &extra, 1) : 0;
    if (done != bytes.size() || more != 0) {
      return absl::DataLossError(absl::StrCat(
          where, ": ", more < 0 ? zip_file_strerror(file.get())
                                : absl::StrCat("holds other than its declared ", st.size, " bytes")));
    }
    return bytes;
  }

 private:
  absl::Status ArchiveError(absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat(path_, ": ", what, " (", zip_strerror(zip_.get()), ")"));
  }

  const std::string path_;
  Zip zip_;
  std::map<std::string, Entry> entries_;
};

}  // namespace

absl::StatusOr<KerasArchive> ReadKerasArchive(const std::string& path, bool with_weights) {
  ArchiveReader reader(path);
  RETURN_IF_ERROR(reader.Open());
  KerasArchive archive;
  archive.path = path;
  archive.weights_name = absl::StrCat(path, "/", kWeights);
  ASSIGN_OR_RETURN(std::string config, reader.Read(kConfig, kMaxConfigBytes));
  ASSIGN_OR_RETURN(archive.config, ParseKerasJson(config, absl::StrCat(path, ": ", kConfig)));
  if (!archive.config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", kConfig, " is not a JSON object"));
  }
  if (reader.Has(kMetadata)) {
    ASSIGN_OR_RETURN(std::string text, reader.Read(kMetadata, kMaxMetadataBytes));
    ASSIGN_OR_RETURN(nlohmann::json metadata,
                     ParseKerasJson(text, absl::StrCat(path, ": ", kMetadata)));
    auto version = metadata.is_object() ? metadata.find("keras_version") : metadata.end();
    if (metadata.is_object() && version != metadata.end() && version->is_string()) {
      archive.keras_version = version->get<std::string>();
    }
  }
  if (!reader.Has(kWeights)) {
    return reader.Has(kNpzWeights)
               ? absl::UnimplementedError(absl::StrCat(
                     path, ": weights saved as ", kNpzWeights, " (only ", kWeights, ")"))
               : absl::NotFoundError(absl::StrCat(path, ": no ", kWeights, " in the archive"));
  }
  if (with_weights) {
    ASSIGN_OR_RETURN(archive.weights_image, reader.Read(kWeights, kMaxWeightsBytes));
  }
  return archive;
}

absl::Status WriteKerasArchive(const std::string& path, const std::string& keras_version,
                               const nlohmann::json& config, const std::string& weights_path) {
  const std::string tmp = absl::StrCat(DirName(path), "/.", BaseName(path), ".tmp");
  const std::string metadata = nlohmann::json{{"keras_version", keras_version}}.dump();
  const std::string config_text = config.dump();
  int code = 0;
  zip_t* z = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (z == nullptr) {
    return absl::InternalError(absl::StrCat(tmp, ": cannot create (", ZipOpenError(code), ")"));
  }
  auto add = [&](const char* name, zip_source_t* source) {
    if (source == nullptr) return false;
    const zip_int64_t index = zip_file_add(z, name, source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      return false;
    }
    return zip_set_file_compression(z, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) == 0;
  };
  // The buffers must outlive zip_close, which reads them.
  const bool added =
      add(kMetadata, zip_source_buffer(z, metadata.data(), metadata.size(), 0)) &&
      add(kConfig, zip_source_buffer(z, config_text.data(), config_text.size(), 0)) &&
      add(kWeights, zip_source_file(z, weights_path.c_str(), 0, -1));
  if (!added || zip_close(z) != 0) {
    const std::string why = zip_strerror(z);
    zip_discard(z);
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": cannot write the archive (", why, ")"));
  }
  return SyncAndRename(tmp, path);
}

bool IsZipFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[4];
  const bool read = ::pread(fd, magic, sizeof(magic), 0) == sizeof(magic);
  ::close(fd);
  return read && (std::memcmp(magic, "PK\3\4", 4) == 0 || std::memcmp(magic, "PK\5\6", 4) == 0);
}

}  // namespace swapserve
