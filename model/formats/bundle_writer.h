// BundleWriter writes a single-shard TensorFlow tensor bundle: PREFIX.data-00000-of-
// 00001 and PREFIX.index, in the layout and order TF's own writer uses, so that TF,
// Keras and BundleReader read it. Data bytes go out in Add() order; index entries
// are sorted by key. Each file is written under a temporary name, fsync'd and
// renamed into place — data first, then the index — so a reader never sees a
// complete-looking index whose data is not on disk.
//
// Thread safety: not thread-safe; one writer per bundle.
#ifndef SWAPSERVE_MODEL_FORMATS_BUNDLE_WRITER_H_
#define SWAPSERVE_MODEL_FORMATS_BUNDLE_WRITER_H_

#include <cstdio>
#include <map>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "model/tensor.h"
#include "tensorflow/core/protobuf/tensor_bundle.pb.h"

namespace swapserve {

class BundleWriter {
 public:
  explicit BundleWriter(std::string prefix);
  ~BundleWriter();  // Removes temporary files if Finish() was not reached.
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // Appends one tensor; a key may be added once. The empty key is reserved.
  absl::Status Add(absl::string_view key, const Tensor& tensor);

  // Writes the files into place. No Add() after it.
  absl::Status Finish();

 private:
  absl::Status Append(const char* data, size_t n);
  absl::Status WriteIndex(const std::string& path);

  std::string prefix_;
  std::string data_tmp_;
  std::FILE* data_ = nullptr;
  uint64_t offset_ = 0;
  bool finished_ = false;
  absl::Status status_;  // First error; sticky.
  std::map<std::string, tensorflow::BundleEntryProto, std::less<>> entries_;
};

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_BUNDLE_WRITER_H_
