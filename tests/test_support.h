// Helpers shared by the test suites: finding ../shared/fixtures and scratch
// directories. A test whose fixture is missing fails under CI=true and is skipped
// elsewhere, with a message naming the path.
#ifndef SWAPSERVE_TESTS_TEST_SUPPORT_H_
#define SWAPSERVE_TESTS_TEST_SUPPORT_H_

#include <string>
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

#include "gtest/gtest.h"

namespace swapserve::testing {

// $SWAPSERVE_FIXTURES, or <project root>/../shared/fixtures.
std::string FixturesDir();
// FixturesDir() + "/" + relative.
std::string Fixture(absl::string_view relative);
// True under CI=true.
bool InCi();
// True when `path` exists, or is a bundle prefix whose .index exists.
bool PathExistsForTest(const std::string& path);

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(absl::string_view name) const;

 private:
  std::string path_;
};

// Runs a shell command; captures its exit code, stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::string& command);

// The path of a program built by this build tree, e.g. "client/swapserve-cli".
std::string BuiltProgram(absl::string_view relative);

// How many times `what` occurs in `text` (log lines, say).
int Occurrences(const std::string& text, const std::string& what);

// Reads a whole file; fails the test when it cannot.
std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, absl::string_view contents);

// The fixture path of an expected/*.json case's model: its model_dir or model_file.
std::string CaseModelPath(const nlohmann::json& expected_case);

// The model of expected/keras3_handsign_weights.json, which has no model file:
// its `architecture` as a Keras 3 config, the layers named as Keras names them
// in a fresh session (conv2d, max_pooling2d, conv2d_1, ...).
nlohmann::json HandsignKerasConfig(const nlohmann::json& architecture);
// That config and keras3/handsign_cnn.weights.h5 as DIR/handsign.keras; its path.
std::string WriteHandsignModel(const std::string& dir);

}  // namespace swapserve::testing

// Declares `const std::string var` = the fixture path, or skips (fails in CI) when
// it does not exist.
#define SS_REQUIRE_FIXTURE(var, relative)                                     \
  const std::string var = ::swapserve::testing::Fixture(relative);            \
  if (!::swapserve::testing::PathExistsForTest(var)) {                        \
    if (::swapserve::testing::InCi()) {                                       \
      FAIL() << "fixture " << var                                             \
             << " is missing (set SWAPSERVE_FIXTURES or check ../shared)";    \
    }                                                                         \
    GTEST_SKIP() << "fixture " << var << " is missing";                       \
  }

#endif  // SWAPSERVE_TESTS_TEST_SUPPORT_H_
