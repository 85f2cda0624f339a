// Command-line arguments of one swapserve-cli subcommand: positional words and
// --flags. Flags are declared up front so that a typo is an error, not ignored.
//
// Thread safety: immutable after Parse.
#ifndef SWAPSERVE_CLIENT_ARGS_H_
#define SWAPSERVE_CLIENT_ARGS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace swapserve::cli {

class Args {
 public:
  // Parses words: "--name=value" or "--name value" for names in `valued`, "--name"
  // for names in `switches`, anything else positional ("--" ends the flags).
  static absl::StatusOr<Args> Parse(const std::vector<std::string>& words,
                                    const std::set<std::string>& valued,
                                    const std::set<std::string>& switches);

  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> Get(const std::string& name) const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> values_;
};

}  // namespace swapserve::cli

#endif  // SWAPSERVE_CLIENT_ARGS_H_
