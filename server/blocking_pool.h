// BlockingPool: threads for work that may block — a call waiting in the
// batcher for its batch, or the --testing_hooks hold — so that it never blocks
// one of gRPC's callback threads (a handful, which every call and health check
// of the server shares). A thread is started when work arrives and none is
// idle, up to max_threads; beyond that, work waits in FIFO order for a thread.
// Threads stay once started (the pool grows to the peak concurrency, as gRPC's
// synchronous server does).
//
// Thread safety: Schedule() may be called from any thread. The destructor runs
// the work already scheduled, then joins the threads; no Schedule() may start
// after it begins.
#ifndef SWAPSERVE_SERVER_BLOCKING_POOL_H_
#define SWAPSERVE_SERVER_BLOCKING_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace swapserve::server {

class BlockingPool {
 public:
  explicit BlockingPool(int max_threads);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void Schedule(std::function<void()> work);

  // Threads started so far (for tests).
  int threads() const;

 private:
  void Loop();

  const int max_threads_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> work_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_BLOCKING_POOL_H_
