// ParseExample / ParseExampleV2 for dense features: serialized tf.Example protos
// (what TF Serving's Classify and Regress feed a model) into one dense tensor per
// feature key. Sparse and ragged features are a clear Unimplemented error.
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"
#include "tensorflow/core/example/example.pb.h"

namespace swapserve {
namespace {

struct DenseFeature {
  DataType dtype;
  std::vector<int64_t> shape;  // per example
  int64_t size = 1;            // elements per example
};

// The list a Feature holds, as named in the proto: what a type error reports was sent.
const char* FeatureKind(const tensorflow::Feature& feature) {
  switch (feature.kind_case()) {
    case tensorflow::Feature::kBytesList: return "a bytes_list";
    case tensorflow::Feature::kFloatList: return "a float_list";
    case tensorflow::Feature::kInt64List: return "an int64_list";
    default: return "empty (no list set)";
  }
}

class ParseExampleKernel : public Kernel {
 public:
  // V2 keeps all dense keys in one vector input; V1 has one input per key.
  ParseExampleKernel(const NodeAttrs& node, std::vector<DenseFeature> dense, bool v2)
      : node_(node), dense_(std::move(dense)), v2_(v2) {}

  absl::Status Compute(absl::Span<const Tensor> in,
                       std::vector<Tensor>& out) const override {
    const NodeName& node = node_;
    const size_t nd = dense_.size();
    // V1: serialized, names, dense_keys x nd, dense_defaults x nd.
    // V2: serialized, names, sparse_keys, dense_keys, ragged_keys, dense_defaults x nd.
    const size_t want = v2_ ? 5 + nd : 2 + 2 * nd;
    if (in.size() != want) {
      return node.Invalid(absl::StrCat("expects ", want, " inputs, got ", in.size()));
    }
    if (out.size() < nd) return node.Invalid("fewer outputs than dense features");
    const Tensor& serialized = in[0];
    if (serialized.dtype() != tensorflow::DT_STRING || serialized.shape().rank() > 1) {
      return node.Invalid("serialized must be a string scalar or vector");
    }
    std::vector<std::string> keys;
    for (size_t i = 0; i < nd; ++i) {
      const Tensor& k = v2_ ? in[3] : in[2 + i];
      const int64_t index = v2_ ? static_cast<int64_t>(i) : 0;
      if (k.dtype() != tensorflow::DT_STRING || k.num_elements() <= index) {
        return node.Invalid("dense keys must be strings");
      }
      keys.push_back(k.strings()[index]);
    }
    const size_t defaults = v2_ ? 5 : 2 + nd;
    const int64_t batch = serialized.num_elements();
    std::vector<int64_t> batch_dims;
    if (serialized.shape().rank() == 1) batch_dims.push_back(batch);
    for (size_t f = 0; f < nd; ++f) {
      std::vector<int64_t> dims = batch_dims;
      dims.insert(dims.end(), dense_[f].shape.begin(), dense_[f].shape.end());
      ASSIGN_OR_RETURN(TensorShape shape, TensorShape::Make(dims));
      ASSIGN_OR_RETURN(out[f], Tensor::Allocate(dense_[f].dtype, shape));
    }
    for (int64_t b = 0; b < batch; ++b) {
      tensorflow::Example example;
      if (!example.ParseFromString(serialized.strings()[b])) {
        return node.Invalid(absl::StrCat("serialized example ", b, " is not a tf.Example"));
      }
      for (size_t f = 0; f < nd; ++f) {
        RETURN_IF_ERROR(Fill(node, example, keys[f], dense_[f], in[defaults + f], b, out[f]));
      }
    }
    return absl::OkStatus();
  }

