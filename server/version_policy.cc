#include "server/version_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace swapserve::server {

std::set<int64_t> AspiredVersions(const VersionPolicy& policy,
                                  const std::set<int64_t>& on_disk) {
  switch (policy.policy_choice_case()) {
    case VersionPolicy::kAll:
      return on_disk;
    case VersionPolicy::kSpecific: {
      std::set<int64_t> wanted;
      for (int64_t v : policy.specific().versions()) {
        if (on_disk.count(v) != 0) wanted.insert(v);
      }
      return wanted;
    }
    case VersionPolicy::kLatest:
    case VersionPolicy::POLICY_CHOICE_NOT_SET:
      break;
  }
  const int64_t n = policy.has_latest() && policy.latest().num_versions() > 0
                        ? policy.latest().num_versions()
                        : 1;
  std::set<int64_t> wanted;
  for (auto it = on_disk.rbegin(); it != on_disk.rend() && std::ssize(wanted) < n; ++it) {
    wanted.insert(*it);
  }
  return wanted;
}

std::string PolicyDebugString(const VersionPolicy& policy) {
  switch (policy.policy_choice_case()) {
    case VersionPolicy::kAll:
      return "all";
    case VersionPolicy::kSpecific:
      return absl::StrCat("specific(", absl::StrJoin(policy.specific().versions(), ","), ")");
    default:
      return absl::StrCat(
          "latest(", policy.has_latest() ? std::max<int64_t>(1, policy.latest().num_versions()) : 1,
          ")");
  }
}

}  // namespace swapserve::server
