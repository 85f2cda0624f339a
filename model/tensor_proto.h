// Converting between Tensor and tensorflow.TensorProto (graph constants, gRPC
// requests and responses), with TF's rules: `tensor_content` holds raw little-endian
// bytes; otherwise the typed *_val field holds the values, and fewer values than
// elements repeat the last one (none means zeros). Stateless, thread-safe.
#ifndef SWAPSERVE_MODEL_TENSOR_PROTO_H_
#define SWAPSERVE_MODEL_TENSOR_PROTO_H_

#include "absl/status/statusor.h"
#include "model/tensor.h"
#include "tensorflow/core/framework/tensor.pb.h"

namespace swapserve {

// Fails with INVALID_ARGUMENT on an unsupported dtype, an unknown or negative
// shape, a tensor_content whose length is not elements x dtype size, more typed
// values than elements, both tensor_content and typed values, or more than 2^24
// elements to be filled from fewer values (a few wire bytes must not expand into
// gigabytes).
absl::StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& proto);

// Writes dtype, shape and the values: tensor_content for fixed-size dtypes,
// string_val for strings.
void TensorToProto(const Tensor& tensor, tensorflow::TensorProto* proto);

// Writes the values into the typed *_val field instead (TF's AsProtoField): what
// TF Serving's responses carry, and what clients reading `float_val` expect.
void TensorToProtoField(const Tensor& tensor, tensorflow::TensorProto* proto);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_TENSOR_PROTO_H_
