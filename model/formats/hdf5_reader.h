// Reading HDF5 files defensively, for the Keras formats built on HDF5
// (keras_h5.h: the legacy .h5 layout; keras_weights_h5.h: Keras 3's
// `.weights.h5` layout). Files come from disk or from memory (the
// `model.weights.h5` inside a `.keras` zip).
//
// Bad files are errors, not crashes: HDF5 checks the stored end of file on
// open (truncation); external links and data stored outside the file
// (external or virtual storage) are refused; nothing larger than the file can
// back is allocated; HDF5's own error printing is silenced and its most
// specific message goes into the returned status instead.
//
// Limit: libhdf5 1.10 itself can crash or hang on files whose internal
// structures were deliberately corrupted (bytes flipped in its global heap or
// object headers); no check made through its API can prevent that. Files from
// untrusted sources belong in a separate process.
//
// Thread safety: Debian's libhdf5 is not thread-safe. Every HDF5 call must be
// made while an Hdf5Session is alive on the calling thread: it serializes them
// behind one process-wide mutex and silences HDF5's printing.
#ifndef SWAPSERVE_MODEL_FORMATS_HDF5_READER_H_
#define SWAPSERVE_MODEL_FORMATS_HDF5_READER_H_

#include <hdf5.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/formats/hdf5_signature.h"
#include "model/tensor.h"

namespace swapserve {

// Holds the process-wide HDF5 lock, with HDF5's error printing off on this
// thread, while alive.
class Hdf5Session {
 public:
  Hdf5Session();
  ~Hdf5Session();
  Hdf5Session(const Hdf5Session&) = delete;
  Hdf5Session& operator=(const Hdf5Session&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// Owns one HDF5 identifier and closes it with the matching H5?close.
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Id() = default;  // Holds nothing.
  H5Id(hid_t id, Closer close) : id_(id), close_(close) {}
  ~H5Id() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
  }
  H5Id(H5Id&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  H5Id& operator=(H5Id&& other) noexcept {
    std::swap(id_, other.id_);
    std::swap(close_, other.close_);
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;

  bool valid() const { return id_ >= 0; }
  hid_t get() const { return id_; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// " (HDF5: <most specific message>)" for the call that just failed, or "".
// Every HDF5 API call clears the stack, so this must run right after the
// failing call.
std::string TakeHdf5Error();

// The object's path in its file ("/layers/dense"), or "?".
std::string Hdf5ObjectName(hid_t id);

// One link of a group.
struct Hdf5Link {
  std::string name;
  bool is_group = false;
  bool is_dataset = false;  // Neither: a soft/external link or other object.
};

struct Hdf5DatasetInfo {
  DataType dtype;
  TensorShape shape;
};

// One open file. All methods need an Hdf5Session alive on the calling thread,
// for as long as the reader lives.
class Hdf5Reader {
 public:
  static absl::StatusOr<std::unique_ptr<Hdf5Reader>> Open(const std::string& path);
  // Opens an in-memory file image (HDF5's core driver copies it); `name`
  // stands for it in errors.
  static absl::StatusOr<std::unique_ptr<Hdf5Reader>> OpenImage(const std::string& name,
                                                               absl::string_view image);

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  hid_t file() const { return file_.get(); }

  // `name` relative to `parent` (an open group or the file).
  absl::StatusOr<H5Id> OpenGroup(hid_t parent, const std::string& name) const;
  // Every link of `group`, in name order; at most `max_links`, else an error.
  absl::StatusOr<std::vector<Hdf5Link>> ListGroup(hid_t group, size_t max_links) const;

  absl::StatusOr<bool> HasAttr(hid_t obj, const std::string& name) const;
  // A string attribute, scalar or array, fixed- or variable-length.
  absl::StatusOr<std::vector<std::string>> ReadStrings(hid_t obj, const std::string& name) const;
  // A string attribute that must hold one string; nullopt when absent.
  absl::StatusOr<std::optional<std::string>> ReadOneString(hid_t obj,
                                                           const std::string& name) const;
  // The whole dataset `name` of `parent`, as a tensor of the matching dtype
  // (IEEE float16/32/64, 8 to 64 bit integers), shape as stored.
  absl::StatusOr<Tensor> ReadDataset(hid_t parent, const std::string& name) const;
  // The dtype and shape ReadDataset would give, without reading the data.
  absl::StatusOr<Hdf5DatasetInfo> DescribeDataset(hid_t parent, const std::string& name) const;

 private:
  struct Dataset;
  Hdf5Reader(std::string path, uint64_t size);
  absl::StatusOr<Dataset> OpenDataset(hid_t parent, const std::string& name) const;
  absl::Status Init();
  absl::StatusOr<std::vector<std::string>> ReadFixedStrings(hid_t attr, hid_t type, size_t count,
                                                            const std::string& where) const;
  absl::Status CheckStorage(hid_t dataset, DataType dtype, const TensorShape& shape,
                            const std::string& where) const;

  const std::string path_;
  const uint64_t size_;
  H5Id gapl_;
  H5Id dapl_;
  H5Id file_;
};

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_HDF5_READER_H_
