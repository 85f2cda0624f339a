#include "model/formats/keras_layer_shapes.h"

#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "model/formats/keras_json.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using json = nlohmann::json;
using Shape = std::vector<int64_t>;
using Pair = std::array<int64_t, 2>;

constexpr int64_t kUnknown = -1;
// Bounds that keep all shape arithmetic below free of overflow.
constexpr int64_t kMaxDim = int64_t{1} << 40;
constexpr int64_t kMaxWindow = int64_t{1} << 20;
constexpr size_t kMaxRank = 64;

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

// A list of dimensions; null (and -1 where `allow_unknown`) is an unknown one.
absl::StatusOr<Shape> ShapeFromJson(const json& value, const char* key,
                                    bool allow_unknown) {
  if (!value.is_array() || value.size() > kMaxRank) {
    return Invalid(absl::StrCat(
        key, " is not a list of dimensions: ", JsonSnippet(value)));
  }
  Shape shape;
  for (const json& dim : value) {
    const std::optional<int64_t> d =
        dim.is_null() ? std::optional<int64_t>(kUnknown) : JsonInt(dim);
    if (!d || *d > kMaxDim || *d < (dim.is_null() || allow_unknown ? -1 : 0)) {
      return Invalid(
          absl::StrCat(key, " has a bad dimension: ", JsonSnippet(value)));
    }
    shape.push_back(*d);
  }
  return shape;
}

// Product of dims[from:], kUnknown when one of them is unknown.
absl::StatusOr<int64_t> Product(const Shape& dims, size_t from) {
  int64_t product = 1;
  for (size_t i = from; i < dims.size(); ++i) {
    if (dims[i] == kUnknown) return kUnknown;
    if (__builtin_mul_overflow(product, dims[i], &product) ||
        product > kMaxDim) {
      return Invalid(
          absl::StrCat("too many elements in ", KerasShapeString(dims)));
    }
  }
  return product;
}

absl::StatusOr<int64_t> PositiveInt(const json& config, const char* key) {
  const json* value = JsonMember(config, key);
  const std::optional<int64_t> n = value ? JsonInt(*value) : std::nullopt;
  if (!n || *n < 1 || *n > kMaxDim) {
    return Invalid(absl::StrCat("config needs a positive integer '", key, "'"));
  }
  return *n;
}

// kernel_size, strides, ...: an int or a list of two; `fallback` when
// absent/null.
absl::StatusOr<Pair> WindowPair(const json& config, const char* key,
                                std::optional<Pair> fallback) {
  const json* value = JsonMember(config, key);
  if ((value == nullptr || value->is_null()) && fallback) return *fallback;
  Pair pair = {0, 0};
  if (value != nullptr && JsonInt(*value)) {
    pair = {*JsonInt(*value), *JsonInt(*value)};
  } else if (value != nullptr && value->is_array() && value->size() == 2 &&
             JsonInt((*value)[0]) && JsonInt((*value)[1])) {
    pair = {*JsonInt((*value)[0]), *JsonInt((*value)[1])};
  }
  if (pair[0] < 1 || pair[1] < 1 || pair[0] > kMaxWindow ||
      pair[1] > kMaxWindow) {
    return Invalid(absl::StrCat("config needs '", key,
                                "' as one or two positive ints, got ",
                                value ? JsonSnippet(*value) : "nothing"));
  }
  return pair;
}

bool ChannelsFirst(const json& config) {
  return JsonString(config, "data_format").value_or("") == "channels_first";
}

absl::StatusOr<int64_t> WindowOutput(int64_t size, int64_t window,
                                     int64_t stride, int64_t dilation,
                                     bool same) {
  if (size == kUnknown) return kUnknown;
  if (same) return (size + stride - 1) / stride;
  const int64_t extent = (window - 1) * dilation + 1;
  if (size < extent) {
    return Invalid(
        absl::StrCat("a window of ", extent, " does not fit in ", size));
  }
  return (size - extent) / stride + 1;
}