 private:
  static absl::Status Fill(const NodeName& node, const tensorflow::Example& example,
                           const std::string& key, const DenseFeature& spec,
                           const Tensor& fallback, int64_t b, Tensor& out) {
    const int64_t n = spec.size, at = b * n;
    auto it = example.features().feature().find(key);
    const auto where = [&] { return absl::StrCat("example ", b, " feature '", key, "'"); };
    if (it == example.features().feature().end()) {
      if (fallback.num_elements() != n || fallback.dtype() != spec.dtype) {
        return node.Invalid(absl::StrCat(where(), " is missing and has no default"));
      }
      if (spec.dtype == tensorflow::DT_STRING) {
        for (int64_t i = 0; i < n; ++i) out.strings()[at + i] = fallback.strings()[i];
      } else {
        std::memcpy(out.raw_data() + at * DataTypeSize(spec.dtype), fallback.raw_data(),
                    n * DataTypeSize(spec.dtype));
      }
      return absl::OkStatus();
    }
    const tensorflow::Feature& feature = it->second;
    auto count_error = [&](int64_t got) {
      return node.Invalid(absl::StrCat(where(), " has ", got, " values, expected ", n));
    };
    auto type_error = [&](const char* expected) {
      return node.Invalid(
          absl::StrCat(where(), " is ", FeatureKind(feature), ", expected ", expected));
    };
    switch (spec.dtype) {
      case tensorflow::DT_FLOAT: {
        if (!feature.has_float_list()) return type_error("a float_list");
        const auto& v = feature.float_list().value();
        if (v.size() != n) return count_error(v.size());
        std::copy(v.begin(), v.end(), out.data<float>() + at);
        return absl::OkStatus();
      }
      case tensorflow::DT_INT64: {
        if (!feature.has_int64_list()) return type_error("an int64_list");
        const auto& v = feature.int64_list().value();
        if (v.size() != n) return count_error(v.size());
        std::copy(v.begin(), v.end(), out.data<int64_t>() + at);
        return absl::OkStatus();
      }
      case tensorflow::DT_STRING: {
        if (!feature.has_bytes_list()) return type_error("a bytes_list");
        const auto& v = feature.bytes_list().value();
        if (v.size() != n) return count_error(v.size());
        for (int64_t i = 0; i < n; ++i) out.strings()[at + i] = v[i];
        return absl::OkStatus();
      }
      default:
        return node.Unsupported(absl::StrCat("dense feature dtype ", DataTypeName(spec.dtype)));
    }
  }

  NodeName node_;
  std::vector<DenseFeature> dense_;
  bool v2_;
};

absl::StatusOr<std::vector<DenseFeature>> DenseFeatures(const NodeAttrs& node) {
  ASSIGN_OR_RETURN(std::vector<DataType> types, node.GetTypeList("Tdense"));
  auto shapes = node.node_def().attr().find("dense_shapes");
  if (shapes == node.node_def().attr().end() ||
      shapes->second.list().shape_size() != static_cast<int>(types.size())) {
    return node.Invalid("dense_shapes must list one shape per dense feature");
  }
  std::vector<DenseFeature> out;
  for (size_t i = 0; i < types.size(); ++i) {
    DenseFeature f{types[i], {}, 1};
    for (const auto& d : shapes->second.list().shape(i).dim()) {
      if (d.size() < 0) return node.Unsupported("variable-length dense features");
      f.shape.push_back(d.size());
    }
    ASSIGN_OR_RETURN(TensorShape s, TensorShape::Make(f.shape));
    f.size = s.num_elements();
    out.push_back(std::move(f));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Kernel>> MakeParseExample(const KernelContext& c) {
  if (c.node.GetIntOr("Nsparse", 0) != 0) return c.node.Unsupported("sparse features");
  ASSIGN_OR_RETURN(std::vector<DenseFeature> dense, DenseFeatures(c.node));
  return std::make_unique<ParseExampleKernel>(c.node, std::move(dense), false);
}

absl::StatusOr<std::unique_ptr<Kernel>> MakeParseExampleV2(const KernelContext& c) {
  if (c.node.GetIntOr("num_sparse", 0) != 0) return c.node.Unsupported("sparse features");
  auto ragged = c.node.GetTypeList("ragged_value_types");
  if (ragged.ok() && !ragged->empty()) return c.node.Unsupported("ragged features");
  ASSIGN_OR_RETURN(std::vector<DenseFeature> dense, DenseFeatures(c.node));
  return std::make_unique<ParseExampleKernel>(c.node, std::move(dense), true);
}

}  // namespace

void RegisterParseExampleKernels(KernelRegistry& r) {
  r.Register("ParseExample", MakeParseExample);
  r.Register("ParseExampleV2", MakeParseExampleV2);
}

}  // namespace swapserve
