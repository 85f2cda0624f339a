#include "server/checkpoint_follower.h"

#include <dirent.h>
#include <malloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "model/formats/checkpoint_dir.h"
#include "model/formats/checkpoint_state.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve::server {
namespace {

// Hands the pages of freed weight sets back to the kernel. glibc raises its
// mmap threshold to the size of the first large block freed, so from the
// second checkpoint on a weight set's tensors (1.6 MB each for the seed MLP)
// come from the malloc arenas, and their pages stayed resident after the set
// was freed: RSS grew by about one checkpoint per swap, without bound
// (swapserve_reload_bench --samples; 32 -> 401 MB over ~295 swaps). Called on
// the follower's thread after each swap and each rejected load; a set still
// held by requests is freed later and returned by the next call.
void ReleaseFreedMemory() { malloc_trim(0); }

using swapserve::admin::v1::CheckpointOnDisk;
using swapserve::admin::v1::ServingState;

// True when every shard PREFIX.data-NNNNN-of-MMMMM the directory listing names exists.
bool HasAllShards(const std::string& base, const std::set<std::string>& names) {
  const std::string lead = base + ".data-";
  for (const std::string& n : names) {
    if (!absl::StartsWith(n, lead)) continue;
    const std::string rest = n.substr(lead.size());  // NNNNN-of-MMMMM
    const size_t of = rest.find("-of-");
    int64_t total = 0;
    if (of == std::string::npos || !absl::SimpleAtoi(rest.substr(of + 4), &total) || total <= 0 ||
        total > 100000) {
      continue;
    }
    for (int64_t i = 0; i < total; ++i) {
      char shard[64];
      std::snprintf(shard, sizeof(shard), "%05lld-of-%05lld", static_cast<long long>(i),
                    static_cast<long long>(total));
      if (names.count(lead + shard) == 0) return false;
    }
    return true;
  }
  return false;
}

constexpr uint32_t kWatchMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

}  // namespace

absl::Duration RetryBackoff(int failures, const FollowerOptions& options) {
  const int doublings = std::clamp(failures - 1, 0, 30);
  return std::min(options.max_backoff, options.min_backoff * (int64_t{1} << doublings));
}

int64_t StepFromPrefix(const std::string& prefix) { return CheckpointStep(prefix); }

std::vector<CheckpointOnDisk> ListCheckpointsOnDisk(const std::string& dir) {
  std::set<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) names.insert(e->d_name);
    closedir(d);
  }
  std::set<std::string> listed;
  if (absl::StatusOr<tensorflow::CheckpointState> state = ReadCheckpointState(dir); state.ok()) {
    listed.insert(state->model_checkpoint_path());
    for (const std::string& p : state->all_model_checkpoint_paths()) listed.insert(p);
  }
  std::vector<CheckpointOnDisk> out;
  for (const std::string& n : names) {
    if (!absl::EndsWith(n, ".index")) continue;
    const std::string base = n.substr(0, n.size() - 6);
    CheckpointOnDisk c;
    c.set_prefix(dir + "/" + base);
    c.set_step(StepFromPrefix(base));
    c.set_has_index(true);
    c.set_has_data(HasAllShards(base, names));
    c.set_in_pointer(listed.count(c.prefix()) != 0);
    c.set_format("bundle");
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const CheckpointOnDisk& a, const CheckpointOnDisk& b) {
    return std::make_pair(a.step(), a.prefix()) < std::make_pair(b.step(), b.prefix());
  });
  for (const KerasCheckpointFile& f : ListKerasCheckpoints(dir)) {
    CheckpointOnDisk c;
    c.set_prefix(f.path);
    c.set_step(f.step);
    c.set_has_data(true);
    c.set_format(absl::EndsWith(f.path, ".keras") ? "keras" : "weights_h5");
    c.set_mtime_ms(f.mtime_ns / 1000000);
    c.set_size(f.size);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::string> FallbackCheckpoints(const std::string& dir, const std::string& latest) {
  std::vector<std::string> out;
  std::set<std::string> seen = {latest};
  auto add = [&](const std::string& prefix) {
    if (seen.insert(prefix).second) out.push_back(prefix);
  };
  if (absl::StatusOr<tensorflow::CheckpointState> state = ReadCheckpointState(dir); state.ok()) {
    const auto& kept = state->all_model_checkpoint_paths();
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) add(*it);
  }
  const std::vector<CheckpointOnDisk> on_disk = ListCheckpointsOnDisk(dir);
  for (auto it = on_disk.rbegin(); it != on_disk.rend(); ++it) {
    if (it->has_data()) add(it->prefix());
  }
  return out;
}

