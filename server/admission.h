// Admission: at most `limit` inference calls (Predict, Classify, Regress,
// GetModelMetadata; gRPC and REST together) in progress at once — the
// --max_concurrent_requests bound. A call beyond it is refused at once with
// RESOURCE_EXHAUSTED (HTTP 429), which clients retry after a back-off, instead
// of queueing without bound and holding its request's memory meanwhile. A
// limit of 0 admits every call (TF Serving's behaviour).
//
// Thread safety: thread-safe (one atomic counter).
#ifndef SWAPSERVE_SERVER_ADMISSION_H_
#define SWAPSERVE_SERVER_ADMISSION_H_

#include <atomic>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace swapserve::server {

class Admission {
 public:
  explicit Admission(int limit) : limit_(limit) {}

  // True if the call may run (then Exit() once it is answered).
  bool TryEnter() {
    if (limit_ <= 0) return true;
    if (inside_.fetch_add(1, std::memory_order_acq_rel) < limit_) return true;
    inside_.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  void Exit() {
    if (limit_ > 0) inside_.fetch_sub(1, std::memory_order_acq_rel);
  }

  // What a refused call is answered.
  absl::Status Refusal() const {
    return absl::ResourceExhaustedError(absl::StrCat(
        "swapserve is serving its limit of ", limit_,
        " concurrent requests (--max_concurrent_requests); retry after a back-off"));
  }

 private:
  const int limit_;
  std::atomic<int> inside_{0};
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_ADMISSION_H_
