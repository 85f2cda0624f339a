// Tensor: a dtype, a shape and a 64-byte-aligned buffer (or a vector of strings for
// DT_STRING). Copies share the buffer, so a Tensor is cheap to pass around; code that
// shares one must not write to it (WeightSets are immutable once built).
//
// Thread safety: const methods are safe from many threads; a Tensor whose buffer is
// shared must not be written.
#ifndef SWAPSERVE_MODEL_TENSOR_H_
#define SWAPSERVE_MODEL_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "tensorflow/core/framework/tensor_shape.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace swapserve {

using DataType = tensorflow::DataType;

// Bytes per element of a fixed-size dtype swapserve stores; 0 for DT_STRING and
// for dtypes it does not support.
size_t DataTypeSize(DataType dtype);
// True for the dtypes a Tensor can hold: float, double, half, bfloat16,
// int8/16/32/64, uint8/16/32/64, bool, string.
bool IsSupportedDataType(DataType dtype);
// "DT_FLOAT" etc.; "DT_<number>" for values outside the enum.
std::string DataTypeName(DataType dtype);
absl::StatusOr<DataType> ParseDataType(absl::string_view name);

// A fully-defined shape: every dimension known and >= 0, element count that fits in
// int64 (checked on construction through Make/FromProto).
class TensorShape {
 public:
  TensorShape() = default;  // A scalar.
  // For literal shapes in trusted code; aborts on a negative or overflowing shape.
  TensorShape(std::initializer_list<int64_t> dims);

  static absl::StatusOr<TensorShape> Make(std::vector<int64_t> dims);
  // Rejects unknown rank and unknown (-1) dimensions.
  static absl::StatusOr<TensorShape> FromProto(
      const tensorflow::TensorShapeProto& proto);
  void ToProto(tensorflow::TensorShapeProto* proto) const;

  const std::vector<int64_t>& dims() const { return dims_; }
  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t dim(int i) const { return dims_[i]; }
  int64_t num_elements() const { return num_elements_; }
  std::string DebugString() const;  // "[784,512]"

  bool operator==(const TensorShape& other) const { return dims_ == other.dims_; }

 private:
  std::vector<int64_t> dims_;
  int64_t num_elements_ = 1;
};

// Largest buffer a Tensor may own; larger shapes are refused before allocating.
inline constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 40;

class Tensor {
 public:
  Tensor() = default;  // DT_INVALID, no storage.

  // A zero-filled tensor (empty strings for DT_STRING). Fails for unsupported
  // dtypes and sizes over kMaxTensorBytes.
  static absl::StatusOr<Tensor> Allocate(DataType dtype, TensorShape shape);
  // The same without zero-filling fixed-size dtypes, for kernels that write every
  // element of their output (GEMMs, convolutions, pooling, element-wise ops):
  // zeroing a large output first is a whole extra pass over memory.
  static absl::StatusOr<Tensor> AllocateUninitialized(DataType dtype, TensorShape shape);

  DataType dtype() const { return dtype_; }
  const TensorShape& shape() const { return shape_; }
  int64_t num_elements() const { return shape_.num_elements(); }
  // Buffer size in bytes for fixed-size dtypes; 0 for DT_STRING.
  size_t num_bytes() const { return num_bytes_; }

  char* raw_data() { return buffer_.get(); }
  const char* raw_data() const { return buffer_.get(); }
  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(buffer_.get());
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(buffer_.get());
  }
  // DT_STRING elements, row-major.
  std::vector<std::string>& strings() { return *strings_; }
  const std::vector<std::string>& strings() const { return *strings_; }

  // This tensor's buffer (or strings) viewed with another shape of the same element
  // count — no copy. INVALID_ARGUMENT when the counts differ.
  absl::StatusOr<Tensor> Reshaped(TensorShape shape) const;

  // Bytes the calling thread has allocated through Allocate() so far; tests and
  // benchmarks use it to check what a request allocates.
  static uint64_t ThreadAllocatedBytes();

  // Same dtype, shape and bytes (or strings).
  bool Equals(const Tensor& other) const;
  std::string DebugString() const;  // "DT_FLOAT[784,512]"

 private:
  static absl::StatusOr<Tensor> AllocateImpl(DataType dtype, TensorShape shape, bool zero);
  DataType dtype_ = tensorflow::DT_INVALID;
  TensorShape shape_;
  size_t num_bytes_ = 0;
  std::shared_ptr<char> buffer_;
  std::shared_ptr<std::vector<std::string>> strings_;
};

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_TENSOR_H_