// Conv2D and the 2-D poolings: the spatial dimensions shrink by the window;
// `channels` replaces the channel dimension when set.
absl::StatusOr<KerasShape> Windowed2D(const Shape& in, const json& config,
                                      Pair window, Pair strides, Pair dilation,
                                      std::optional<int64_t> channels) {
  if (in.size() != 4) {
    return Invalid(
        absl::StrCat("needs a rank-4 input, got ", KerasShapeString(in)));
  }
  const std::string padding = JsonString(config, "padding").value_or("valid");
  if (padding != "valid" && padding != "same") {
    return Invalid(absl::StrCat("unsupported padding '", padding, "'"));
  }
  const size_t first_spatial = ChannelsFirst(config) ? 2 : 1;
  Shape out = in;
  for (size_t i = 0; i < 2; ++i) {
    ASSIGN_OR_RETURN(out[first_spatial + i],
                     WindowOutput(in[first_spatial + i], window[i], strides[i],
                                  dilation[i], padding == "same"));
  }
  if (channels) out[ChannelsFirst(config) ? 1 : 3] = *channels;
  return out;
}

absl::StatusOr<KerasShape> Conv2D(const Shape& in, const json& config) {
  ASSIGN_OR_RETURN(int64_t filters, PositiveInt(config, "filters"));
  ASSIGN_OR_RETURN(Pair kernel,
                   WindowPair(config, "kernel_size", std::nullopt));
  ASSIGN_OR_RETURN(Pair strides, WindowPair(config, "strides", Pair{1, 1}));
  ASSIGN_OR_RETURN(Pair dilation,
                   WindowPair(config, "dilation_rate", Pair{1, 1}));
  return Windowed2D(in, config, kernel, strides, dilation, filters);
}

absl::StatusOr<KerasShape> Pooling2D(const Shape& in, const json& config) {
  ASSIGN_OR_RETURN(Pair pool, WindowPair(config, "pool_size", Pair{2, 2}));
  ASSIGN_OR_RETURN(Pair strides, WindowPair(config, "strides", pool));
  return Windowed2D(in, config, pool, strides, Pair{1, 1}, std::nullopt);
}

absl::StatusOr<KerasShape> GlobalPooling2D(const Shape& in,
                                           const json& config) {
  if (in.size() != 4) {
    return Invalid(
        absl::StrCat("needs a rank-4 input, got ", KerasShapeString(in)));
  }
  const bool channels_first = ChannelsFirst(config);
  const int64_t channels = in[channels_first ? 1 : 3];
  const json* keepdims = JsonMember(config, "keepdims");
  if (keepdims == nullptr || !keepdims->is_boolean() ||
      !keepdims->get<bool>()) {
    return Shape{in[0], channels};
  }
  return channels_first ? Shape{in[0], channels, 1, 1}
                        : Shape{in[0], 1, 1, channels};
}

absl::StatusOr<KerasShape> Dense(const Shape& in, const json& config) {
  ASSIGN_OR_RETURN(int64_t units, PositiveInt(config, "units"));
  if (in.size() < 2) {
    return Invalid(absl::StrCat("needs an input of rank >= 2, got ",
                                KerasShapeString(in)));
  }
  Shape out = in;
  out.back() = units;
  return out;
}

absl::StatusOr<KerasShape> Flatten(const Shape& in, const json&) {
  if (in.empty()) return Invalid("needs an input of rank >= 1, got a scalar");
  ASSIGN_OR_RETURN(int64_t rest, Product(in, 1));
  return Shape{in[0], rest};
}

absl::StatusOr<KerasShape> Embedding(const Shape& in, const json& config) {
  ASSIGN_OR_RETURN(int64_t output_dim, PositiveInt(config, "output_dim"));
  if (in.size() >= kMaxRank) return Invalid("input rank too large");
  Shape out = in;
  out.push_back(output_dim);
  return out;
}

absl::StatusOr<KerasShape> Identity(const Shape& in, const json&) { return in; }

