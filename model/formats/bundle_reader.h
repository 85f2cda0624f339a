// BundleReader reads a TensorFlow tensor bundle (a checkpoint or a SavedModel's
// variables/): the LevelDB-format P.index and the P.data-NNNNN-of-MMMMM shards.
//
// Open() reads and checks the whole index up front (header, every entry's metadata)
// and opens the data shards; a missing shard or an entry with unusable metadata is
// not fatal to Open — it is reported by Read() for the keys it affects, so a tool can
// list what is there. Read() checks the entry lies inside its shard and that the
// bytes match the entry's CRC32C before returning a tensor. Nothing is allocated
// beyond what the files hold.
//
// Thread safety: after Open, all methods are const and safe to call concurrently.
#ifndef SWAPSERVE_MODEL_FORMATS_BUNDLE_READER_H_
#define SWAPSERVE_MODEL_FORMATS_BUNDLE_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/tensor.h"
#include "tensorflow/core/protobuf/tensor_bundle.pb.h"

namespace swapserve {

// One key of a bundle, as the index describes it.
struct BundleEntry {
  std::string key;
  DataType dtype = tensorflow::DT_INVALID;
  TensorShape shape;
  int shard_id = 0;
  int64_t offset = 0;
  int64_t size = 0;
  uint32_t masked_crc32c = 0;
  // Not OK when the entry's metadata cannot be read into a Tensor (unknown dtype,
  // invalid shape, size that disagrees with the shape, sliced variable, ...).
  absl::Status problem;
};

class BundleReader {
 public:
  // Largest .index file accepted; indexes hold metadata only (a few bytes per key).
  static constexpr uint64_t kMaxIndexBytes = uint64_t{1} << 30;

  // Opens the bundle whose files are `prefix`.index and `prefix`.data-*.
  static absl::StatusOr<std::unique_ptr<BundleReader>> Open(std::string prefix);

  ~BundleReader();
  BundleReader(const BundleReader&) = delete;
  BundleReader& operator=(const BundleReader&) = delete;

  const std::string& prefix() const { return prefix_; }
  const tensorflow::BundleHeaderProto& header() const { return header_; }
  // Every key but the header, sorted by key.
  const std::vector<BundleEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const BundleEntry* Find(absl::string_view key) const;

  // Reads and verifies one tensor.
  absl::StatusOr<Tensor> Read(absl::string_view key) const;
  absl::StatusOr<Tensor> Read(const BundleEntry& entry) const;

  // The status of data shard `shard` (OK when it could be opened).
  absl::Status ShardStatus(int shard) const;

 private:
  struct Shard {
    std::string path;
    int fd = -1;
    uint64_t size = 0;
    absl::Status status;
  };

  explicit BundleReader(std::string prefix) : prefix_(std::move(prefix)) {}
  absl::Status ReadIndex();
  absl::Status AddEntry(absl::string_view key, absl::string_view value);
  void OpenShards();

  std::string prefix_;
  tensorflow::BundleHeaderProto header_;
  std::vector<BundleEntry> entries_;
  std::vector<Shard> shards_;
};

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_BUNDLE_READER_H_
