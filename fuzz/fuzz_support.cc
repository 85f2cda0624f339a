// See fuzz_support.h.
#include "fuzz/fuzz_support.h"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/object_graph.h"

namespace swapserve::fuzz {
namespace {

[[noreturn]] void EnvironmentProblem(const std::string& what) {
  const char* ci = std::getenv("CI");
  const bool in_ci = ci != nullptr && absl::string_view(ci) == "true";
  std::fprintf(stderr, "fuzz environment: %s%s\n", what.c_str(),
               in_ci ? "" : " (skipped; under CI=true this fails)");
  std::_Exit(in_ci ? 1 : 77);
}

void RemoveScratch() {
  std::error_code ec;
  std::filesystem::remove_all(ScratchDir(), ec);
}

}  // namespace

const std::string& ScratchDir() {
  static const std::string* dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = absl::StrCat(base && *base ? base : "/tmp", "/swapserve_fuzz_XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) EnvironmentProblem("mkdtemp failed for " + tmpl);
    auto* made = new std::string(tmpl);
    std::atexit(RemoveScratch);
    return made;
  }();
  return *dir;
}

std::string WriteScratchFile(const std::string& name, absl::string_view bytes) {
  const std::string path = absl::StrCat(ScratchDir(), "/", name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) EnvironmentProblem("cannot write " + path);
  return path;
}

std::string Fixture(const std::string& relative) {
  const char* env = std::getenv("SWAPSERVE_FIXTURES");
  const std::string dir =
      env && *env ? std::string(env) : absl::StrCat(SWAPSERVE_SOURCE_DIR, "/../shared/fixtures");
  const std::string path = absl::StrCat(dir, "/", relative);
  if (!std::filesystem::exists(path)) {
    EnvironmentProblem(absl::StrCat("fixture ", path,
                                    " is absent (set SWAPSERVE_FIXTURES or put the fixtures "
                                    "in ../shared/fixtures)"));
  }
  return path;
}

std::string CopyToScratch(const std::string& from, const std::string& name) {
  const std::string to = absl::StrCat(ScratchDir(), "/", name);
  std::error_code ec;
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive, ec);
  if (ec) EnvironmentProblem(absl::StrCat("cannot copy ", from, " to ", to, ": ", ec.message()));
  return to;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) EnvironmentProblem("cannot read " + path);
  return bytes.str();
}

std::vector<Tensor> ExampleInputs(const Plan& plan, int64_t max_elements) {
  std::vector<Tensor> inputs;
  int64_t total = 0;
  for (const PlanTensor& spec : plan.inputs()) {
    std::vector<int64_t> dims = spec.shape_known ? spec.shape : std::vector<int64_t>{1};
    for (int64_t& d : dims) {
      if (d < 0) d = 1;
      if (d > max_elements) return {};
    }
    absl::StatusOr<TensorShape> shape = TensorShape::Make(dims);
    if (!shape.ok()) return {};
    total += shape->num_elements();
    if (total > max_elements) return {};
    absl::StatusOr<Tensor> tensor = Tensor::Allocate(spec.dtype, *shape);
    if (!tensor.ok()) return {};
    inputs.push_back(*std::move(tensor));
  }
  return inputs;
}

void RunEveryPlan(const LoadedModel& model) {
  if (model.weights == nullptr) return;
  for (const auto& [name, plan] : model.plans) {
    std::vector<Tensor> inputs = ExampleInputs(*plan);
    if (inputs.size() != plan->inputs().size()) continue;
    (void)plan->Run(*model.weights, inputs);
  }
}

void ReadWholeBundle(const std::string& prefix) {
  auto reader = BundleReader::Open(prefix);
  if (!reader.ok()) return;
  for (const BundleEntry& entry : (*reader)->entries()) (void)(*reader)->Read(entry);
  auto graph = ReadObjectGraph(**reader);
  if (graph.ok()) (void)ListTrackedTensors(*graph);
}

}  // namespace swapserve::fuzz
