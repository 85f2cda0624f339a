// BlockingPool: work that blocks never holds up other work (a thread is
// started while none is idle), the thread bound holds, and the destructor runs
// everything scheduled before it joins.
#include "server/blocking_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace swapserve::server {
namespace {

// Sixteen calls each waiting for all the others (as calls in the batcher wait
// for their batch) are all running at once.
TEST(BlockingPoolTest, BlockedWorkDoesNotHoldUpOtherWork) {
  constexpr int kCalls = 16;
  std::atomic<int> arrived{0};
  absl::Notification all_arrived, release;
  {
    BlockingPool pool(64);
    for (int i = 0; i < kCalls; ++i) {
      pool.Schedule([&] {
        if (arrived.fetch_add(1) + 1 == kCalls) all_arrived.Notify();
        release.WaitForNotification();
      });
    }
    const bool all = all_arrived.WaitForNotificationWithTimeout(absl::Seconds(30));
    release.Notify();
    EXPECT_TRUE(all) << "only " << arrived.load() << " of " << kCalls << " calls ran at once";
    EXPECT_GE(pool.threads(), kCalls);
  }
}

// At most max_threads threads; the work beyond them waits its turn and runs.
TEST(BlockingPoolTest, ThreadBoundHoldsAndQueuedWorkRuns) {
  std::atomic<int> running{0}, most{0}, done{0};
  {
    BlockingPool pool(2);
    for (int i = 0; i < 20; ++i) {
      pool.Schedule([&] {
        const int now = running.fetch_add(1) + 1;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        absl::SleepFor(absl::Milliseconds(2));
        running.fetch_sub(1);
        done.fetch_add(1);
      });
    }
    EXPECT_LE(pool.threads(), 2);
  }
  EXPECT_EQ(done.load(), 20);
  EXPECT_LE(most.load(), 2);
}

// Destroying the pool runs what was scheduled, then joins.
TEST(BlockingPoolTest, DestructorRunsScheduledWork) {
  std::atomic<int> done{0};
  {
    BlockingPool pool(4);
    for (int i = 0; i < 1000; ++i) pool.Schedule([&] { done.fetch_add(1); });
  }
  EXPECT_EQ(done.load(), 1000);
}

}  // namespace
}  // namespace swapserve::server
