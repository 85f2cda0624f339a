// GraphDefBuilder: appends NodeDefs to a tensorflow::GraphDef with the attribute
// encodings TF itself writes (type, shape, list(int), string, tensor), so the
// SavedModel exporter reads as a list of ops rather than of proto setters. It does
// not know op signatures: callers set every attribute the op requires.
//
// Thread safety: not thread-safe; one builder per graph, on one thread.
#ifndef SWAPSERVE_TRAINER_GRAPH_DEF_BUILDER_H_
#define SWAPSERVE_TRAINER_GRAPH_DEF_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tensorflow/core/framework/graph.pb.h"
#include "tensorflow/core/framework/tensor.pb.h"
#include "tensorflow/core/framework/tensor_shape.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace swapserve::trainer {

// A NodeDef being filled in; setters return *this so a node reads as one chain.
class NodeBuilder {
 public:
  explicit NodeBuilder(tensorflow::NodeDef* def) : def_(def) {}

  NodeBuilder& Input(const std::string& tensor);  // "node", "node:1" or "^node"
  NodeBuilder& Device(const std::string& device);
  NodeBuilder& Type(const std::string& attr, tensorflow::DataType type);
  NodeBuilder& TypeList(const std::string& attr, const std::vector<tensorflow::DataType>& types);
  NodeBuilder& Shape(const std::string& attr, const std::vector<int64_t>& dims);
  NodeBuilder& Int(const std::string& attr, int64_t value);
  NodeBuilder& IntList(const std::string& attr, const std::vector<int64_t>& values);
  NodeBuilder& String(const std::string& attr, const std::string& value);
  NodeBuilder& Bool(const std::string& attr, bool value);
  NodeBuilder& TensorAttr(const std::string& attr, tensorflow::TensorProto value);

  const std::string& name() const { return def_->name(); }

 private:
  tensorflow::NodeDef* def_;
};

class GraphDefBuilder {
 public:
  // `graph` must outlive the builder.
  explicit GraphDefBuilder(tensorflow::GraphDef* graph) : graph_(graph) {}

  // Appends a node `name` running `op`. Names must be unique; the exporter
  // chooses them (Keras's own naming), so a duplicate is a programming error and
  // is not checked here — TF and our FlatGraph both reject it on import.
  NodeBuilder Node(const std::string& name, const std::string& op);

  // Const nodes, with the dtype/value attributes TF requires.
  NodeBuilder StringConst(const std::string& name, const std::vector<std::string>& values,
                          bool scalar = false);
  NodeBuilder Int32Const(const std::string& name, const std::vector<int64_t>& values);
  NodeBuilder FloatScalarConst(const std::string& name, float value);

 private:
  tensorflow::GraphDef* graph_;
};

// "name:0": the tensor name of a node's first output, as signatures and
// VariableDefs spell it.
inline std::string Output0(const std::string& node) { return node + ":0"; }

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_GRAPH_DEF_BUILDER_H_
