// main() of a fuzz target in a build without libFuzzer (g++, the default): runs
// every file named on the command line — a directory stands for the files in
// it, in name order, but dot files; `fixture:PATH` for a file of the shared
// fixtures (fuzz_support.h's Fixture) — through LLVMFuzzerTestOneInput once, as
// a libFuzzer binary does when given files. This is how ctest replays the checked-in corpus
// and every past crash (fuzz/CMakeLists.txt): seconds, in every build, under
// ASan+UBSan in CI's second pass.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string text = argv[i];
    const std::filesystem::path arg =
        text.rfind("fixture:", 0) == 0 ? swapserve::fuzz::Fixture(text.substr(8)) : text;
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') {
          files.push_back(entry.path());
        }
      }
    } else if (std::filesystem::exists(arg)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "%s: no such file or directory\n", arg.c_str());
      return 1;
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "%s: cannot read\n", file.c_str());
      return 1;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  // Nothing to replay means the corpus went missing: that must not pass.
  return files.empty() ? 1 : 0;
}
