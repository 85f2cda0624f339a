#include "server/model_manager.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "model/formats/checkpoint_dir.h"
#include "model/formats/checkpoint_state.h"
#include "model/formats/model_path.h"
#include "model/formats/saved_model.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"
#include "server/version_policy.h"

namespace swapserve::server {
namespace {

using tensorflow::serving::ModelVersionStatus;

// The versions under a base path: numeric subdirectories (TF Serving's layout),
// or version 1 when the base path is itself a SavedModel directory or a file.
absl::StatusOr<std::map<int64_t, std::string>> ListOnDisk(const std::string& base) {
  if (!PathExists(base)) {
    return absl::NotFoundError(absl::StrCat("base path ", base, " does not exist"));
  }
  if (!IsDirectory(base) || IsSavedModelDir(base)) return std::map<int64_t, std::string>{{1, base}};
  std::map<int64_t, std::string> found;
  for (const VersionDir& v : ListVersionDirs(base)) found[v.version] = v.path;
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat("no versions of the model found under ", base));
  }
  return found;
}

// The model at `path` with the weights of `checkpoint` ("": its own),
// rejected when `reject_nonfinite` and a followed checkpoint holds NaN/Inf.
absl::StatusOr<std::unique_ptr<LoadedModel>> LoadWithWeights(const std::string& path,
                                                              const std::string& checkpoint,
                                                              const FollowerOptions& follower) {
  if (follower.allowed_roots.restricts() && !checkpoint.empty()) {
    // The checkpoint a directory's pointer names may be anywhere.
    const absl::StatusOr<std::string> latest =
        IsDirectory(checkpoint) ? LatestCheckpointInDir(checkpoint) : checkpoint;
    if (latest.ok()) RETURN_IF_ERROR(follower.allowed_roots.CheckCheckpoint(*latest));
  }
  ASSIGN_OR_RETURN(
      std::unique_ptr<LoadedModel> model,
      LoadModel(path, LoadOptions{checkpoint, follower.read_keras_weights, follower.read_keras_h5}));
  if (!checkpoint.empty() && follower.reject_nonfinite) {
    RETURN_IF_ERROR(CheckAllFinite(model->slots, *model->weights));
  }
  return model;
}

// Loads the version at `path`. With a checkpoint directory, its latest
// checkpoint supplies the weights; if that one is not usable (a pointer naming
// a checkpoint whose data is missing, say), the newest usable one of the
// directory's others (FallbackCheckpoints) serves until the follower can take
// the latest; with none, the model's own weights serve until a checkpoint
// arrives; neither is a load error naming both.
absl::StatusOr<std::shared_ptr<Servable>> LoadServable(const std::string& path,
                                                       const std::string& checkpoint_dir,
                                                       const FollowerOptions& follower) {
  RETURN_IF_ERROR(follower.allowed_roots.CheckTree("version", path));
  absl::StatusOr<std::unique_ptr<LoadedModel>> model =
      LoadWithWeights(path, checkpoint_dir, follower);
  if (model.ok()) return std::make_shared<Servable>(*std::move(model));
  if (checkpoint_dir.empty()) return model.status();
  const absl::StatusOr<std::string> latest = LatestCheckpointInDir(checkpoint_dir);
  if (latest.ok() || PathExists(absl::StrCat(checkpoint_dir, "/", kCheckpointStateFilename))) {
    for (const std::string& prefix :
         FallbackCheckpoints(checkpoint_dir, latest.ok() ? *latest : "")) {
      absl::StatusOr<std::unique_ptr<LoadedModel>> older = LoadWithWeights(path, prefix, follower);
      if (!older.ok()) continue;
      LOG(WARNING) << "Checkpoint directory " << checkpoint_dir
                   << ": the latest checkpoint is not usable (" << model.status().message()
                   << "); serving the newest usable one, " << prefix
                   << ", until the latest can be taken";
      return std::make_shared<Servable>(*std::move(older));
    }
  }
  absl::StatusOr<std::unique_ptr<LoadedModel>> own =
      LoadModel(path, LoadOptions{"", follower.read_keras_weights, follower.read_keras_h5});
  if (!own.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no usable weights: checkpoint directory ", checkpoint_dir, ": ", model.status().message(),
        "; the model's own: ", own.status().message()));
  }
  LOG(WARNING) << "Checkpoint directory " << checkpoint_dir << " has no usable checkpoint ("
               << model.status().message() << "); serving " << path
               << "'s own weights until one arrives";
  return std::make_shared<Servable>(*std::move(own));
}