CheckpointFollower::CheckpointFollower(std::string model, int64_t version, std::string dir,
                                       std::shared_ptr<Servable> servable,
                                       FollowerOptions options, EventLog* events,
                                       absl::Duration load_time)
    : model_(std::move(model)),
      version_(version),
      dir_(std::move(dir)),
      servable_(std::move(servable)),
      options_(options),
      events_(events) {
  const std::shared_ptr<const WeightSet> current = servable_->Weights()->set;
  if (!servable_->IsOwnWeights(*current)) serving_ = IdentityOf(current->source());
  CheckpointEvent loaded = Event(CheckpointEvent::LOADED, serving_.prefix);
  loaded.set_load_ms(absl::ToDoubleMilliseconds(load_time));
  events_->Append(std::move(loaded));
  if (options_.use_inotify) {
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) LOG(WARNING) << "inotify unavailable; polling " << dir_ << " only";
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { Run(); });
}

CheckpointFollower::~CheckpointFollower() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

CheckpointFollower::Identity CheckpointFollower::IdentityOf(const std::string& prefix) {
  Identity id;
  id.prefix = prefix;
  struct stat st;
  const std::string index = prefix + ".index";
  if (stat(PathExists(index) ? index.c_str() : prefix.c_str(), &st) == 0) {
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    id.size = st.st_size;
    id.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  }
  return id;
}

void CheckpointFollower::Wake() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void CheckpointFollower::EnsureWatch() {
  if (inotify_fd_ < 0 || watch_ >= 0) return;
  watch_ = inotify_add_watch(inotify_fd_, dir_.c_str(), kWatchMask);
}

bool CheckpointFollower::WaitForChange(absl::Duration timeout) {
  EnsureWatch();
  // Without a watch (the directory is gone) look again soon: it may come back.
  if (watch_ < 0 && inotify_fd_ >= 0) timeout = std::min(timeout, absl::Milliseconds(100));
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const int ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout)));
  if (poll(fds, 2, ms) <= 0) return false;
  bool changed = false;
  if (fds[1].revents & POLLIN) {
    uint64_t n;
    [[maybe_unused]] ssize_t r = read(wake_fd_, &n, sizeof(n));
    changed = true;
  }
  if (fds[0].revents & POLLIN) {
    alignas(inotify_event) char buf[16384];
    ssize_t len;
    while ((len = read(inotify_fd_, buf, sizeof(buf))) > 0) {
      for (char* p = buf; p < buf + len;) {
        const auto* e = reinterpret_cast<const inotify_event*>(p);
        if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          // The directory went away or was replaced: watch the path afresh.
          if (watch_ >= 0 && !(e->mask & IN_IGNORED)) inotify_rm_watch(inotify_fd_, watch_);
          watch_ = -1;
        }
        p += sizeof(inotify_event) + e->len;
      }
      changed = true;
    }
  }
  return changed;
}

void CheckpointFollower::Run() {
  bool changed = true;  // check the pointer once at start
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    Step(changed);
    absl::Duration wait = options_.poll;
    {
      absl::MutexLock lock(&mu_);
      if (!failed_reason_.empty()) {
        wait = std::min(wait, std::max(absl::ZeroDuration(), retry_at_ - absl::Now()));
      }
    }
    {
      absl::MutexLock lock(&mu_);
      if (settle_at_ > absl::Now()) wait = std::min(wait, settle_at_ - absl::Now());
    }
    changed = WaitForChange(wait);
  }
}

