// swapserve-cli: inspect models offline (show). Each subcommand parses its own
// flags; failures print one line to stderr and exit non-zero.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "client/args.h"
#include "client/describe.h"

namespace swapserve::cli {
namespace {

constexpr char kUsage[] =
    "usage: swapserve-cli COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  show PATH [--json]   describe a model: SavedModel dir, base path with\n"
    "                       version dirs, Keras .h5, checkpoint prefix, or a dir\n"
    "                       with a `checkpoint` file (the latest is shown)\n"
    "  help                 this text\n";

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

}  // namespace
}  // namespace swapserve::cli

int main(int argc, char** argv) {
  using namespace swapserve::cli;
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> words(argv + 2, argv + argc);
  if (command == "show") return Show(words);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "swapserve-cli: unknown command '" << command << "'\n\n" << kUsage;
  return 2;
}