absl::Status ValidateConfig(const ModelConfigList& config, const AllowedRoots& roots) {
  std::set<std::string> names;
  for (const ModelConfig& m : config.config()) {
    if (m.name().empty()) return absl::InvalidArgumentError("a model config has no name");
    if (!names.insert(m.name()).second) {
      return absl::InvalidArgumentError(absl::StrCat("model name '", m.name(), "' appears twice"));
    }
    if (m.base_path().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("model '", m.name(), "' has no base_path"));
    }
    if (!m.model_platform().empty() && m.model_platform() != "tensorflow") {
      return absl::InvalidArgumentError(absl::StrCat("model '", m.name(), "': model_platform '",
                                                     m.model_platform(),
                                                     "' is not supported (use \"tensorflow\")"));
    }
    if (m.model_type() == tensorflow::serving::OTHER) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", m.name(), "': model_type OTHER is not supported"));
    }
    RETURN_IF_ERROR(roots.Check(absl::StrCat("model '", m.name(), "': base_path"), m.base_path()));
    if (!m.checkpoint_dir().empty()) {
      RETURN_IF_ERROR(
          roots.Check(absl::StrCat("model '", m.name(), "': checkpoint_dir"), m.checkpoint_dir()));
    }
  }
  return absl::OkStatus();
}

// True when the change needs the versions loaded afresh (not just a new policy).
bool ChangesWhatIsLoaded(const ModelConfig& a, const ModelConfig& b) {
  return a.base_path() != b.base_path() || a.checkpoint_dir() != b.checkpoint_dir();
}

}  // namespace

ModelManager::ModelManager(ManagerOptions options) : options_(options) {}

ModelManager::~ModelManager() { Stop(); }

void ModelManager::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (poller_.joinable()) poller_.join();
}

absl::Status ModelManager::ApplyConfig(const ModelConfigList& config) {
  if (absl::Status valid = ValidateConfig(config, options_.follower.allowed_roots); !valid.ok()) {
    return valid;
  }
  std::map<std::string, ModelRecord> removed;
  {
    absl::MutexLock lock(&mu_);
    std::map<std::string, ModelRecord> next;
    for (const ModelConfig& m : config.config()) {
      auto old = models_.find(m.name());
      if (old != models_.end() && !ChangesWhatIsLoaded(old->second.config, m)) {
        next[m.name()] = std::move(old->second);
      } else {
        LOG(INFO) << (old == models_.end() ? "Adding" : "Re-adding") << " model " << m.name()
                  << " from " << m.base_path();
        next[m.name()].generation = next_generation_++;
      }
      next[m.name()].config = m;
    }
    for (const auto& [name, record] : models_) {
      if (next.count(name) == 0) LOG(INFO) << "Removing model " << name;
    }
    removed = std::move(models_);  // destroyed (followers stopped) after the lock
    models_ = std::move(next);     // removed versions live on in their requests' handles
  }
  removed.clear();
  RunRound();
  return absl::OkStatus();
}

void ModelManager::Start(std::function<void()> on_round) {
  if (on_round) on_round();
  if (options_.poll_wait <= absl::ZeroDuration()) return;
  poller_ = std::thread([this, on_round = std::move(on_round)] { PollLoop(on_round); });
}

void ModelManager::PollLoop(std::function<void()> on_round) {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.poll_wait);
      if (stopping_) return;
    }
    RunRound();
    if (on_round) on_round();
  }
}

