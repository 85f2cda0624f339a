#include "model/ops/broadcast.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace swapserve {

absl::StatusOr<TensorShape> BroadcastShape(const TensorShape& a, const TensorShape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(rank);
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    const int64_t da = ia >= 0 ? a.dim(ia) : 1, db = ib >= 0 ? b.dim(ib) : 1;
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shapes ", a.DebugString(), " and ", b.DebugString(), " do not broadcast"));
    }
    dims[i] = da == 1 ? db : da;
  }
  return TensorShape::Make(std::move(dims));
}

BroadcastIndexer::BroadcastIndexer(const TensorShape& in, const TensorShape& out)
    : out_dims_(out.dims()), strides_(out.rank(), 0), num_out_(out.num_elements()) {
  int64_t stride = 1;
  for (int d = out.rank() - 1; d >= 0; --d) {
    const int id = in.rank() - out.rank() + d;
    const int64_t size = id >= 0 ? in.dim(id) : 1;
    strides_[d] = size == 1 ? 0 : stride;
    stride *= size;
  }
}

}  // namespace swapserve