void CheckpointFollower::Step(bool changed) {
  absl::MutexLock load(&load_mu_);
  Identity target;
  {
    absl::MutexLock lock(&mu_);
    if (pinned_ || stopping_) return;
  }
  absl::StatusOr<std::string> latest = LatestCheckpointInDir(dir_);
  if (latest.ok()) target = IdentityOf(*latest);
  {
    absl::MutexLock lock(&mu_);
    if (latest.ok() && target == serving_) {  // nothing new; forget old failures
      failed_ = Identity();
      failed_reason_.clear();
      failures_ = 0;
      return;
    }
    const bool same_failure =
        target == failed_ && (latest.ok() || failed_reason_ == latest.status().message());
    if (same_failure && !changed && absl::Now() < retry_at_) return;
    // A Keras file written in place is taken once it has not changed for
    // `settle` (h5py writes it in pieces; CheckHdf5Complete then confirms).
    settle_at_ = absl::InfinitePast();
    if (latest.ok() && !PathExists(target.prefix + ".index")) {
      const absl::Time modified = absl::FromUnixNanos(target.mtime_ns);
      if (absl::Now() < modified + options_.settle) {
        settle_at_ = modified + options_.settle;
        return;
      }
    }
  }
  if (!latest.ok()) {
    // Before the first checkpoint (the model's own weights serve, no pointer
    // yet) there is nothing to reject: the trainer has not written one.
    bool waiting;
    {
      absl::MutexLock lock(&mu_);
      waiting = serving_.prefix.empty() &&
                !PathExists(dir_ + "/" + std::string(kCheckpointStateFilename)) &&
                ListKerasCheckpoints(dir_).empty();
    }
    if (!waiting) Reject("", latest.status(), absl::ZeroDuration());
    return;
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<const WeightSet>> weights = LoadAndValidate(target.prefix);
  const absl::Duration took = absl::Now() - start;
  if (!weights.ok()) {
    Reject(target.prefix, weights.status(), took);
    ReleaseFreedMemory();  // what the failed load read
    return;
  }
  const int64_t generation = SwapIn(GoodSet{*std::move(weights), target});
  CheckpointEvent e = Event(CheckpointEvent::SWAPPED, target.prefix);
  e.set_load_ms(absl::ToDoubleMilliseconds(took));
  e.set_weights_version(generation);
  LOG(INFO) << "Model " << model_ << " version " << version_ << ": now serving checkpoint "
            << target.prefix << " (weights version " << generation << ", loaded in "
            << absl::FormatDuration(took) << ")";
  events_->Append(std::move(e));
}

absl::StatusOr<std::shared_ptr<const WeightSet>> CheckpointFollower::LoadAndValidate(
    const std::string& prefix) const {
  RETURN_IF_ERROR(options_.allowed_roots.CheckCheckpoint(prefix));
  const LoadedModel& model = servable_->model();
  absl::StatusOr<std::shared_ptr<const WeightSet>> weights =
      ReadCheckpointWeights(model.slots, prefix, options_.read_keras_weights);
  if (!weights.ok()) return weights.status();
  if (options_.reject_nonfinite) {
    if (absl::Status s = CheckAllFinite(model.slots, **weights); !s.ok()) return s;
  }
  if (absl::Status s = servable_->WarmUp(**weights); !s.ok()) return s;
  return weights;
}

int64_t CheckpointFollower::SwapIn(GoodSet next) {
  GoodSet current{servable_->Weights()->set, Identity()};
  {
    absl::MutexLock lock(&mu_);
    current.identity = serving_;
    serving_ = next.identity;
    failed_ = Identity();
    failed_reason_.clear();
    failures_ = 0;
    last_rejection_ = absl::OkStatus();
  }
  const int64_t generation = servable_->Swap(std::move(next.weights));
  if (!options_.keep_previous_weights) current.weights = nullptr;
  {
    absl::MutexLock lock(&mu_);
    previous_ = std::move(current);  // the set before that is freed once its requests end
  }
  ReleaseFreedMemory();
  return generation;
}

void CheckpointFollower::Reject(const std::string& prefix, const absl::Status& why,
                                absl::Duration load_time) {
  const std::string reason(why.message());
  bool first;
  {
    absl::MutexLock lock(&mu_);
    const Identity id = prefix.empty() ? Identity() : IdentityOf(prefix);
    first = !(id == failed_ && reason == failed_reason_);
    if (first) failures_ = 0;
    failed_ = id;
    failed_reason_ = reason;
    ++failures_;
    retry_at_ = absl::Now() + RetryBackoff(failures_, options_);
    last_rejection_ = absl::Status(
        why.code(), absl::StrCat("checkpoint ", prefix.empty() ? dir_ : prefix, " rejected: ",
                                 reason, "; still serving ",
                                 serving_.prefix.empty() ? "the model's own weights" : serving_.prefix));
  }
  if (!first) return;  // the same failure again: retried quietly
  LOG(WARNING) << "Model " << model_ << " version " << version_ << ": "
               << LastRejection().message();
  CheckpointEvent e = Event(CheckpointEvent::REJECTED, prefix);
  e.set_reason(reason);
  e.set_reason_code(absl::StatusCodeToString(why.code()));
  e.set_load_ms(absl::ToDoubleMilliseconds(load_time));
  events_->Append(std::move(e));
}

CheckpointEvent CheckpointFollower::Event(CheckpointEvent::Kind kind,
                                          const std::string& prefix) const {
  CheckpointEvent e;
  e.set_model(model_);
  e.set_model_version(version_);
  e.set_kind(kind);
  e.set_prefix(prefix);
  e.set_step(StepFromPrefix(prefix));
  e.set_weights_version(servable_->Weights()->generation);
  return e;
}

absl::StatusOr<std::string> CheckpointFollower::ResolvePinTarget(const std::string& prefix) const {
  for (const std::string& candidate : {prefix, dir_ + "/" + prefix}) {
    if (PathExists(candidate + ".index")) return candidate;
    if (IsKerasCheckpointName(candidate) && PathExists(candidate) && !IsDirectory(candidate)) {
      return candidate;
    }
  }
  return absl::NotFoundError(absl::StrCat("no checkpoint ", prefix, " (looked for ", prefix,
                                          ".index, ", dir_, "/", prefix,
                                          ".index and a Keras file of that name)"));
}

absl::Status CheckpointFollower::Pin(const std::string& prefix) {
  // Before looking: whether a file exists outside the roots is not told.
  RETURN_IF_ERROR(options_.allowed_roots.Check(
      "pin target", absl::StartsWith(prefix, "/") ? prefix : dir_ + "/" + prefix));
  absl::StatusOr<std::string> resolved = ResolvePinTarget(prefix);
  if (!resolved.ok()) return resolved.status();
  RETURN_IF_ERROR(options_.allowed_roots.CheckCheckpoint(*resolved));
  absl::MutexLock load(&load_mu_);
  const Identity id = IdentityOf(*resolved);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<const WeightSet>> weights = LoadAndValidate(*resolved);
  if (!weights.ok()) {
    Reject(*resolved, weights.status(), absl::Now() - start);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot pin ", *resolved, ": ", weights.status().message()));
  }
  {
    absl::MutexLock lock(&mu_);
    pinned_ = true;
  }
  const int64_t generation = SwapIn(GoodSet{*std::move(weights), id});
  CheckpointEvent e = Event(CheckpointEvent::PINNED, *resolved);
  e.set_load_ms(absl::ToDoubleMilliseconds(absl::Now() - start));
  e.set_weights_version(generation);
  events_->Append(std::move(e));
  LOG(INFO) << "Model " << model_ << ": pinned to " << *resolved;
  return absl::OkStatus();
}

absl::Status CheckpointFollower::Unpin() {
  {
    absl::MutexLock lock(&mu_);
    pinned_ = false;
    retry_at_ = absl::InfinitePast();
  }
  events_->Append(Event(CheckpointEvent::UNPINNED, ""));
  LOG(INFO) << "Model " << model_ << ": following " << dir_ << " again";
  Wake();
  return absl::OkStatus();
}

absl::Status CheckpointFollower::Rollback() {
  absl::MutexLock load(&load_mu_);
  GoodSet previous;
  {
    absl::MutexLock lock(&mu_);
    previous = previous_;
  }
  if (previous.weights == nullptr && !previous.identity.prefix.empty()) {
    // Not kept in memory (keep_previous_weights off): read it again, if it is
    // still the file that served.
    const std::string& prefix = previous.identity.prefix;
    if (!(IdentityOf(prefix) == previous.identity)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot roll back to ", prefix, ": it was deleted or rewritten since it served"));
    }
    absl::StatusOr<std::shared_ptr<const WeightSet>> weights = LoadAndValidate(prefix);
    if (!weights.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot roll back to ", prefix, ": ", weights.status().message()));
    }
    previous.weights = *std::move(weights);
  }
  if (previous.weights == nullptr) {
    return absl::FailedPreconditionError(
        options_.keep_previous_weights
            ? "no previous weights to roll back to"
            : "no previous weights to roll back to (with --checkpoint_keep_previous_weights=false "
              "only a checkpoint still on disk can be, not the model's own weights)");
  }
  {
    absl::MutexLock lock(&mu_);
    pinned_ = true;
  }
  const std::string prefix = previous.identity.prefix;
  const int64_t generation = SwapIn(std::move(previous));
  CheckpointEvent e = Event(CheckpointEvent::ROLLED_BACK, prefix);
  e.set_weights_version(generation);
  events_->Append(std::move(e));
  LOG(INFO) << "Model " << model_ << ": rolled back to "
            << (prefix.empty() ? "the model's own weights" : prefix) << " (pinned)";
  return absl::OkStatus();
}

absl::Status CheckpointFollower::LastRejection() const {
  absl::MutexLock lock(&mu_);
  return last_rejection_;
}

ServingState CheckpointFollower::State() const {
  ServingState s;
  s.set_model(model_);
  s.set_model_version(version_);
  s.set_directory(dir_);
  s.set_weights_version(servable_->Weights()->generation);
  {
    absl::MutexLock lock(&mu_);
    s.set_serving_prefix(serving_.prefix);
    s.set_pinned(pinned_);
    if (!failed_reason_.empty()) {
      s.set_failed_attempts(failures_);
      s.set_retry_backoff_ms(absl::ToDoubleMilliseconds(RetryBackoff(failures_, options_)));
    }
  }
  if (absl::StatusOr<std::string> latest = LatestCheckpointInDir(dir_); latest.ok()) {
    s.set_pointer_target(*latest);
  }
  return s;
}

}  // namespace swapserve::server
