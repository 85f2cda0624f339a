// GraphDefBuilder: NodeDef construction for the SavedModel exporter (see the header).
#include "trainer/graph_def_builder.h"

#include <utility>

namespace swapserve::trainer {

NodeBuilder& NodeBuilder::Input(const std::string& tensor) {
  def_->add_input(tensor);
  return *this;
}

NodeBuilder& NodeBuilder::Device(const std::string& device) {
  def_->set_device(device);
  return *this;
}

NodeBuilder& NodeBuilder::Type(const std::string& attr, tensorflow::DataType type) {
  (*def_->mutable_attr())[attr].set_type(type);
  return *this;
}

NodeBuilder& NodeBuilder::TypeList(const std::string& attr,
                                   const std::vector<tensorflow::DataType>& types) {
  auto* list = (*def_->mutable_attr())[attr].mutable_list();
  for (tensorflow::DataType t : types) list->add_type(t);
  return *this;
}

NodeBuilder& NodeBuilder::Shape(const std::string& attr, const std::vector<int64_t>& dims) {
  tensorflow::TensorShapeProto* shape = (*def_->mutable_attr())[attr].mutable_shape();
  for (int64_t d : dims) shape->add_dim()->set_size(d);
  return *this;
}

NodeBuilder& NodeBuilder::Int(const std::string& attr, int64_t value) {
  (*def_->mutable_attr())[attr].set_i(value);
  return *this;
}

NodeBuilder& NodeBuilder::IntList(const std::string& attr, const std::vector<int64_t>& values) {
  // mutable_list() even when `values` is empty: TF distinguishes an empty list
  // (explicit_paddings = []) from an unset attribute value.
  auto* list = (*def_->mutable_attr())[attr].mutable_list();
  for (int64_t v : values) list->add_i(v);
  return *this;
}

NodeBuilder& NodeBuilder::String(const std::string& attr, const std::string& value) {
  (*def_->mutable_attr())[attr].set_s(value);
  return *this;
}

NodeBuilder& NodeBuilder::Bool(const std::string& attr, bool value) {
  (*def_->mutable_attr())[attr].set_b(value);
  return *this;
}

NodeBuilder& NodeBuilder::TensorAttr(const std::string& attr, tensorflow::TensorProto value) {
  *(*def_->mutable_attr())[attr].mutable_tensor() = std::move(value);
  return *this;
}

NodeBuilder GraphDefBuilder::Node(const std::string& name, const std::string& op) {
  tensorflow::NodeDef* def = graph_->add_node();
  def->set_name(name);
  def->set_op(op);
  return NodeBuilder(def);
}

NodeBuilder GraphDefBuilder::StringConst(const std::string& name,
                                         const std::vector<std::string>& values, bool scalar) {
  tensorflow::TensorProto t;
  t.set_dtype(tensorflow::DT_STRING);
  if (!scalar) t.mutable_tensor_shape()->add_dim()->set_size(static_cast<int64_t>(values.size()));
  for (const std::string& v : values) t.add_string_val(v);
  return Node(name, "Const").Type("dtype", tensorflow::DT_STRING).TensorAttr("value", std::move(t));
}

NodeBuilder GraphDefBuilder::Int32Const(const std::string& name,
                                        const std::vector<int64_t>& values) {
  tensorflow::TensorProto t;
  t.set_dtype(tensorflow::DT_INT32);
  t.mutable_tensor_shape()->add_dim()->set_size(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t.add_int_val(static_cast<int32_t>(v));
  return Node(name, "Const").Type("dtype", tensorflow::DT_INT32).TensorAttr("value", std::move(t));
}

NodeBuilder GraphDefBuilder::FloatScalarConst(const std::string& name, float value) {
  tensorflow::TensorProto t;
  t.set_dtype(tensorflow::DT_FLOAT);
  t.mutable_tensor_shape();  // a scalar: a present, empty shape
  t.add_float_val(value);
  return Node(name, "Const").Type("dtype", tensorflow::DT_FLOAT).TensorAttr("value", std::move(t));
}

}  // namespace swapserve::trainer