void ModelManager::RunRound() {
  absl::MutexLock round(&round_mu_);
  std::vector<std::pair<std::string, ModelRecord>> snapshot;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, record] : models_) {
      snapshot.push_back({name, ModelRecord{record.config, record.generation, {}, {}}});
    }
  }
  for (const auto& [name, record] : snapshot) {
    absl::StatusOr<std::map<int64_t, std::string>> on_disk = ListOnDisk(record.config.base_path());
    {
      absl::MutexLock lock(&mu_);
      auto it = models_.find(name);
      if (it == models_.end()) continue;
      std::string problem = on_disk.ok() ? "" : std::string(on_disk.status().message());
      if (problem != it->second.listing_problem && !problem.empty()) {
        LOG(WARNING) << "Model " << name << ": " << problem;
      }
      it->second.listing_problem = problem;
    }
    if (!on_disk.ok()) continue;  // keep serving what is loaded
    std::set<int64_t> versions;
    for (const auto& [v, path] : *on_disk) versions.insert(v);
    const std::set<int64_t> aspired =
        AspiredVersions(record.config.model_version_policy(), versions);
    std::map<int64_t, std::string> wanted;
    for (int64_t v : aspired) wanted[v] = on_disk->at(v);
    for (const LoadJob& job : PlanLoads(name, record.generation, wanted)) {
      const absl::Time start = absl::Now();
      absl::StatusOr<std::shared_ptr<Servable>> loaded =
          LoadServable(job.path, job.checkpoint_dir, options_.follower);
      std::shared_ptr<batching::Batcher> batcher;
      if (loaded.ok() && options_.version_batcher) {
        absl::StatusOr<std::shared_ptr<batching::Batcher>> made = options_.version_batcher(job.path);
        if (made.ok()) {
          batcher = *std::move(made);
        } else {
          loaded = made.status();
        }
      }
      const absl::Duration took = absl::Now() - start;
      if (loaded.ok()) {
        LOG(INFO) << "Loaded model " << name << " version " << job.version << " from "
                  << job.path << " in " << absl::ToInt64Milliseconds(took) << " ms";
      }
      if (options_.on_load) {
        options_.on_load(name, job.version, job.path,
                         loaded.ok() ? absl::OkStatus() : loaded.status(), took);
      }
      FinishLoad(job, std::move(loaded), std::move(batcher), took);
    }
    UnloadUnwanted(name, record.generation, aspired);
  }
}

std::vector<ModelManager::LoadJob> ModelManager::PlanLoads(
    const std::string& name, int64_t generation, const std::map<int64_t, std::string>& wanted) {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end() || it->second.generation != generation) return {};
  ModelRecord& model = it->second;
  std::vector<LoadJob> jobs;
  const absl::Time now = absl::Now();
  for (const auto& [v, path] : wanted) {
    VersionRecord& rec = model.versions[v];
    const bool unloaded = rec.state == ModelVersionStatus::END && rec.status.ok();
    if (unloaded) rec = VersionRecord{};
    if (rec.state != ModelVersionStatus::START && rec.state != ModelVersionStatus::LOADING) continue;
    if (rec.next_attempt > now) continue;
    rec.path = path;
    rec.state = ModelVersionStatus::LOADING;
    jobs.push_back(LoadJob{name, generation, v, path, model.config.checkpoint_dir()});
  }
  return jobs;
}

void ModelManager::FinishLoad(const LoadJob& job,
                              absl::StatusOr<std::shared_ptr<Servable>> loaded,
                              std::shared_ptr<batching::Batcher> batcher, absl::Duration took) {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(job.name);
  if (it == models_.end() || it->second.generation != job.generation) return;
  auto v = it->second.versions.find(job.version);
  if (v == it->second.versions.end() || v->second.state != ModelVersionStatus::LOADING) return;
  VersionRecord& rec = v->second;
  if (loaded.ok()) {
    rec.servable = *std::move(loaded);
    rec.batcher = std::move(batcher);
    if (!job.checkpoint_dir.empty()) {
      rec.follower = std::make_shared<CheckpointFollower>(job.name, job.version, job.checkpoint_dir,
                                                          rec.servable, options_.follower,
                                                          options_.events, took);
    }
    rec.state = ModelVersionStatus::AVAILABLE;
    rec.status = absl::OkStatus();
    return;
  }
  rec.status = loaded.status();
  if (++rec.failed_attempts > options_.max_num_load_retries) {
    rec.state = ModelVersionStatus::END;
    LOG(ERROR) << "Giving up loading model " << job.name << " version " << job.version
               << " after " << rec.failed_attempts << " attempts: " << rec.status;
    return;
  }
  rec.next_attempt = absl::Now() + options_.load_retry_interval;
  LOG(WARNING) << "Loading model " << job.name << " version " << job.version << " from "
               << job.path << " failed (attempt " << rec.failed_attempts << " of "
               << options_.max_num_load_retries + 1 << ", retrying in "
               << absl::FormatDuration(options_.load_retry_interval) << "): " << rec.status;
}