// The batch dimension stays; the rest becomes target_shape, whose one -1 is
// solved from the input's element count when that is known.
absl::StatusOr<KerasShape> Reshape(const KerasShape& in, const json& config) {
  const json* target_json = JsonMember(config, "target_shape");
  if (target_json == nullptr) return Invalid("config needs 'target_shape'");
  ASSIGN_OR_RETURN(Shape target,
                   ShapeFromJson(*target_json, "target_shape", true));
  Shape out = {in && !in->empty() ? (*in)[0] : kUnknown};
  int unknown_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    out.push_back(target[i]);
    if (target[i] != kUnknown) {
      if (__builtin_mul_overflow(known, target[i], &known) || known > kMaxDim) {
        return Invalid("target_shape has too many elements");
      }
    } else if (unknown_at >= 0) {
      return Invalid("target_shape has more than one unknown dimension");
    } else {
      unknown_at = static_cast<int>(i) + 1;
    }
  }
  if (!in || in->empty()) return out;
  ASSIGN_OR_RETURN(int64_t total, Product(*in, 1));
  if (total == kUnknown) return out;
  if (unknown_at < 0 ? total != known : known == 0 || total % known != 0) {
    return Invalid(absl::StrCat("cannot reshape ", KerasShapeString(in), " to ",
                                KerasShapeString(target)));
  }
  if (unknown_at >= 0) out[unknown_at] = total / known;
  return out;
}

// One dimension of two merged inputs: the known one, broadcasting 1s.
absl::StatusOr<int64_t> MergeDim(int64_t a, int64_t b) {
  if (a == b || b == 1) return a;
  if (a == 1) return b;
  if (a == kUnknown) return b;
  if (b == kUnknown) return a;
  return Invalid(absl::StrCat("inputs disagree: ", a, " vs ", b));
}

// Add, Multiply, ...: inputs of equal rank, broadcast elementwise.
absl::StatusOr<KerasShape> Merge(absl::Span<const KerasShape> inputs) {
  if (inputs.empty()) return Invalid("needs at least one input");
  for (const KerasShape& in : inputs) {
    if (!in || in->size() != inputs[0]->size()) return KerasShape();
  }
  Shape out = *inputs[0];
  for (const KerasShape& in : inputs.subspan(1)) {
    for (size_t i = 0; i < out.size(); ++i) {
      ASSIGN_OR_RETURN(out[i], MergeDim(out[i], (*in)[i]));
    }
  }
  return out;
}

absl::StatusOr<KerasShape> Concatenate(absl::Span<const KerasShape> inputs,
                                       const json& config) {
  if (inputs.empty()) return Invalid("needs at least one input");
  for (const KerasShape& in : inputs) {
    if (!in) return KerasShape();
  }
  const int64_t rank = static_cast<int64_t>(inputs[0]->size());
  const json* axis_json = JsonMember(config, "axis");
  std::optional<int64_t> axis =
      axis_json != nullptr ? JsonInt(*axis_json) : std::optional<int64_t>(-1);
  if (axis && *axis < 0) *axis += rank;
  if (!axis || *axis < 0 || *axis >= rank)
    return Invalid("bad concatenation axis");
  Shape out = *inputs[0];
  for (const KerasShape& in : inputs.subspan(1)) {
    if (static_cast<int64_t>(in->size()) != rank) {
      return Invalid(absl::StrCat(
          "inputs of different ranks: ", KerasShapeString(inputs[0]), " and ",
          KerasShapeString(in)));
    }
    for (int64_t i = 0; i < rank; ++i) {
      const int64_t dim = (*in)[i];
      if (i != *axis) {
        if (out[i] == kUnknown) out[i] = dim;
      } else {
        out[i] =
            out[i] == kUnknown || dim == kUnknown ? kUnknown : out[i] + dim;
        if (out[i] > kMaxDim) return Invalid("concatenation too large");
      }
    }
  }
  return out;
}

absl::StatusOr<KerasShape> InputShape(const json& config) {
  for (const char* key : {"batch_input_shape", "batch_shape"}) {
    const json* shape = JsonMember(config, key);
    if (shape != nullptr && !shape->is_null()) {
      return ShapeFromJson(*shape, key, false);
    }
  }
  return KerasShape();
}

using SingleInputRule = absl::StatusOr<KerasShape> (*)(const Shape&,
                                                       const json&);
