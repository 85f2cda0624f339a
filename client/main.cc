// swapserve-cli: inspect (show) and run (run) models offline, and call a running
// server (remote.h). Each subcommand parses its own flags; failures print one line
// to stderr and exit non-zero.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "client/args.h"
#include "client/bench.h"
#include "client/describe.h"
#include "client/remote.h"
#include "client/run.h"

namespace swapserve::cli {
namespace {

constexpr char kUsage[] =
    "usage: swapserve-cli COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  show PATH [--json]   describe a model: SavedModel dir, base path with\n"
    "                       version dirs, Keras .h5, checkpoint prefix, or a dir\n"
    "                       with a `checkpoint` file (the latest is shown)\n"
    "  run PATH --input FILE.json [--signature S] [--checkpoint PREFIX_OR_DIR]\n"
    "       [--output FILE]  run one signature offline; input/output JSON as in\n"
    "                       ../shared/fixtures/expected/*.json\n"
    "  help                 this text\n"
    "\n";

int Fail(const std::string& message, int code = 1) {
  std::cerr << "swapserve-cli: " << message << "\n";
  return code;
}

int Show(const std::vector<std::string>& words) {
  auto args = Args::Parse(words, {}, {"json"});
  if (!args.ok()) return Fail(std::string(args.status().message()), 2);
  if (args->positional().size() != 1) return Fail("usage: show PATH [--json]", 2);
  auto description = DescribeModel(args->positional()[0]);
  if (!description.ok()) return Fail(description.status().ToString());
  if (args->Has("json")) {
    std::cout << description->dump(2) << "\n";
  } else {
    std::cout << RenderDescription(*description);
  }
  return 0;
}

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read " + path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(path + " is not valid JSON");
  return j;
}

int Run(const std::vector<std::string>& words) {
  auto args = Args::Parse(words, {"input", "signature", "checkpoint", "output"}, {});
  if (!args.ok()) return Fail(std::string(args.status().message()), 2);
  if (args->positional().size() != 1 || !args->Has("input")) {
    return Fail("usage: run PATH --input FILE.json [--signature S] [--checkpoint P] [--output F]", 2);
  }
  auto input = ReadJsonFile(*args->Get("input"));
  if (!input.ok()) return Fail(input.status().ToString());
  RunRequest request{args->positional()[0], args->Get("signature").value_or(""),
                     args->Get("checkpoint").value_or(""), *input};
  auto result = RunModel(request);
  if (!result.ok()) return Fail(result.status().ToString());
  if (auto out = args->Get("output")) {
    std::ofstream f(*out);
    f << result->dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!f) return Fail("cannot write " + *out);
  } else {
    std::cout << result->dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace swapserve::cli

int main(int argc, char** argv) {
  using namespace swapserve::cli;
  if (argc < 2) {
    std::cerr << kUsage << kRemoteUsage << kBenchUsage;
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> words(argv + 2, argv + argc);
  if (command == "show") return Show(words);
  if (command == "run") return Run(words);
  if (command == "bench") return RunBench(words);
  if (IsRemoteCommand(command)) return RunRemoteCommand(command, words);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage << kRemoteUsage << kBenchUsage;
    return 0;
  }
  std::cerr << "swapserve-cli: unknown command '" << command << "'\n\n" << kUsage << kRemoteUsage << kBenchUsage;
  return 2;
}
