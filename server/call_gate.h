// CallGate: counts the RPCs inside our handlers so that shutdown can drain them.
// gRPC's own Shutdown() cancels calls it has received but not yet handed to a
// handler (seen as CANCELLED by clients, which do not retry that code). Closing
// the gate first makes every call that arrives after SIGTERM fail with
// UNAVAILABLE — "try another replica", retried by clients and load balancers —
// while every call already inside a handler runs to completion.
//
// Thread safety: thread-safe.
#ifndef SWAPSERVE_SERVER_CALL_GATE_H_
#define SWAPSERVE_SERVER_CALL_GATE_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace swapserve::server {

class CallGate {
 public:
  // False once Close() was called: the caller must refuse the call.
  bool Enter() {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    ++inside_;
    return true;
  }
  void Exit() {
    absl::MutexLock lock(&mu_);
    --inside_;
  }
  // The calls inside now (the in-flight gauge).
  int Inside() {
    absl::MutexLock lock(&mu_);
    return inside_;
  }
  // Refuses new calls; waits up to `timeout` for the calls inside to finish.
  // Returns how many are still inside.
  int CloseAndDrain(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return inside_ == 0; };
    mu_.AwaitWithTimeout(absl::Condition(&drained), timeout);
    return inside_;
  }

 private:
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
};

// Enter()s on construction, Exit()s on destruction if it entered.
class CallGuard {
 public:
  explicit CallGuard(CallGate* gate) : gate_(gate), entered_(gate->Enter()) {}
  ~CallGuard() {
    if (entered_) gate_->Exit();
  }
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;
  bool entered() const { return entered_; }

 private:
  CallGate* gate_;
  bool entered_;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_CALL_GATE_H_
