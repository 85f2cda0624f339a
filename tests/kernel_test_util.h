// Helpers for kernel tests: build a NodeDef with attributes, make small tensors,
// run one kernel from the global registry, compare results.
#ifndef SWAPSERVE_TESTS_KERNEL_TEST_UTIL_H_
#define SWAPSERVE_TESTS_KERNEL_TEST_UTIL_H_

#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "model/ops/kernel.h"
#include "model/tensor.h"
#include "tensorflow/core/framework/node_def.pb.h"

namespace swapserve::testing {

class NodeBuilder {
 public:
  explicit NodeBuilder(const std::string& op, const std::string& name = "n") {
    node_.set_op(op);
    node_.set_name(name);
  }
  NodeBuilder& Int(const std::string& k, int64_t v) { (*node_.mutable_attr())[k].set_i(v); return *this; }
  NodeBuilder& Float(const std::string& k, float v) { (*node_.mutable_attr())[k].set_f(v); return *this; }
  NodeBuilder& Bool(const std::string& k, bool v) { (*node_.mutable_attr())[k].set_b(v); return *this; }
  NodeBuilder& Str(const std::string& k, const std::string& v) { (*node_.mutable_attr())[k].set_s(v); return *this; }
  NodeBuilder& Type(const std::string& k, DataType v) { (*node_.mutable_attr())[k].set_type(v); return *this; }
  NodeBuilder& Ints(const std::string& k, std::initializer_list<int64_t> v) {
    auto* list = (*node_.mutable_attr())[k].mutable_list();
    for (int64_t x : v) list->add_i(x);
    return *this;
  }
  NodeBuilder& Types(const std::string& k, std::initializer_list<DataType> v) {
    auto* list = (*node_.mutable_attr())[k].mutable_list();
    for (DataType x : v) list->add_type(x);
    return *this;
  }
  // Typical "T" attribute.
  NodeBuilder& T(DataType v = tensorflow::DT_FLOAT) { return Type("T", v); }
  const tensorflow::NodeDef& Build() const { return node_; }

 private:
  tensorflow::NodeDef node_;
};

template <typename T>
Tensor MakeTensor(DataType dtype, TensorShape shape, std::vector<T> values) {
  auto t = Tensor::Allocate(dtype, shape);
  EXPECT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(static_cast<int64_t>(values.size()), t->num_elements());
  if (!values.empty()) std::memcpy(t->raw_data(), values.data(), values.size() * sizeof(T));
  return *t;
}
inline Tensor Floats(TensorShape shape, std::vector<float> v) {
  return MakeTensor<float>(tensorflow::DT_FLOAT, shape, std::move(v));
}
inline Tensor Ints32(TensorShape shape, std::vector<int32_t> v) {
  return MakeTensor<int32_t>(tensorflow::DT_INT32, shape, std::move(v));
}
inline Tensor Ints64(TensorShape shape, std::vector<int64_t> v) {
  return MakeTensor<int64_t>(tensorflow::DT_INT64, shape, std::move(v));
}
inline Tensor Bools(TensorShape shape, std::vector<uint8_t> v) {
  return MakeTensor<uint8_t>(tensorflow::DT_BOOL, shape, std::move(v));
}

// Builds the kernel for `node` and runs it once.
inline absl::StatusOr<std::vector<Tensor>> RunKernel(const tensorflow::NodeDef& node,
                                                     std::vector<Tensor> inputs,
                                                     int num_outputs = 1) {
  KernelFactory factory = KernelRegistry::Global().Find(node.op());
  if (factory == nullptr) return absl::NotFoundError("no kernel for " + node.op());
  NodeAttrs attrs(node);
  absl::StatusOr<std::unique_ptr<Kernel>> kernel =
      factory(KernelContext{attrs, static_cast<int>(inputs.size())});
  if (!kernel.ok()) return kernel.status();
  std::vector<Tensor> outputs(num_outputs);
  absl::Status s = (*kernel)->Compute(inputs, outputs);
  if (!s.ok()) return s;
  return outputs;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.num_elements());
}

inline void ExpectFloats(const Tensor& t, TensorShape shape, std::vector<float> want,
                         float tol = 1e-5f) {
  ASSERT_EQ(t.dtype(), tensorflow::DT_FLOAT);
  ASSERT_EQ(t.shape(), shape) << t.shape().DebugString();
  ASSERT_EQ(t.num_elements(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(t.data<float>()[i], want[i], tol) << "element " << i;
  }
}

}  // namespace swapserve::testing

#endif  // SWAPSERVE_TESTS_KERNEL_TEST_UTIL_H_
