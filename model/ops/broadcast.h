// NumPy-style broadcasting for element-wise kernels: the output shape of two
// shapes, and a walk over the output that yields each input's element offset.
// Stateless, thread-safe.
#ifndef SWAPSERVE_MODEL_OPS_BROADCAST_H_
#define SWAPSERVE_MODEL_OPS_BROADCAST_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "model/tensor.h"

namespace swapserve {

// The broadcast shape of a and b, or INVALID_ARGUMENT naming both shapes.
absl::StatusOr<TensorShape> BroadcastShape(const TensorShape& a, const TensorShape& b);

// Per-output-element offsets into an input of shape `in` broadcast to `out`
// (which must be BroadcastShape-compatible). Strides are 0 on broadcast dims.
class BroadcastIndexer {
 public:
  BroadcastIndexer(const TensorShape& in, const TensorShape& out);
  // Calls fn(out_index, in_offset) for every output element in row-major order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    const int rank = static_cast<int>(out_dims_.size());
    const int64_t n = num_out_;
    std::vector<int64_t> idx(rank, 0);
    int64_t offset = 0;
    for (int64_t i = 0; i < n; ++i) {
      fn(i, offset);
      for (int d = rank - 1; d >= 0; --d) {
        if (++idx[d] < out_dims_[d]) {
          offset += strides_[d];
          break;
        }
        offset -= strides_[d] * (out_dims_[d] - 1);
        idx[d] = 0;
      }
    }
  }

 private:
  std::vector<int64_t> out_dims_;
  std::vector<int64_t> strides_;
  int64_t num_out_;
};

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_OPS_BROADCAST_H_
