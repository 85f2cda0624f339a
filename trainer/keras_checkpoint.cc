#include "trainer/keras_checkpoint.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "model/formats/bundle_format.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/bundle_writer.h"
#include "model/util/status_macros.h"

namespace swapserve::trainer {
namespace {

using Graph = tensorflow::TrackableObjectGraph;
using Object = Graph::TrackableObject;

constexpr const char* kHyperparameters[] = {"beta_1", "beta_2", "decay", "learning_rate"};

std::string SlotKey(const std::string& weight_key, const std::string& slot) {
  // "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE" →
  // "layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"
  const std::string path = weight_key.substr(0, weight_key.find("/.ATTRIBUTES/"));
  return absl::StrCat(path, "/.OPTIMIZER_SLOT/optimizer/", slot, "/.ATTRIBUTES/VARIABLE_VALUE");
}

std::string OptimizerKey(const std::string& name) {
  return absl::StrCat("optimizer/", name, "/.ATTRIBUTES/VARIABLE_VALUE");
}

int AddNode(Graph* g) {
  g->add_nodes();
  return g->nodes_size() - 1;
}

void AddChild(Graph* g, int parent, int child, const std::string& name) {
  auto* c = g->mutable_nodes(parent)->add_children();
  c->set_node_id(child);
  c->set_local_name(name);
}

void SetVariable(Graph* g, int node, const std::string& full_name, const std::string& key) {
  auto* a = g->mutable_nodes(node)->add_attributes();
  a->set_name("VARIABLE_VALUE");
  a->set_full_name(full_name);
  a->set_checkpoint_key(key);
  g->mutable_nodes(node)->mutable_has_checkpoint_values()->set_value(true);
}

absl::Status ReadInto(const BundleReader& reader, const std::string& key,
                      const std::vector<int64_t>& dims, Floats* out) {
  ASSIGN_OR_RETURN(Tensor t, reader.Read(key));
  ASSIGN_OR_RETURN(TensorShape want, TensorShape::Make(dims));
  if (t.dtype() != tensorflow::DT_FLOAT || !(t.shape() == want)) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint ", reader.prefix(), ": '", key, "' is ",
                                                      t.DebugString(), ", the model needs float",
                                                      want.DebugString()));
  }
  out->assign(t.data<float>(), t.data<float>() + t.num_elements());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Tensor> FloatTensor(const std::vector<int64_t>& dims, const Floats& v) {
  ASSIGN_OR_RETURN(TensorShape shape, TensorShape::Make(dims));
  ASSIGN_OR_RETURN(Tensor t, Tensor::Allocate(tensorflow::DT_FLOAT, shape));
  std::memcpy(t.data<float>(), v.data(), v.size() * sizeof(float));
  return t;
}

Graph KerasObjectGraph(const Network& network, bool with_optimizer) {
  Graph g;
  const int root = AddNode(&g);
  g.mutable_nodes(root)->mutable_has_checkpoint_values()->set_value(true);
  const auto& layers = network.spec().layers;
  std::vector<int> layer_node;
  for (size_t i = 0; i < layers.size(); ++i) {
    layer_node.push_back(AddNode(&g));
    g.mutable_nodes(layer_node.back())->mutable_has_checkpoint_values()->set_value(layers[i].has_weights());
  }
  int with_weights = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].has_weights()) {
      AddChild(&g, root, layer_node[i], absl::StrCat("layer_with_weights-", with_weights++));
    }
    AddChild(&g, root, layer_node[i], absl::StrCat("layer-", i));
  }
  const int optimizer = AddNode(&g);
  g.mutable_nodes(optimizer)->mutable_has_checkpoint_values()->set_value(with_optimizer);
  AddChild(&g, root, optimizer, "optimizer");
  AddChild(&g, root, root, "root");
  // Variables, breadth first: each layer's kernel and bias.
  std::vector<int> variable_node;
  size_t p = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!layers[i].has_weights()) continue;
    for (const char* what : {"kernel", "bias"}) {
      const Param& param = network.params()[p++];
      const int node = AddNode(&g);
      AddChild(&g, layer_node[i], node, what);
      SetVariable(&g, node, param.full_name, param.key);
      variable_node.push_back(node);
    }
  }
  if (!with_optimizer) return g;
  const int iter = AddNode(&g);
  AddChild(&g, optimizer, iter, "iter");
  SetVariable(&g, iter, "Adam/iter", OptimizerKey("iter"));
  for (const char* h : kHyperparameters) {
    const int node = AddNode(&g);
    AddChild(&g, optimizer, node, h);
    SetVariable(&g, node, absl::StrCat("Adam/", h), OptimizerKey(h));
  }
  for (size_t v = 0; v < variable_node.size(); ++v) {
    const Param& param = network.params()[v];
    for (const char* slot : {"m", "v"}) {
      const int node = AddNode(&g);
      SetVariable(&g, node, absl::StrCat("Adam/", param.full_name, "/", slot), SlotKey(param.key, slot));
      auto* ref = g.mutable_nodes(optimizer)->add_slot_variables();
      ref->set_original_variable_node_id(variable_node[v]);
      ref->set_slot_name(slot);
      ref->set_slot_variable_node_id(node);
    }
  }
  return g;
}