void ModelManager::UnloadUnwanted(const std::string& name, int64_t generation,
                                  const std::set<int64_t>& aspired) {
  // Followers stop (joining their thread) after the lock is released.
  std::vector<std::shared_ptr<CheckpointFollower>> stopped;
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end() || it->second.generation != generation) return;
  bool wanted_available = false;
  for (int64_t v : aspired) {
    auto rec = it->second.versions.find(v);
    if (rec != it->second.versions.end() && rec->second.state == ModelVersionStatus::AVAILABLE) {
      wanted_available = true;
    }
  }
  for (auto& [v, rec] : it->second.versions) {
    if (aspired.count(v) != 0 || rec.state == ModelVersionStatus::END) continue;
    if (rec.state == ModelVersionStatus::AVAILABLE) {
      // Availability first: keep an old version until a wanted one answers.
      if (!wanted_available && !aspired.empty()) continue;
      LOG(INFO) << "Unloading model " << name << " version " << v;
      rec.state = ModelVersionStatus::UNLOADING;
    }
    rec.servable.reset();  // requests holding it finish on it (and on its batcher)
    rec.batcher.reset();
    if (rec.follower != nullptr) stopped.push_back(std::move(rec.follower));
    rec.state = ModelVersionStatus::END;
    rec.status = absl::OkStatus();
  }
}

absl::StatusOr<ServableHandle> ModelManager::Find(
    const tensorflow::serving::ModelSpec& spec) const {
  if (spec.name().empty()) return absl::InvalidArgumentError("ModelSpec has no name specified.");
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(spec.name());
  auto request = [&]() -> std::string {
    if (spec.has_version()) {
      return absl::StrCat("Specific(", spec.name(), ", ", spec.version().value(), ")");
    }
    if (!spec.version_label().empty()) {
      return absl::StrCat("Label(", spec.name(), ", ", spec.version_label(), ")");
    }
    return absl::StrCat("Latest(", spec.name(), ")");
  };
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("Servable not found for request: ", request()));
  }
  const ModelRecord& model = it->second;
  std::optional<int64_t> version;
  if (spec.has_version()) version = spec.version().value();
  if (!spec.version_label().empty()) {
    auto label = model.config.version_labels().find(spec.version_label());
    if (label == model.config.version_labels().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Unrecognized servable version label: ", spec.version_label()));
    }
    version = label->second;
  }
  for (auto v = model.versions.rbegin(); v != model.versions.rend(); ++v) {
    if (v->second.state != ModelVersionStatus::AVAILABLE) continue;
    if (version && v->first != *version) continue;
    return ServableHandle{spec.name(), v->first, v->second.servable, v->second.batcher};
  }
  return absl::NotFoundError(absl::StrCat("Servable not found for request: ", request()));
}

bool ModelManager::HasModel(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  return models_.count(name) > 0;
}

absl::StatusOr<int64_t> ModelManager::LabelledVersion(const std::string& name,
                                                      const std::string& label) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError(
        absl::StrCat("Servable not found for request: Label(", name, ", ", label, ")"));
  }
  auto v = it->second.config.version_labels().find(label);
  if (v == it->second.config.version_labels().end()) {
    return absl::InvalidArgumentError(absl::StrCat("Unrecognized servable version label: ", label));
  }
  return v->second;
}

absl::StatusOr<std::vector<VersionStatus>> ModelManager::Status(
    const std::string& name, std::optional<int64_t> version) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end() || it->second.versions.empty()) {
    return absl::NotFoundError(absl::StrCat("Could not find any versions of model ", name));
  }
  std::vector<VersionStatus> out;
  for (const auto& [v, rec] : it->second.versions) {
    if (version && v != *version) continue;
    // A serving version whose follower rejected a checkpoint reports why.
    const absl::Status status = rec.follower != nullptr && rec.state == ModelVersionStatus::AVAILABLE
                                    ? rec.follower->LastRejection()
                                    : rec.status;
    out.push_back(VersionStatus{v, rec.state, status});
  }
  if (out.empty()) {
    return absl::NotFoundError(
        absl::StrCat("Could not find version ", *version, " of model ", name));
  }
  return out;
}

absl::StatusOr<std::shared_ptr<CheckpointFollower>> ModelManager::FindFollower(
    const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat("no model ", name));
  if (it->second.config.checkpoint_dir().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", name, " does not follow a checkpoint directory"));
  }
  for (auto v = it->second.versions.rbegin(); v != it->second.versions.rend(); ++v) {
    if (v->second.follower != nullptr) return v->second.follower;
  }
  return absl::FailedPreconditionError(absl::StrCat("model ", name, " has no available version"));
}

bool ModelManager::AllModelsAvailable() const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, model] : models_) {
    bool any = false;
    for (const auto& [v, rec] : model.versions) any |= rec.state == ModelVersionStatus::AVAILABLE;
    if (!any) return false;
  }
  return true;
}

std::vector<std::string> ModelManager::ModelNames() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, model] : models_) names.push_back(name);
  return names;
}

}  // namespace swapserve::server
