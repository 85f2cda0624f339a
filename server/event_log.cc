#include "server/event_log.h"

namespace swapserve::server {

void EventLog::Append(CheckpointEvent event) {
  absl::MutexLock lock(&mu_);
  event.set_sequence(next_sequence_++);
  if (event.time_unix_micros() == 0) event.set_time_unix_micros(absl::ToUnixMicros(absl::Now()));
  if (observer_) observer_(event);
  events_.push_back(std::move(event));
  if (events_.size() > kCapacity) events_.pop_front();
}

std::vector<CheckpointEvent> EventLog::History(const std::string& model, size_t limit) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<CheckpointEvent> out;
  for (auto it = events_.rbegin(); it != events_.rend() && out.size() < limit; ++it) {
    if (model.empty() || it->model() == model) out.push_back(*it);
  }
  return {out.rbegin(), out.rend()};
}

std::vector<CheckpointEvent> EventLog::WaitForEvents(uint64_t after, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto has_new = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return next_sequence_ - 1 > after; };
  mu_.AwaitWithTimeout(absl::Condition(&has_new), timeout);
  std::vector<CheckpointEvent> out;
  for (const CheckpointEvent& e : events_) {
    if (e.sequence() > after) out.push_back(e);
  }
  return out;
}

uint64_t EventLog::LastSequence() const {
  absl::ReaderMutexLock lock(&mu_);
  return next_sequence_ - 1;
}

}  // namespace swapserve::server
