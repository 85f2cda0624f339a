#include "tests/test_support.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <sys/wait.h>

#include "absl/strings/str_cat.h"
#include "model/formats/keras_archive.h"
#include "model/graph/keras_weight_source.h"

namespace swapserve::testing {

std::string FixturesDir() {
  if (const char* env = std::getenv("SWAPSERVE_FIXTURES"); env && *env) return env;
  return absl::StrCat(SWAPSERVE_SOURCE_DIR, "/../shared/fixtures");
}

std::string Fixture(absl::string_view relative) {
  return absl::StrCat(FixturesDir(), "/", relative);
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && absl::string_view(ci) == "true";
}

bool PathExistsForTest(const std::string& path) {
  return std::filesystem::exists(path) || std::filesystem::exists(path + ".index");
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(base && *base ? base : "/tmp", "/swapserve_test_XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << tmpl;
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Join(absl::string_view name) const {
  return absl::StrCat(path_, "/", name);
}

CommandResult RunCommand(const std::string& command) {
  TempDir dir;
  const std::string out = dir.Join("stdout"), err = dir.Join("stderr");
  const int status =
      std::system(absl::StrCat(command, " >", out, " 2>", err, " </dev/null").c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFileOrDie(out);
  result.err = ReadFileOrDie(err);
  return result;
}

std::string BuiltProgram(absl::string_view relative) {
  return absl::StrCat(SWAPSERVE_BINARY_DIR, "/", relative);
}

int Occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, absl::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), contents.size());
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}

std::string CaseModelPath(const nlohmann::json& c) {
  return Fixture(c.contains("model_dir") ? c["model_dir"].get<std::string>()
                                         : c["model_file"].get<std::string>());
}

nlohmann::json HandsignKerasConfig(const nlohmann::json& architecture) {
  nlohmann::json config = architecture;
  std::map<std::string, int> used;
  for (nlohmann::json& layer : config["config"]["layers"]) {
    std::string name = KerasSnakeCase(layer["class_name"].get<std::string>());
    const int n = used[name]++;
    if (n > 0) name = absl::StrCat(name, "_", n);
    layer["config"]["name"] = name;
    layer["module"] = "keras.layers";
  }
  config["config"]["name"] = "sequential";
  return config;
}

std::string WriteHandsignModel(const std::string& dir) {
  std::ifstream in(Fixture("expected/keras3_handsign_weights.json"));
  const nlohmann::json c = nlohmann::json::parse(in);
  const std::string path = dir + "/handsign.keras";
  const absl::Status written =
      WriteKerasArchive(path, "3.10.0", HandsignKerasConfig(c["architecture"]),
                        Fixture(c["weights_file"].get<std::string>()));
  EXPECT_TRUE(written.ok()) << written;
  return path;
}

}  // namespace swapserve::testing
