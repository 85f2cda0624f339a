// The tensor surgery of dynamic batching: requests' inputs stacked along
// dimension 0 into one batch (padded up to a batch size the model is run at)
// and the batch's outputs cut back into each request's rows; with variable-
// length inputs, tensors evened up to the batch's largest. Works for every
// dtype Tensor holds, strings included. Stateless, thread-safe.
#ifndef SWAPSERVE_SERVER_BATCHING_BATCH_TENSORS_H_
#define SWAPSERVE_SERVER_BATCHING_BATCH_TENSORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/tensor.h"

namespace swapserve::server::batching {

// True when `t` has a dimension 0 to batch along (rank >= 1).
bool HasRows(const Tensor& t);
// `t`'s dtype and the dimensions after the first, e.g. "1:[784]": two tensors
// stack along dimension 0 exactly when their row keys are equal. `t` has rows.
std::string RowKey(const Tensor& t);

// `t`'s dtype and rank, e.g. "1:r2": with pad_variable_length_inputs, tensors
// of equal rank keys share a batch once PadToDims has evened them.
std::string RankKey(const Tensor& t);

// `t` (which has rows) grown at the end of every dimension after the first to
// `dims` (dims[0] is ignored; dims[i] >= t's dim i), the new positions holding
// t's first element — TF Serving's pad_variable_length_inputs, which assumes
// the model was given the true lengths some other way. INVALID_ARGUMENT (TF
// Serving's message) when `t` has no element to pad with.
absl::StatusOr<Tensor> PadToDims(const Tensor& t, const std::vector<int64_t>& dims);

// Stacks `parts` (each with rows, all of one RowKey) along dimension 0, then
// repeats the first row until the result has `rows` rows (rows >= the sum of
// the parts' rows). Padding with a real row, not zeros, keeps padded rows
// finite through any model (a log or a division of zeros would not be).
absl::StatusOr<Tensor> StackRows(const std::vector<const Tensor*>& parts, int64_t rows);

// Rows [begin, begin + count) of `t` (which has rows), copied.
absl::StatusOr<Tensor> SliceRows(const Tensor& t, int64_t begin, int64_t count);

}  // namespace swapserve::server::batching

#endif  // SWAPSERVE_SERVER_BATCHING_BATCH_TENSORS_H_
