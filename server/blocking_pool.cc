#include "server/blocking_pool.h"

#include <algorithm>
#include <utility>

namespace swapserve::server {

BlockingPool::BlockingPool(int max_threads) : max_threads_(std::max(1, max_threads)) {}

BlockingPool::~BlockingPool() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void BlockingPool::Schedule(std::function<void()> work) {
  absl::MutexLock lock(&mu_);
  work_.push_back(std::move(work));
  // Each idle thread takes one piece of work; start one for the rest.
  if (static_cast<int>(work_.size()) > idle_ && static_cast<int>(threads_.size()) < max_threads_) {
    threads_.emplace_back([this] { Loop(); });
  }
}

int BlockingPool::threads() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(threads_.size());
}

void BlockingPool::Loop() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    ++idle_;
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !work_.empty() || stopping_;
    };
    mu_.Await(absl::Condition(&ready));
    --idle_;
    if (work_.empty()) return;  // stopping, nothing left to run
    std::function<void()> work = std::move(work_.front());
    work_.pop_front();
    mu_.Unlock();
    work();
    mu_.Lock();
  }
}

}  // namespace swapserve::server