struct Rule {
  absl::string_view class_name;
  SingleInputRule infer;
};
constexpr Rule kSingleInputRules[] = {
    {"Dense", Dense},
    {"Flatten", Flatten},
    {"Conv2D", Conv2D},
    {"MaxPooling2D", Pooling2D},
    {"AveragePooling2D", Pooling2D},
    {"GlobalAveragePooling2D", GlobalPooling2D},
    {"GlobalMaxPooling2D", GlobalPooling2D},
    {"Embedding", Embedding},
    {"Dropout", Identity},
    {"Activation", Identity},
    {"BatchNormalization", Identity},
    {"LayerNormalization", Identity},
    {"Softmax", Identity},
    {"ReLU", Identity},
    {"LeakyReLU", Identity},
    {"ELU", Identity},
    {"PReLU", Identity},
};
constexpr absl::string_view kMergeLayers[] = {"Add",     "Subtract", "Multiply",
                                              "Average", "Maximum",  "Minimum"};

absl::StatusOr<KerasShape> Infer(absl::string_view class_name,
                                 const json& config,
                                 absl::Span<const KerasShape> inputs) {
  if (class_name == "InputLayer") return InputShape(config);
  if (class_name == "Concatenate") return Concatenate(inputs, config);
  for (absl::string_view merge : kMergeLayers) {
    if (class_name == merge) return Merge(inputs);
  }
  const bool reshape = class_name == "Reshape";
  SingleInputRule rule = nullptr;
  for (const Rule& r : kSingleInputRules) {
    if (r.class_name == class_name) rule = r.infer;
  }
  if (rule == nullptr && !reshape)
    return KerasShape();  // A layer we do not know.
  if (inputs.size() != 1) {
    return Invalid(absl::StrCat("needs one input, got ", inputs.size()));
  }
  if (reshape) return Reshape(inputs[0], config);
  if (!inputs[0]) return KerasShape();
  return rule(*inputs[0], config);
}

}  // namespace

std::string KerasShapeString(const KerasShape& shape) {
  if (!shape) return "<unknown rank>";
  return absl::StrCat("[", absl::StrJoin(*shape, ","), "]");
}

absl::StatusOr<KerasShape> InferKerasOutputShape(
    absl::string_view class_name, const json& config,
    absl::Span<const KerasShape> inputs) {
  absl::StatusOr<KerasShape> shape = Infer(class_name, config, inputs);
  if (!shape.ok()) {
    return absl::Status(
        shape.status().code(),
        absl::StrCat("layer '", JsonString(config, "name").value_or("?"), "' (",
                     class_name, "): ", shape.status().message()));
  }
  return shape;
}

absl::StatusOr<DataType> KerasDtype(const json& config) {
  const json* dtype = JsonMember(config, "dtype");
  if (dtype == nullptr || dtype->is_null()) return tensorflow::DT_FLOAT;
  std::optional<std::string> name;
  if (dtype->is_string()) {
    name = dtype->get<std::string>();
  } else if (const json* policy = JsonMember(*dtype, "config")) {
    name = JsonString(*policy, "name");
  }
  static constexpr std::pair<absl::string_view, DataType> kNames[] = {
      {"float32", tensorflow::DT_FLOAT},
      {"float64", tensorflow::DT_DOUBLE},
      {"float16", tensorflow::DT_HALF},
      {"bfloat16", tensorflow::DT_BFLOAT16},
      {"mixed_float16", tensorflow::DT_HALF},
      {"mixed_bfloat16", tensorflow::DT_BFLOAT16},
      {"int8", tensorflow::DT_INT8},
      {"uint8", tensorflow::DT_UINT8},
      {"int16", tensorflow::DT_INT16},
      {"uint16", tensorflow::DT_UINT16},
      {"int32", tensorflow::DT_INT32},
      {"uint32", tensorflow::DT_UINT32},
      {"int64", tensorflow::DT_INT64},
      {"uint64", tensorflow::DT_UINT64},
      {"bool", tensorflow::DT_BOOL},
      {"string", tensorflow::DT_STRING},
  };
  for (const auto& [known, type] : kNames) {
    if (name && *name == known) return type;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("layer '", JsonString(config, "name").value_or("?"),
                   "': unsupported dtype ", JsonSnippet(*dtype)));
}

}  // namespace swapserve
