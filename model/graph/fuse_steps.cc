// MatMul/Conv2D -> BiasAdd [-> Relu|Relu6] step chains into one fused step
// (see fuse_steps.h).
#include "model/graph/fuse_steps.h"

#include <map>
#include <memory>
#include <string>

#include "model/ops/kernel.h"
#include "model/ops/node_attrs.h"

namespace swapserve {
namespace {

bool IsFloat(const tensorflow::NodeDef& def) {
  auto it = def.attr().find("T");
  return it == def.attr().end() || it->second.type() == tensorflow::DT_FLOAT;
}

bool IsNhwc(const tensorflow::NodeDef& def) {
  auto it = def.attr().find("data_format");
  return it == def.attr().end() || it->second.s() == "NHWC";
}

// Step indices of one chain: gemm -> bias [-> act] (act = -1 when absent).
struct Chain {
  int gemm, bias, act;
};

class Fuser {
 public:
  Fuser(std::vector<Plan::Step>& steps, const std::vector<const tensorflow::NodeDef*>& defs,
        const std::set<int>& pinned)
      : steps_(steps), defs_(defs), pinned_(pinned) {
    for (size_t s = 0; s < steps_.size(); ++s) {
      for (int v : steps_[s].inputs) {
        ++uses_[v];
        consumer_[v] = static_cast<int>(s);
      }
    }
  }

  void Run() {
    std::vector<bool> removed(steps_.size(), false);
    for (size_t s = 0; s < steps_.size(); ++s) {
      const std::string& op = defs_[s]->op();
      if ((op != "MatMul" && op != "Conv2D") || !IsFloat(*defs_[s]) ||
          steps_[s].inputs.size() != 2) {
        continue;
      }
      const int bias = SoleConsumer(static_cast<int>(s), "BiasAdd");
      if (bias < 0 || !IsNhwc(*defs_[bias]) || steps_[bias].inputs.size() != 2 ||
          steps_[bias].inputs[0] != steps_[s].outputs[0]) {
        continue;
      }
      int act = SoleConsumer(bias, "Relu");
      if (act < 0) act = SoleConsumer(bias, "Relu6");
      if (Fuse({static_cast<int>(s), bias, act})) {
        removed[s] = true;
        if (act >= 0) removed[bias] = true;
      }
    }
    std::vector<Plan::Step> steps;
    for (size_t s = 0; s < steps_.size(); ++s) {
      if (!removed[s]) steps.push_back(std::move(steps_[s]));
    }
    steps_ = std::move(steps);
  }

 private:
  // The step that alone consumes step `s`'s single output, when it runs `op`
  // on floats; else -1.
  int SoleConsumer(int s, const char* op) const {
    if (steps_[s].outputs.size() != 1) return -1;
    const int v = steps_[s].outputs[0];
    if (v < 0 || pinned_.contains(v)) return -1;
    auto uses = uses_.find(v);
    if (uses == uses_.end() || uses->second != 1) return -1;
    const int c = consumer_.at(v);
    return defs_[c]->op() == op && IsFloat(*defs_[c]) ? c : -1;
  }

  // Replaces the chain's last step by the fused step; false (nothing changed)
  // when the fused kernel cannot be built.
  bool Fuse(const Chain& chain) {
    const int last = chain.act >= 0 ? chain.act : chain.bias;
    tensorflow::NodeDef def = *defs_[chain.gemm];
    def.set_op(def.op() == "MatMul" ? "_FusedMatMul" : "_FusedConv2D");
    def.set_name(defs_[last]->name());  // grappler names it after the last node
    auto* fused_ops = (*def.mutable_attr())["fused_ops"].mutable_list();
    fused_ops->add_s("BiasAdd");
    if (chain.act >= 0) fused_ops->add_s(defs_[chain.act]->op());
    (*def.mutable_attr())["num_args"].set_i(1);
    KernelFactory factory = KernelRegistry::Global().Find(def.op());
    NodeAttrs attrs(def);
    auto kernel = factory(KernelContext{attrs, 3});
    if (!kernel.ok()) return false;
    Plan::Step step;
    step.node = def.name();
    step.kernel = *std::move(kernel);
    step.inputs = steps_[chain.gemm].inputs;
    step.inputs.push_back(steps_[chain.bias].inputs[1]);
    step.outputs = steps_[last].outputs;
    fused_defs_.push_back(std::make_unique<tensorflow::NodeDef>(std::move(def)));
    // The gemm's inputs exist before it runs, and the bias before the BiasAdd:
    // the last step's place is late enough for all of them.
    steps_[last] = std::move(step);
    defs_[last] = fused_defs_.back().get();
    return true;
  }

  std::vector<Plan::Step>& steps_;
  std::vector<const tensorflow::NodeDef*> defs_;  // a fused step's def replaces its last
  const std::set<int>& pinned_;
  std::map<int, int> uses_;      // value -> number of step inputs reading it
  std::map<int, int> consumer_;  // value -> a step reading it
  // Synthesized NodeDefs, alive as long as `defs_` may point at them.
  std::vector<std::unique_ptr<tensorflow::NodeDef>> fused_defs_;
};

}  // namespace

void FuseBiasActivation(std::vector<Plan::Step>& steps,
                        const std::vector<const tensorflow::NodeDef*>& defs,
                        const std::set<int>& pinned) {
  Fuser(steps, defs, pinned).Run();
}

}  // namespace swapserve
