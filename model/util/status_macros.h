// Early-return helpers for absl::Status / absl::StatusOr, in the spirit of TF's
// TF_RETURN_IF_ERROR. Header-only; no state.
#ifndef SWAPSERVE_MODEL_UTIL_STATUS_MACROS_H_
#define SWAPSERVE_MODEL_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SS_CONCAT_INNER_(a, b) a##b
#define SS_CONCAT_(a, b) SS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    const ::absl::Status ss_status_ = (expr);          \
    if (!ss_status_.ok()) return ss_status_;           \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MaybeX());` declares x from an OK StatusOr or returns
// the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(SS_CONCAT_(ss_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // SWAPSERVE_MODEL_UTIL_STATUS_MACROS_H_
