// Stacking and slicing along dimension 0 (see batch_tensors.h): fixed-size
// dtypes as byte ranges, strings element by element.
#include "server/batching/batch_tensors.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/util/status_macros.h"

namespace swapserve::server::batching {
namespace {

// The shape `t` has with `rows` rows.
absl::StatusOr<TensorShape> WithRows(const Tensor& t, int64_t rows) {
  std::vector<int64_t> dims = t.shape().dims();
  dims[0] = rows;
  return TensorShape::Make(std::move(dims));
}

// Elements in one row of `t`.
int64_t RowElements(const Tensor& t) {
  int64_t n = 1;
  for (int i = 1; i < t.shape().rank(); ++i) n *= t.shape().dim(i);
  return n;
}

}  // namespace

bool HasRows(const Tensor& t) { return t.shape().rank() >= 1; }

std::string RowKey(const Tensor& t) {
  const std::vector<int64_t>& dims = t.shape().dims();
  return absl::StrCat(static_cast<int>(t.dtype()), ":[",
                      absl::StrJoin(dims.begin() + 1, dims.end(), ","), "]");
}

std::string RankKey(const Tensor& t) {
  return absl::StrCat(static_cast<int>(t.dtype()), ":r", t.shape().rank());
}

absl::StatusOr<Tensor> PadToDims(const Tensor& t, const std::vector<int64_t>& dims) {
  const int rank = t.shape().rank();
  if (static_cast<int>(dims.size()) != rank) {
    return absl::InternalError(absl::StrCat("PadToDims: rank ", dims.size(), " for ",
                                            t.shape().DebugString()));
  }
  std::vector<int64_t> out_dims = dims;
  out_dims[0] = t.shape().dim(0);
  bool same = true;
  for (int d = 1; d < rank; ++d) {
    if (out_dims[d] < t.shape().dim(d)) {
      return absl::InternalError(absl::StrCat("PadToDims: ", t.shape().DebugString(),
                                              " is larger than [", absl::StrJoin(dims, ","), "]"));
    }
    same &= out_dims[d] == t.shape().dim(d);
  }
  if (same) return t;
  if (t.num_elements() == 0) {
    return absl::InvalidArgumentError("Got empty tensor in batch of non-empty tensors.");
  }
  ASSIGN_OR_RETURN(const TensorShape shape, TensorShape::Make(out_dims));
  ASSIGN_OR_RETURN(Tensor out, Tensor::AllocateUninitialized(t.dtype(), shape));
  const bool strings = t.dtype() == tensorflow::DT_STRING;
  const size_t element_bytes = strings ? 0 : t.num_bytes() / t.num_elements();
  // Walks the output in order with `index` its position: each element is t's
  // at the same position, or t's first where t has none.
  std::vector<int64_t> index(rank, 0);
  for (int64_t o = 0; o < out.num_elements(); ++o) {
    int64_t from = 0;
    bool inside = true;
    for (int d = 0; d < rank; ++d) {
      inside &= index[d] < t.shape().dim(d);
      from = from * t.shape().dim(d) + index[d];
    }
    if (!inside) from = 0;
    if (strings) {
      out.strings()[o] = t.strings()[from];
    } else {
      std::memcpy(out.raw_data() + o * element_bytes, t.raw_data() + from * element_bytes,
                  element_bytes);
    }
    for (int d = rank - 1; d >= 0 && ++index[d] == out_dims[d]; --d) index[d] = 0;
  }
  return out;
}

absl::StatusOr<Tensor> StackRows(const std::vector<const Tensor*>& parts, int64_t rows) {
  if (parts.empty()) return absl::InternalError("StackRows: no parts");
  const Tensor& first = *parts[0];
  int64_t given = 0;
  for (const Tensor* p : parts) given += p->shape().dim(0);
  if (rows < given) {
    return absl::InternalError(absl::StrCat("StackRows: ", given, " rows into ", rows));
  }
  ASSIGN_OR_RETURN(const TensorShape shape, WithRows(first, rows));
  ASSIGN_OR_RETURN(Tensor out, Tensor::AllocateUninitialized(first.dtype(), shape));
  const int64_t row_elements = RowElements(first);
  if (first.dtype() == tensorflow::DT_STRING) {
    std::vector<std::string>& dst = out.strings();
    size_t at = 0;
    for (const Tensor* p : parts) {
      for (const std::string& s : p->strings()) dst[at++] = s;
    }
    for (int64_t r = given; r < rows; ++r) {
      for (int64_t e = 0; e < row_elements; ++e) dst[at++] = first.strings()[e];
    }
    return out;
  }
  char* dst = out.raw_data();
  for (const Tensor* p : parts) {
    if (p->num_bytes() > 0) std::memcpy(dst, p->raw_data(), p->num_bytes());
    dst += p->num_bytes();
  }
  const size_t row_bytes = first.shape().dim(0) > 0 ? first.num_bytes() / first.shape().dim(0) : 0;
  for (int64_t r = given; r < rows; ++r) {
    if (row_bytes > 0) std::memcpy(dst, first.raw_data(), row_bytes);
    dst += row_bytes;
  }
  return out;
}

absl::StatusOr<Tensor> SliceRows(const Tensor& t, int64_t begin, int64_t count) {
  if (begin < 0 || count < 0 || begin + count > t.shape().dim(0)) {
    return absl::InternalError(absl::StrCat("SliceRows: rows [", begin, ", ", begin + count,
                                            ") of ", t.shape().DebugString()));
  }
  ASSIGN_OR_RETURN(const TensorShape shape, WithRows(t, count));
  ASSIGN_OR_RETURN(Tensor out, Tensor::AllocateUninitialized(t.dtype(), shape));
  const int64_t row_elements = RowElements(t);
  if (t.dtype() == tensorflow::DT_STRING) {
    const auto from = t.strings().begin() + begin * row_elements;
    std::copy(from, from + count * row_elements, out.strings().begin());
    return out;
  }
  if (out.num_bytes() > 0) {
    const size_t row_bytes = out.num_bytes() / count;
    std::memcpy(out.raw_data(), t.raw_data() + begin * row_bytes, out.num_bytes());
  }
  return out;
}

}  // namespace swapserve::server::batching
