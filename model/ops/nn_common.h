// Shared pieces of the neural-network kernels (nn_ops.cc, conv_ops.cc,
// pool_ops.cc): input checks that name the node, and TensorFlow's
// sliding-window geometry (SAME / VALID / EXPLICIT padding, strides, dilations)
// for NHWC.
//
// Thread safety: everything here is immutable after construction or stateless.
#ifndef SWAPSERVE_MODEL_OPS_NN_COMMON_H_
#define SWAPSERVE_MODEL_OPS_NN_COMMON_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "model/ops/kernel.h"
#include "model/ops/node_attrs.h"
#include "model/tensor.h"
#include "tensorflow/core/framework/node_def.pb.h"

namespace swapserve {

// Families that nn_ops.cc registers on behalf of RegisterNnKernels.
void RegisterConvKernels(KernelRegistry& registry);
void RegisterPoolKernels(KernelRegistry& registry);

// A node's op and name, kept by a kernel so that Compute-time errors read like
// NodeAttrs' ("<op> node '<name>': ...") without holding on to the NodeDef,
// which may not outlive the kernel.
class NodeLabel : public NodeName {
 public:
  explicit NodeLabel(const NodeAttrs& attrs) : NodeName(attrs) {}

  // OK when there are exactly `num_inputs` inputs and `num_outputs` output
  // slots.
  absl::Status CheckArity(absl::Span<const Tensor> inputs,
                          const std::vector<Tensor>& outputs, size_t num_inputs,
                          size_t num_outputs) const;
  // OK when `t` (the input called `what`) is DT_FLOAT with a rank in
  // [min_rank, max_rank].
  absl::Status CheckFloat(const Tensor& t, absl::string_view what, int min_rank,
                          int max_rank) const;
  // TensorShape::Make, with an error naming the node and `what` on overflow.
  absl::StatusOr<TensorShape> MakeShape(std::vector<int64_t> dims,
                                        absl::string_view what) const;
};

// Unsupported unless the attribute `attr` (when present) is DT_FLOAT.
absl::Status CheckFloatAttr(const NodeAttrs& node, absl::string_view attr);
// Unsupported unless the data_format attribute is absent or "NHWC".
absl::Status CheckNhwc(const NodeAttrs& node);

enum class Padding { kValid, kSame, kExplicit };

// The spatial (H, W) part of a windowed op's attributes, validated.
struct WindowAttrs {
  int64_t stride[2] = {1, 1};
  int64_t dilation[2] = {1, 1};
  Padding padding = Padding::kValid;
  int64_t explicit_pad[2][2] = {{0, 0}, {0, 0}};  // [H/W][before/after]
};

// Reads strides, padding, explicit_paddings (when allow_explicit) and dilations
// (when present) from a 4-D NHWC op; batch and depth entries must be 1 (or 0
// for padding).
absl::StatusOr<WindowAttrs> ParseWindowAttrs(const NodeAttrs& node,
                                             bool allow_explicit);

// Reads a 4-element NHWC int list attribute `attr` whose batch and depth
// entries must be 1 and spatial entries >= 1; returns {h, w}.
absl::StatusOr<std::vector<int64_t>> ParseSpatialList(const NodeAttrs& node,
                                                      absl::string_view attr);

// One spatial dimension of a sliding window: output position o reads input
// positions o * stride - pad_before + i * dilation for i in [0, size).
struct Window {
  int64_t in = 0;
  int64_t size = 0;
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t pad_before = 0;
  int64_t out = 0;

  int64_t Start(int64_t o) const { return o * stride - pad_before; }
};

// TensorFlow's output size and padding for dimension `dim` (0 = H, 1 = W);
// INVALID_ARGUMENT naming the node when the output would be negative or the
// sizes are absurd.
absl::StatusOr<Window> MakeWindow(const NodeLabel& node,
                                  const WindowAttrs& attrs, int dim, int64_t in,
                                  int64_t size);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_OPS_NN_COMMON_H_
