// main() of every GoogleTest suite: runs the tests, then makes skips visible.
// An executable whose tests passed but some skipped exits 77, which CTest
// reports as "Skipped" (SKIP_RETURN_CODE), not "Passed". Under CI=true a skip
// is a failure (exit 1) unless tests/allowed_skips.txt lists it with its
// reason.
#include <fstream>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "tests/test_support.h"

namespace {

constexpr int kSkipped = 77;

// The "Suite.Test" names allowed to skip in CI: the first word of each line
// that is neither blank nor a # comment (the rest of the line is the reason).
std::set<std::string> AllowedSkips() {
  std::set<std::string> allowed;
  std::ifstream in(std::string(SWAPSERVE_SOURCE_DIR) +
                   "/tests/allowed_skips.txt");
  for (std::string line; std::getline(in, line);) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    allowed.insert(
        line.substr(start, line.find_first_of(" \t", start) - start));
  }
  return allowed;
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (RUN_ALL_TESTS() != 0) return 1;
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  if (unit.skipped_test_count() == 0) return 0;
  const std::set<std::string> allowed = AllowedSkips();
  int unlisted = 0;
  for (int s = 0; s < unit.total_test_suite_count(); ++s) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(s);
    for (int t = 0; t < suite.total_test_count(); ++t) {
      const ::testing::TestInfo& test = *suite.GetTestInfo(t);
      if (!test.result()->Skipped()) continue;
      const std::string name = std::string(suite.name()) + "." + test.name();
      if (allowed.count(name) == 0) ++unlisted;
      std::printf("SKIPPED: %s%s\n", name.c_str(),
                  allowed.count(name) != 0
                      ? " (allowed: tests/allowed_skips.txt)"
                      : "");
    }
  }
  if (swapserve::testing::InCi() && unlisted > 0) {
    std::printf(
        "%d skipped tests are not in tests/allowed_skips.txt: under CI a skip "
        "fails\n",
        unlisted);
    return 1;
  }
  return kSkipped;
}