absl::Status WriteKerasCheckpoint(const std::string& prefix, const Network& network,
                                  const Adam* optimizer) {
  BundleWriter writer(prefix);
  for (size_t p = 0; p < network.params().size(); ++p) {
    const Param& param = network.params()[p];
    ASSIGN_OR_RETURN(Tensor t, FloatTensor(param.shape, param.value));
    RETURN_IF_ERROR(writer.Add(param.key, t));
    if (optimizer == nullptr) continue;
    ASSIGN_OR_RETURN(Tensor m, FloatTensor(param.shape, optimizer->m()[p]));
    ASSIGN_OR_RETURN(Tensor v, FloatTensor(param.shape, optimizer->v()[p]));
    RETURN_IF_ERROR(writer.Add(SlotKey(param.key, "m"), m));
    RETURN_IF_ERROR(writer.Add(SlotKey(param.key, "v"), v));
  }
  if (optimizer != nullptr) {
    ASSIGN_OR_RETURN(Tensor iter, Tensor::Allocate(tensorflow::DT_INT64, TensorShape{}));
    *iter.data<int64_t>() = optimizer->iterations();
    RETURN_IF_ERROR(writer.Add(OptimizerKey("iter"), iter));
    const AdamConfig& c = optimizer->config();
    const float values[] = {c.beta_1, c.beta_2, c.decay, c.learning_rate};
    for (size_t i = 0; i < 4; ++i) {
      ASSIGN_OR_RETURN(Tensor t, FloatTensor({}, {values[i]}));
      RETURN_IF_ERROR(writer.Add(OptimizerKey(kHyperparameters[i]), t));
    }
  }
  ASSIGN_OR_RETURN(Tensor graph, Tensor::Allocate(tensorflow::DT_STRING, TensorShape{}));
  graph.strings()[0] = KerasObjectGraph(network, optimizer != nullptr).SerializeAsString();
  RETURN_IF_ERROR(writer.Add(kObjectGraphKey, graph));
  return writer.Finish();
}

absl::Status RestoreKerasCheckpoint(const std::string& prefix, Network* network, Adam* optimizer) {
  ASSIGN_OR_RETURN(std::unique_ptr<BundleReader> reader, BundleReader::Open(prefix));
  for (Param& param : network->params()) {
    RETURN_IF_ERROR(ReadInto(*reader, param.key, param.shape, &param.value));
  }
  if (optimizer == nullptr) return absl::OkStatus();
  if (reader->Find(OptimizerKey("iter")) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", prefix, " has no optimizer state (written with --save_weights_only); "
        "resuming needs checkpoints written with --save_weights_only=false"));
  }
  for (size_t p = 0; p < network->params().size(); ++p) {
    const Param& param = network->params()[p];
    RETURN_IF_ERROR(ReadInto(*reader, SlotKey(param.key, "m"), param.shape, &optimizer->m()[p]));
    RETURN_IF_ERROR(ReadInto(*reader, SlotKey(param.key, "v"), param.shape, &optimizer->v()[p]));
  }
  ASSIGN_OR_RETURN(Tensor iter, reader->Read(OptimizerKey("iter")));
  if (iter.dtype() != tensorflow::DT_INT64 || iter.num_elements() != 1 || *iter.data<int64_t>() < 0) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint ", prefix, ": bad optimizer/iter ",
                                                      iter.DebugString()));
  }
  optimizer->set_iterations(*iter.data<int64_t>());
  return absl::OkStatus();
}

}  // namespace swapserve::trainer
