// EventLog: the server-wide record of checkpoint events (swapped, rejected,
// pinned, ...) — the history ListCheckpoints returns and the stream Watch sends.
// Keeps the most recent kCapacity events; sequence numbers increase by one.
//
// Thread safety: thread-safe; WaitForEvents blocks only its caller.
#ifndef SWAPSERVE_SERVER_EVENT_LOG_H_
#define SWAPSERVE_SERVER_EVENT_LOG_H_

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "swapserve/admin/v1/admin.pb.h"

namespace swapserve::server {

using CheckpointEvent = swapserve::admin::v1::CheckpointEvent;

class EventLog {
 public:
  static constexpr size_t kCapacity = 1000;

  // `observer` (optional) sees every event as it is appended (the metrics).
  explicit EventLog(std::function<void(const CheckpointEvent&)> observer = nullptr)
      : observer_(std::move(observer)) {}

  // Stamps the sequence number (and the time, if unset) and stores the event.
  void Append(CheckpointEvent event);

  // The most recent `limit` events of `model` ("" = all), oldest first.
  std::vector<CheckpointEvent> History(const std::string& model, size_t limit) const;

  // Events with sequence > `after`, waiting up to `timeout` for the first.
  std::vector<CheckpointEvent> WaitForEvents(uint64_t after, absl::Duration timeout) const;

  // The sequence number of the latest event (0: none yet).
  uint64_t LastSequence() const;

 private:
  const std::function<void(const CheckpointEvent&)> observer_;
  mutable absl::Mutex mu_;
  std::deque<CheckpointEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_EVENT_LOG_H_
