// Kernel: one op's computation, built once per graph node when a Plan is made and
// then run by many requests at once.
//
// A KernelFactory reads the node's attributes (NodeAttrs) and either returns a
// Kernel or an error naming the op, node and unsupported attribute value — an
// unsupported feature is a load-time error, never a silent wrong answer.
//
// Thread safety: Compute() is const and called concurrently from many threads with
// different inputs; a kernel keeps no mutable state. Inputs are shared and must not
// be written; outputs may alias inputs (Identity returns its input).
#ifndef SWAPSERVE_MODEL_OPS_KERNEL_H_
#define SWAPSERVE_MODEL_OPS_KERNEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "model/ops/node_attrs.h"
#include "model/tensor.h"

namespace swapserve {

class Kernel {
 public:
  virtual ~Kernel() = default;
  // `outputs` arrives sized to the node's output count; fill each entry.
  virtual absl::Status Compute(absl::Span<const Tensor> inputs,
                               std::vector<Tensor>& outputs) const = 0;
};

// What a factory learns about the node besides its attributes.
struct KernelContext {
  const NodeAttrs& node;
  int num_inputs;  // data inputs (control inputs excluded)
};

using KernelFactory =
    absl::StatusOr<std::unique_ptr<Kernel>> (*)(const KernelContext& context);

// Op name -> factory. Families register themselves through the Register*Kernels
// functions declared below (explicit calls, so no static-initialization order or
// dropped-object-file surprises).
class KernelRegistry {
 public:
  // The registry with every family registered; built once, immutable after.
  static const KernelRegistry& Global();

  void Register(absl::string_view op, KernelFactory factory);
  // nullptr when the op has no kernel.
  KernelFactory Find(absl::string_view op) const;
  std::vector<std::string> Ops() const;  // sorted

 private:
  absl::flat_hash_map<std::string, KernelFactory> factories_;
};

// One per family file in model/ops/.
void RegisterArrayKernels(KernelRegistry& registry);
void RegisterMathKernels(KernelRegistry& registry);
void RegisterNnKernels(KernelRegistry& registry);
void RegisterParseExampleKernels(KernelRegistry& registry);

// A Kernel from a lambda-like callable `fn(inputs, outputs) -> Status`, for
// kernels that need no parsed attributes.
template <typename Fn>
class FunctionKernel : public Kernel {
 public:
  explicit FunctionKernel(Fn fn) : fn_(std::move(fn)) {}
  absl::Status Compute(absl::Span<const Tensor> inputs,
                       std::vector<Tensor>& outputs) const override {
    return fn_(inputs, outputs);
  }

 private:
  Fn fn_;
};

template <typename Fn>
std::unique_ptr<Kernel> MakeKernel(Fn fn) {
  return std::make_unique<FunctionKernel<Fn>>(std::move(fn));
}

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_OPS_KERNEL_H_
