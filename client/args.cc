#include "client/args.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace swapserve::cli {

absl::StatusOr<Args> Args::Parse(const std::vector<std::string>& words,
                                 const std::set<std::string>& valued,
                                 const std::set<std::string>& switches) {
  Args args;
  bool flags_done = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (flags_done || !absl::StartsWith(w, "--") || w == "-") {
      args.positional_.push_back(w);
      continue;
    }
    if (w == "--") {
      flags_done = true;
      continue;
    }
    std::string name = w.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (switches.count(name) != 0) {
      if (inline_value) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      args.values_[name] = "true";
    } else if (valued.count(name) != 0) {
      if (!inline_value) {
        if (i + 1 >= words.size()) {
          return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
        }
        value = words[++i];
      }
      args.values_[name] = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  return args;
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

}  // namespace swapserve::cli
