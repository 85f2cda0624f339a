#include <algorithm>

#include "model/ops/kernel.h"

namespace swapserve {

const KernelRegistry& KernelRegistry::Global() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry;
    RegisterArrayKernels(*r);
    RegisterMathKernels(*r);
    RegisterNnKernels(*r);
    RegisterParseExampleKernels(*r);
    return r;
  }();
  return *registry;
}

void KernelRegistry::Register(absl::string_view op, KernelFactory factory) {
  factories_[std::string(op)] = factory;
}

KernelFactory KernelRegistry::Find(absl::string_view op) const {
  auto it = factories_.find(op);
  return it == factories_.end() ? nullptr : it->second;
}

std::vector<std::string> KernelRegistry::Ops() const {
  std::vector<std::string> ops;
  for (const auto& [op, f] : factories_) ops.push_back(op);
  std::sort(ops.begin(), ops.end());
  return ops;
}

}  // namespace swapserve
