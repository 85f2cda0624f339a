// CheckpointFollower: keeps one served model version on the newest checkpoint of
// a directory that a trainer writes into. It watches the directory (inotify:
// renames into it, close-after-write, the directory itself deleted or replaced)
// and also polls every `poll`, since network and overlay volumes often deliver
// no events. When the directory's latest checkpoint (checkpoint_dir.h: the
// `checkpoint` pointer's, or without one the newest Keras 3 `*.weights.h5` /
// `*.keras` file) is another than the one serving (or the same rewritten), it
// reads it on its own thread, validates it completely (every slot present with
// its dtype and shape; for bundles offsets inside the data file and every
// CRC32C; for Keras files a settled modification time and HDF5's recorded end
// of file equal to the size, parsed through `read_keras_weights`; optionally no
// NaN/Inf), warms it up, and swaps it in with one atomic pointer store
// (Servable::Swap).
//
// On any failure the old weights keep serving; the rejection is logged and
// recorded (EventLog, LastRejection) once per checkpoint and reason, and the load
// is retried with back-off — sooner when the directory changes, since the writer
// may still be writing. A newer pointer target supersedes a failing one.
// Pin/Unpin/Rollback give manual control. The follower holds at most the previous
// good set (for Rollback) besides what serves and what is loading.
//
// Thread safety: thread-safe. Loads and swaps are serialized by one mutex; the
// servable's readers never take it.
#ifndef SWAPSERVE_SERVER_CHECKPOINT_FOLLOWER_H_
#define SWAPSERVE_SERVER_CHECKPOINT_FOLLOWER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model/loaded_model.h"
#include "model/servable.h"
#include "server/allowed_roots.h"
#include "server/event_log.h"
#include "swapserve/admin/v1/admin.pb.h"

namespace swapserve::server {

struct FollowerOptions {
  absl::Duration poll = absl::Seconds(2);
  // A Keras 3 file (`*.weights.h5`, `*.keras`) is taken only once its
  // modification time is this old (h5py writes in place, in pieces).
  absl::Duration settle = absl::Seconds(1);
  // Parses Keras 3 files (checkpoints, and the weights of .keras models the
  // ModelManager loads); null: in this process (the daemon sets the child
  // process reader of isolated_reader.h).
  KerasWeightsReader read_keras_weights;
  // Parses legacy Keras .h5 models (versions that appear in a base path; the
  // ModelManager's loads use it); null: in this process.
  KerasH5Reader read_keras_h5;
  bool reject_nonfinite = true;
  bool use_inotify = true;  // false: polling only (as on volumes without events)
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  // Keep the weights that served before the last swap, so that Rollback is a
  // swap (memory: the serving set and that one). false: only their name is
  // kept and Rollback reads that checkpoint again (it must still be on disk
  // and unchanged); the model's own weights then cannot be rolled back to.
  bool keep_previous_weights = true;
  // --allowed_model_roots: checkpoints (followed, pinned, fallen back on) must
  // lie inside; the ModelManager checks its paths against the same roots.
  AllowedRoots allowed_roots;
};

// The wait before retrying a checkpoint that failed `failures` (>= 1) times in a
// row: options.min_backoff, doubled per further failure, at most max_backoff.
absl::Duration RetryBackoff(int failures, const FollowerOptions& options);

// The step number in a checkpoint's name (checkpoint_dir.h's CheckpointStep).
int64_t StepFromPrefix(const std::string& prefix);

// The checkpoints in `dir`: each PREFIX.index, sorted by step then name, then
// the Keras 3 files in the order that picks the latest (checkpoint_dir.h).
std::vector<swapserve::admin::v1::CheckpointOnDisk> ListCheckpointsOnDisk(const std::string& dir);

// What a version falls back on when `latest` (the directory's latest) is not
// usable, newest first: the pointer's all_model_checkpoint_paths from its
// newest, then the other checkpoints on disk (bundles with every data shard,
// Keras files) from the newest; never `latest` itself.
std::vector<std::string> FallbackCheckpoints(const std::string& dir, const std::string& latest);

class CheckpointFollower {
 public:
  // Starts following at once. `servable` must already serve its first weights,
  // which took `load_time` to load (recorded as the LOADED event).
  CheckpointFollower(std::string model, int64_t version, std::string dir,
                     std::shared_ptr<Servable> servable, FollowerOptions options,
                     EventLog* events, absl::Duration load_time = absl::ZeroDuration());
  ~CheckpointFollower();  // stops the thread (waits for a load in progress)

  CheckpointFollower(const CheckpointFollower&) = delete;
  CheckpointFollower& operator=(const CheckpointFollower&) = delete;

  const std::string& directory() const { return dir_; }
  swapserve::admin::v1::ServingState State() const;

  // Loads, validates and serves `prefix` (a path, or a name inside the directory)
  // and stops following. FAILED_PRECONDITION with the reason if it is not valid.
  absl::Status Pin(const std::string& prefix);
  // Follows the pointer again.
  absl::Status Unpin();
  // Serves the weights that served before the last change, pinned (read
  // again from disk without keep_previous_weights).
  absl::Status Rollback();

  // The most recent rejection since the last successful swap; OK if none.
  absl::Status LastRejection() const;

 private:
  // What identifies a checkpoint's content: its prefix and its .index file's
  // (a Keras file's own) inode, size and modification time (a prefix or a
  // best.weights.h5 may be rewritten in place).
  struct Identity {
    std::string prefix;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const Identity&) const = default;
  };
  struct GoodSet {
    std::shared_ptr<const WeightSet> weights;
    Identity identity;
  };

  static Identity IdentityOf(const std::string& prefix);
  void Run();
  // Waits for directory events, the timeout, or a wake-up; true if the directory changed.
  bool WaitForChange(absl::Duration timeout);
  void EnsureWatch();
  void Wake();
  void Step(bool changed);
  absl::StatusOr<std::shared_ptr<const WeightSet>> LoadAndValidate(const std::string& prefix) const;
  // Makes `next` serve; the serving set becomes the previous one.
  int64_t SwapIn(GoodSet next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(load_mu_);
  void Reject(const std::string& prefix, const absl::Status& why, absl::Duration load_time);
  CheckpointEvent Event(CheckpointEvent::Kind kind, const std::string& prefix) const;
  absl::StatusOr<std::string> ResolvePinTarget(const std::string& prefix) const;

  const std::string model_;
  const int64_t version_;
  const std::string dir_;
  const std::shared_ptr<Servable> servable_;
  const FollowerOptions options_;
  EventLog* const events_;

  absl::Mutex load_mu_;  // one load/swap at a time (thread, Pin, Rollback)
  mutable absl::Mutex mu_;
  Identity serving_ ABSL_GUARDED_BY(mu_);  // prefix "" = the model's own weights
  // Without keep_previous_weights, only its identity (weights null).
  GoodSet previous_ ABSL_GUARDED_BY(mu_);
  bool pinned_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The failing target and its back-off.
  Identity failed_ ABSL_GUARDED_BY(mu_);
  std::string failed_reason_ ABSL_GUARDED_BY(mu_);
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // A Keras file too fresh to take: look again then.
  absl::Time settle_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status last_rejection_ ABSL_GUARDED_BY(mu_);

  int inotify_fd_ = -1;
  int watch_ = -1;     // only the follower thread touches the watch
  int wake_fd_ = -1;   // eventfd: Unpin and the destructor wake the thread
  std::thread thread_;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_CHECKPOINT_FOLLOWER_H_
