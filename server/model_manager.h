// ModelManager: the models the configuration names, their versions, and each
// version's lifecycle (START → LOADING → AVAILABLE → UNLOADING → END) — TF
// Serving's file-system source and AspiredVersionsManager in one class.
//
// A poll round lists every model's base path, applies its version policy, loads
// the wanted versions that are not loaded (a failed load is retried after
// load_retry_interval, up to max_num_load_retries: a version directory still being
// copied is not fatal), and then unloads versions the policy no longer wants —
// only once some wanted version is available, so a new version replaces an old
// one without a gap. A model with a checkpoint_dir loads its weights from the
// directory's latest checkpoint (the model's own weights if that is not valid)
// and each available version gets a CheckpointFollower. Rounds run on the manager's thread every poll_wait and
// synchronously inside ApplyConfig(); one at a time.
//
// Thread safety: thread-safe. Find() takes a short shared lock, never one held
// while loading, and returns a handle that keeps the version's Servable alive
// until the request drops it, even if the version is unloaded meanwhile.
#ifndef SWAPSERVE_SERVER_MODEL_MANAGER_H_
#define SWAPSERVE_SERVER_MODEL_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model/servable.h"
#include "server/batching/batcher.h"
#include "server/checkpoint_follower.h"
#include "server/event_log.h"
#include "tensorflow_serving/apis/get_model_status.pb.h"
#include "tensorflow_serving/apis/model.pb.h"
#include "tensorflow_serving/config/model_server_config.pb.h"

namespace swapserve::server {

using tensorflow::serving::ModelConfig;
using tensorflow::serving::ModelConfigList;
using VersionState = tensorflow::serving::ModelVersionStatus::State;

struct ManagerOptions {
  absl::Duration poll_wait = absl::Seconds(1);  // <= 0: no background polling
  int max_num_load_retries = 5;
  absl::Duration load_retry_interval = absl::Minutes(1);
  // For models with a checkpoint_dir: how their CheckpointFollowers behave, and
  // where they record events (must outlive the manager).
  FollowerOptions follower;
  EventLog* events = nullptr;
  // Called after every attempt to load a version (the metrics), if set.
  std::function<void(const std::string& model, int64_t version, const std::string& path,
                     const absl::Status& status, absl::Duration took)>
      on_load;
  // Called for every version that loads, with its directory: the batcher of
  // the version's own (per-model batching parameters), null for none, or an
  // error that fails the load. If unset, no version has one.
  std::function<absl::StatusOr<std::shared_ptr<batching::Batcher>>(const std::string& path)>
      version_batcher;
};

// One version of one model, ready to answer a request.
struct ServableHandle {
  std::string name;
  int64_t version = 0;
  std::shared_ptr<const Servable> servable;
  // The version's own batcher (--enable_per_model_batching_parameters), or null.
  std::shared_ptr<batching::Batcher> batcher;
};

struct VersionStatus {
  int64_t version = 0;
  VersionState state = tensorflow::serving::ModelVersionStatus::UNKNOWN;
  absl::Status status;  // the last load error, if any
};

class ModelManager {
 public:
  explicit ModelManager(ManagerOptions options);
  ~ModelManager();  // Stop()

  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Replaces the set of models: new ones are added, missing ones removed, changed
  // policies and labels applied, unchanged models left alone; then runs one poll
  // round. An invalid config (empty or duplicate name, no base path, another
  // platform) is INVALID_ARGUMENT and changes nothing.
  absl::Status ApplyConfig(const ModelConfigList& config);

  // Starts polling every poll_wait; `on_round` runs after each round.
  void Start(std::function<void()> on_round);
  // Stops polling (waits for a running round); the models stay loaded.
  void Stop();

  // The version `spec` asks for (a version, a label, or the latest available),
  // with TF Serving's codes: NOT_FOUND for an unknown model or a version that is
  // not available, INVALID_ARGUMENT for no name or an unknown label.
  absl::StatusOr<ServableHandle> Find(const tensorflow::serving::ModelSpec& spec) const;

  // The version `label` names in `name`'s config: NOT_FOUND for an unknown
  // model, INVALID_ARGUMENT for an unknown label (Find's codes and messages).
  absl::StatusOr<int64_t> LabelledVersion(const std::string& name, const std::string& label) const;

  // Every version the manager knows of `name` (or only `version`), ascending.
  absl::StatusOr<std::vector<VersionStatus>> Status(const std::string& name,
                                                    std::optional<int64_t> version) const;

  // The follower of `name`'s highest available version. NOT_FOUND for an unknown
  // model, FAILED_PRECONDITION when it has no checkpoint_dir or no version yet.
  absl::StatusOr<std::shared_ptr<CheckpointFollower>> FindFollower(const std::string& name) const;

  // True when every configured model has an available version.
  bool AllModelsAvailable() const;

  // True when `name` is a configured model.
  bool HasModel(const std::string& name) const;

  // The configured model names, sorted.
  std::vector<std::string> ModelNames() const;

 private:
  struct VersionRecord {
    std::string path;
    VersionState state = tensorflow::serving::ModelVersionStatus::START;
    absl::Status status;
    std::shared_ptr<Servable> servable;
    std::shared_ptr<batching::Batcher> batcher;    // see ManagerOptions::version_batcher
    std::shared_ptr<CheckpointFollower> follower;  // with a checkpoint_dir
    int failed_attempts = 0;
    absl::Time next_attempt = absl::InfinitePast();
  };
  struct ModelRecord {
    ModelConfig config;
    int64_t generation = 0;  // bumped when the config changes what is loaded
    std::map<int64_t, VersionRecord> versions;
    std::string listing_problem;  // last reported, to log changes once
  };
  struct LoadJob {
    std::string name;
    int64_t generation;
    int64_t version;
    std::string path;
    std::string checkpoint_dir;
  };

  void RunRound() ABSL_LOCKS_EXCLUDED(mu_);
  // Registers the versions found on disk; returns the loads that are due.
  std::vector<LoadJob> PlanLoads(const std::string& name, int64_t generation,
                                 const std::map<int64_t, std::string>& on_disk)
      ABSL_LOCKS_EXCLUDED(mu_);
  void FinishLoad(const LoadJob& job, absl::StatusOr<std::shared_ptr<Servable>> loaded,
                  std::shared_ptr<batching::Batcher> batcher, absl::Duration took)
      ABSL_LOCKS_EXCLUDED(mu_);
  void UnloadUnwanted(const std::string& name, int64_t generation,
                      const std::set<int64_t>& aspired) ABSL_LOCKS_EXCLUDED(mu_);
  void PollLoop(std::function<void()> on_round);

  const ManagerOptions options_;
  absl::Mutex round_mu_;  // one round at a time; never taken by readers
  mutable absl::Mutex mu_;
  std::map<std::string, ModelRecord> models_ ABSL_GUARDED_BY(mu_);
  int64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread poller_;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_MODEL_MANAGER_H_
