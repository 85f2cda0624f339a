// Which versions of a model to serve: TF Serving's ServableVersionPolicy
// (`latest { num_versions }`, `all`, `specific { versions }`) applied to the
// versions found on disk. Stateless, thread-safe.
#ifndef SWAPSERVE_SERVER_VERSION_POLICY_H_
#define SWAPSERVE_SERVER_VERSION_POLICY_H_

#include <cstdint>
#include <set>
#include <string>

#include "tensorflow_serving/sources/storage_path/file_system_storage_path_source.pb.h"

namespace swapserve::server {

using VersionPolicy =
    tensorflow::serving::FileSystemStoragePathSourceConfig::ServableVersionPolicy;

// The versions of `on_disk` the policy wants served. An unset policy means
// `latest { num_versions: 1 }`, as in TF Serving; `specific` versions that are not
// on disk are simply absent.
std::set<int64_t> AspiredVersions(const VersionPolicy& policy,
                                  const std::set<int64_t>& on_disk);

// "latest(1)", "all", "specific(123,124)" — for logs and errors.
std::string PolicyDebugString(const VersionPolicy& policy);

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_VERSION_POLICY_H_
