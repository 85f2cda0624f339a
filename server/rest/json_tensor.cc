// Request bodies -> requests (see json_tensor.h): predict in TF Serving's row
// and columnar formats, decoded straight into tensor_content; classify/regress
// into tf.Examples. Stateless, thread-safe.
#include "server/rest/json_tensor.h"

#include <type_traits>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/str_join.h"
#include "model/tensor.h"
#include "model/util/status_macros.h"
#include "server/rest/json_util.h"

namespace swapserve::server::rest {
namespace {

using internal::DecodeBase64;
using internal::DtypeString;
using internal::FormatError;
using internal::IsBase64Object;
using internal::IsLossless;
using internal::FindMember;
using internal::IsInteger;
using internal::JsonDocument;
using internal::JsonValue;
using internal::StringOf;
using internal::LossyError;
using internal::Magnitude;
using internal::TypeError;
using internal::ValueString;
using internal::Wrap;
using tensorflow::DataType;
using tensorflow::TensorProto;

std::string ShapeString(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

// " at index [i][j]" within the value being decoded.
std::string PathString(const std::vector<int64_t>& path) {
  if (path.empty()) return "";
  std::string s = " at index ";
  for (int64_t i : path) absl::StrAppend(&s, "[", i, "]");
  return s;
}

// --- Values ------------------------------------------------------------------

template <typename T>
void AppendRaw(T value, TensorProto* proto) {
  proto->mutable_tensor_content()->append(reinterpret_cast<const char*>(&value),
                                          sizeof(T));
}

template <typename T>
absl::Status AppendInteger(const JsonValue& v, DataType dtype, TensorProto* proto) {
  if (!IsInteger(v)) return TypeError(v, dtype);
  const bool negative = !v.IsUint64();
  const uint64_t magnitude = Magnitude(v);
  const bool fits =
      negative
          ? std::is_signed_v<T> && magnitude <= uint64_t{1}
                                                    << (sizeof(T) * 8 - 1)
          : magnitude <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  if (!fits) return TypeError(v, dtype);
  AppendRaw(static_cast<T>(negative ? v.GetInt64()
                                    : static_cast<int64_t>(magnitude)),
            proto);
  return absl::OkStatus();
}

// Half and bfloat16 (which TF Serving does not take): any number within range.
template <typename T>
absl::Status AppendLowPrecision(const JsonValue& v, DataType dtype,
                                TensorProto* proto) {
  if (!v.IsNumber()) return TypeError(v, dtype);
  const double d = v.GetDouble();
  const double max = static_cast<double>(Eigen::NumTraits<T>::highest());
  if (std::isfinite(d) && std::abs(d) > max) {
    return LossyError(v, DtypeString(dtype));
  }
  AppendRaw(Eigen::numext::bit_cast<uint16_t>(T(static_cast<float>(d))), proto);
  return absl::OkStatus();
}

// Appends one JSON leaf (not an array) as an element of `dtype`.
absl::Status AppendLeaf(const JsonValue& v, DataType dtype, TensorProto* proto) {
  switch (dtype) {
    case tensorflow::DT_FLOAT:
      if (!v.IsNumber()) return TypeError(v, dtype);
      if (!IsLossless<float>(v)) return LossyError(v, "float");
      AppendRaw(static_cast<float>(v.GetDouble()), proto);
      return absl::OkStatus();
    case tensorflow::DT_DOUBLE:
      if (!v.IsNumber()) return TypeError(v, dtype);
      if (!IsLossless<double>(v)) return LossyError(v, "double");
      AppendRaw(v.GetDouble(), proto);
      return absl::OkStatus();
    case tensorflow::DT_HALF:
      return AppendLowPrecision<Eigen::half>(v, dtype, proto);
    case tensorflow::DT_BFLOAT16:
      return AppendLowPrecision<Eigen::bfloat16>(v, dtype, proto);
    case tensorflow::DT_INT8:
      return AppendInteger<int8_t>(v, dtype, proto);
    case tensorflow::DT_INT16:
      return AppendInteger<int16_t>(v, dtype, proto);
    case tensorflow::DT_INT32:
      return AppendInteger<int32_t>(v, dtype, proto);
    case tensorflow::DT_INT64:
      return AppendInteger<int64_t>(v, dtype, proto);
    case tensorflow::DT_UINT8:
      return AppendInteger<uint8_t>(v, dtype, proto);
    case tensorflow::DT_UINT16:
      return AppendInteger<uint16_t>(v, dtype, proto);
    case tensorflow::DT_UINT32:
      return AppendInteger<uint32_t>(v, dtype, proto);
    case tensorflow::DT_UINT64:
      return AppendInteger<uint64_t>(v, dtype, proto);
    case tensorflow::DT_BOOL:
      if (!v.IsBool()) return TypeError(v, dtype);
      AppendRaw<uint8_t>(v.GetBool() ? 1 : 0, proto);
      return absl::OkStatus();
    case tensorflow::DT_STRING:
      if (v.IsObject()) return DecodeBase64(v, proto->add_string_val());
      if (!v.IsString()) return TypeError(v, dtype);
      proto->add_string_val()->assign(v.GetString(), v.GetStringLength());
      return absl::OkStatus();
    default:
      return absl::UnimplementedError(
          absl::StrCat("Conversion of JSON Value: ", ValueString(v),
                       " to type: ", DtypeString(dtype)));
  }
}

// --- Tensors -----------------------------------------------------------------

// The shape the nesting implies, following first elements (a scalar has none).
std::vector<int64_t> DenseShape(const JsonValue& v) {
  std::vector<int64_t> dims;
  for (const JsonValue* p = &v; p->IsArray(); p = &(*p)[0]) {
    dims.push_back(static_cast<int64_t>(p->Size()));
    if (p->Empty()) break;
  }
  return dims;
}

// Appends the values of `v` (nested as `dims`) to `proto`, counting them.
absl::Status FillValues(const JsonValue& v, size_t level,
                        const std::vector<int64_t>& dims, DataType dtype,
                        std::vector<int64_t>* path, TensorProto* proto,
                        int64_t* count) {
  if (!v.IsArray()) {
    if (level != dims.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "JSON Value: ", ValueString(v), " found at incorrect level: ",
          level + 1, " in the JSON DOM. Expected at level: ", dims.size(),
          PathString(*path)));
    }
    absl::Status s = AppendLeaf(v, dtype, proto);
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat(s.message(), PathString(*path)));
    }
    ++*count;
    return absl::OkStatus();
  }
  if (level >= dims.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Encountered list at unexpected level: ", level,
                     " expected < ", dims.size(), PathString(*path)));
  }
  if (static_cast<int64_t>(v.Size()) != dims[level]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Encountered list at unexpected size: ", v.Size(), " at level: ", level,
        " expected size: ", dims[level], PathString(*path)));
  }
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    path->push_back(static_cast<int64_t>(i));
    RETURN_IF_ERROR(
        FillValues(v[i], level + 1, dims, dtype, path, proto, count));
    path->pop_back();
  }
  return absl::OkStatus();
}

void SetShape(const std::vector<int64_t>& dims, TensorProto* proto) {
  auto* shape = proto->mutable_tensor_shape();
  shape->Clear();
  for (int64_t d : dims) shape->add_dim()->set_size(d);
}

// A whole tensor from one JSON value (columnar format).
absl::Status FillTensor(const JsonValue& v, DataType dtype, TensorProto* proto) {
  proto->Clear();
  proto->set_dtype(dtype);
  const std::vector<int64_t> dims = DenseShape(v);
  std::vector<int64_t> path;
  int64_t count = 0;
  RETURN_IF_ERROR(FillValues(v, 0, dims, dtype, &path, proto, &count));
  SetShape(dims, proto);
  return absl::OkStatus();
}

// One input of a row-format request, gathered row by row.
struct RowInput {
  DataType dtype = tensorflow::DT_INVALID;
  TensorProto* proto = nullptr;
  bool seen = false;
  std::vector<int64_t> row_dims;
  int64_t row_size = 0;
  size_t rows = 0;  // Rows that gave this input (object rows).
};

absl::Status AddInstanceItem(const JsonValue& item, RowInput* in) {
  const std::vector<int64_t> dims = DenseShape(item);
  std::vector<int64_t> path;
  int64_t size = 0;
  RETURN_IF_ERROR(
      FillValues(item, 0, dims, in->dtype, &path, in->proto, &size));
  if (!in->seen) {
    in->seen = true;
    in->row_dims = dims;
    in->row_size = size;
  } else if (size != in->row_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Expecting tensor size: ", in->row_size, " but got: ", size));
  } else if (dims != in->row_dims) {
    return absl::InvalidArgumentError(
        absl::StrCat("Expecting shape ", ShapeString(in->row_dims),
                     " but got: ", ShapeString(dims)));
  }
  return absl::OkStatus();
}

bool IsNamedRow(const JsonValue& v) { return v.IsObject() && !IsBase64Object(v); }

absl::Status AddObjectRow(const JsonValue& row, size_t index,
                          std::map<std::string, RowInput>* inputs) {
  for (const auto& member : row.GetObject()) {
    const std::string name(StringOf(member.name));
    const auto it = inputs->find(name);
    absl::Status s;
    if (it == inputs->end()) {
      s = absl::InvalidArgumentError(
          absl::StrCat("JSON object: does not have named input: ", name));
    } else if (it->second.rows != index) {
      // A key given twice would put two values into one row of its input.
      s = absl::InvalidArgumentError(
          absl::StrCat("JSON object: has named input ", name, " twice"));
    } else {
      s = AddInstanceItem(member.value, &it->second);
      ++it->second.rows;
    }
    if (!s.ok()) {
      return Wrap(absl::StrCat("Failed to process element: ", index,
                               " key: ", name, " of 'instances' list."),
                  s);
    }
  }
  if (row.MemberCount() != inputs->size()) {
    std::vector<std::string> names;
    for (const auto& [name, unused] : *inputs) names.push_back(name);
    return absl::InvalidArgumentError(
        absl::StrCat("Failed to process element: ", index,
                     " of 'instances' list. JSON object: ", ValueString(row),
                     " keys must be equal to: ", absl::StrJoin(names, ",")));
  }
  return absl::OkStatus();
}

absl::Status FillFromInstances(
    const JsonValue& instances, const std::map<std::string, DataType>& dtypes,
    google::protobuf::Map<std::string, TensorProto>* tensors) {
  const bool named = IsNamedRow(instances[0]);
  if (!named && dtypes.size() > 1) {
    return absl::InvalidArgumentError(
        "instances is a plain list, but expecting list of objects as multiple "
        "input tensors required as per tensorinfo_map");
  }
  std::map<std::string, RowInput> inputs;
  for (const auto& [name, dtype] : dtypes) {
    TensorProto* proto = &(*tensors)[name];
    proto->set_dtype(dtype);
    RowInput& in = inputs[name];
    in.dtype = dtype;
    in.proto = proto;
  }
  for (rapidjson::SizeType i = 0; i < instances.Size(); ++i) {
    const JsonValue& row = instances[i];
    if (named != IsNamedRow(row)) {
      return absl::InvalidArgumentError(
          absl::StrCat(named ? "Expecting object but got list at item "
                             : "Expecting value/list but got object at item ",
                       i, " of input list"));
    }
    if (named) {
      RETURN_IF_ERROR(AddObjectRow(row, i, &inputs));
      continue;
    }
    absl::Status s = AddInstanceItem(row, &inputs.begin()->second);
    if (!s.ok()) {
      return Wrap(absl::StrCat("Failed to process element: ", i,
                               " of 'instances' list."),
                  s);
    }
  }
  for (auto& [name, in] : inputs) {
    std::vector<int64_t> dims = {static_cast<int64_t>(instances.Size())};
    dims.insert(dims.end(), in.row_dims.begin(), in.row_dims.end());
    SetShape(dims, in.proto);
  }
  return absl::OkStatus();
}

absl::Status FillFromInputs(
    const JsonValue& value, const std::map<std::string, DataType>& dtypes,
    google::protobuf::Map<std::string, TensorProto>* tensors) {
  if (!value.IsObject() || IsBase64Object(value)) {
    if (dtypes.size() > 1) {
      return absl::InvalidArgumentError(
          "inputs is a plain value/list, but expecting an object as multiple "
          "input tensors required as per tensorinfo_map");
    }
    const auto& [name, dtype] = *dtypes.begin();
    absl::Status s = FillTensor(value, dtype, &(*tensors)[name]);
    if (!s.ok()) {
      return Wrap(absl::StrCat("Failed to process input: ", name, "."), s);
    }
    return absl::OkStatus();
  }
  for (const auto& [name, dtype] : dtypes) {
    const JsonValue* it = FindMember(value, name);
    if (it == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("Missing named input: ", name, " in 'inputs' object."));
    }
    absl::Status s = FillTensor(*it, dtype, &(*tensors)[name]);
    if (!s.ok()) {
      return Wrap(absl::StrCat("Failed to process input: ", name, "."), s);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FillPredictRequestFromJson(
    absl::string_view body, const InputDtypes& dtypes,
    tensorflow::serving::PredictRequest* request, JsonFormat* format) {
  JsonDocument doc;
  RETURN_IF_ERROR(internal::ParseBody(body, &doc));
  RETURN_IF_ERROR(internal::FillSignature(doc, request));
  const std::string& signature = request->model_spec().signature_name();
  ASSIGN_OR_RETURN(const auto inputs, dtypes(signature));
  if (inputs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Failed to get input map for signature: ",
                     signature.empty() ? "DEFAULT" : signature));
  }
  request->mutable_inputs()->clear();
  const JsonValue* instances = FindMember(doc, "instances");
  const JsonValue* columns = FindMember(doc, "inputs");
  if (instances != nullptr && columns != nullptr) {
    return FormatError(doc,
                       "Not formatted correctly expecting only one of "
                       "'inputs' or 'instances' keys to exist ");
  }
  if (instances != nullptr) {
    if (!instances->IsArray()) {
      return FormatError(doc, "Expecting 'instances' to be an list/array");
    }
    if (instances->Empty()) {
      return FormatError(doc, "No values in 'instances' array");
    }
    *format = JsonFormat::kRow;
    return FillFromInstances(*instances, inputs, request->mutable_inputs());
  }
  if (columns != nullptr) {
    *format = JsonFormat::kColumnar;
    return FillFromInputs(*columns, inputs, request->mutable_inputs());
  }
  return absl::InvalidArgumentError("Missing 'inputs' or 'instances' key");
}

namespace {

// --- Classify / regress ------------------------------------------------------

using tensorflow::Feature;

const char* KindString(const Feature& feature) {
  switch (feature.kind_case()) {
    case Feature::kBytesList:
      return "bytes";
    case Feature::kFloatList:
      return "float";
    case Feature::kInt64List:
      return "int64";
    default:
      return "UNKNOWN";
  }
}

// A feature takes one kind; an empty one takes any.
absl::Status CheckKind(const std::string& name, const Feature& feature,
                       Feature::KindCase kind) {
  if (feature.kind_case() == Feature::KIND_NOT_SET ||
      feature.kind_case() == kind) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("Unexpected element type in feature: ", name,
                   " expecting type: ", KindString(feature)));
}

absl::Status UnexpectedType(const std::string& name, const JsonValue& v) {
  return absl::InvalidArgumentError(absl::StrCat(
      "Feature: ", name,
      " has element with unexpected JSON type: ", internal::JsonTypeString(v)));
}

absl::Status AddNumberToFeature(const JsonValue& v, const std::string& name,
                                Feature* feature) {
  if (v.IsDouble()) {
    RETURN_IF_ERROR(CheckKind(name, *feature, Feature::kFloatList));
    if (!IsLossless<float>(v)) return LossyError(v, "float");
    feature->mutable_float_list()->add_value(
        static_cast<float>(v.GetDouble()));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(CheckKind(name, *feature, Feature::kInt64List));
  if (!v.IsInt64()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Feature: ", name, " has uint64 element. Only int64 is supported."));
  }
  feature->mutable_int64_list()->add_value(v.GetInt64());
  return absl::OkStatus();
}

// TF Serving's AddValueToFeature.
absl::Status AddValueToFeature(const JsonValue& v, const std::string& name,
                               Feature* feature) {
  switch (v.GetType()) {
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      RETURN_IF_ERROR(CheckKind(name, *feature, Feature::kInt64List));
      feature->mutable_int64_list()->add_value(v.GetBool() ? 1 : 0);
      return absl::OkStatus();
    case rapidjson::kStringType:
      RETURN_IF_ERROR(CheckKind(name, *feature, Feature::kBytesList));
      feature->mutable_bytes_list()->add_value(std::string(StringOf(v)));
      return absl::OkStatus();
    case rapidjson::kObjectType:
      if (!IsBase64Object(v)) return UnexpectedType(name, v);
      RETURN_IF_ERROR(CheckKind(name, *feature, Feature::kBytesList));
      return DecodeBase64(v, feature->mutable_bytes_list()->add_value());
    case rapidjson::kNumberType:
      return AddNumberToFeature(v, name, feature);
    default:  // null, nested arrays
      return UnexpectedType(name, v);
  }
}

absl::Status MakeExample(const JsonValue& v, tensorflow::Example* example) {
  if (!v.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Example must be JSON object but got JSON ",
                     internal::JsonTypeString(v)));
  }
  auto* features = example->mutable_features()->mutable_feature();
  for (const auto& member : v.GetObject()) {
    const std::string name(StringOf(member.name));
    const JsonValue& content = member.value;
    Feature feature;
    if (content.IsArray()) {
      for (const JsonValue& item : content.GetArray()) {
        RETURN_IF_ERROR(AddValueToFeature(item, name, &feature));
      }
    } else {
      RETURN_IF_ERROR(AddValueToFeature(content, name, &feature));
    }
    (*features)[name] = std::move(feature);
  }
  return absl::OkStatus();
}

template <typename Request>
absl::Status FillExamplesRequest(absl::string_view body, Request* request) {
  JsonDocument doc;
  RETURN_IF_ERROR(internal::ParseBody(body, &doc));
  RETURN_IF_ERROR(internal::FillSignature(doc, request));
  auto* input = request->mutable_input();
  input->Clear();
  const JsonValue* context = FindMember(doc, "context");
  const bool has_context = context != nullptr;
  if (has_context) {
    RETURN_IF_ERROR(MakeExample(
        *context,
        input->mutable_example_list_with_context()->mutable_context()));
  }
  const JsonValue* examples = FindMember(doc, "examples");
  if (examples == nullptr) {
    return FormatError(doc,
                       "When method is classify, key 'examples' is "
                       "expected and was not found");
  }
  if (!examples->IsArray()) {
    return FormatError(doc, "Expecting 'examples' value to be an list/array");
  }
  if (examples->Empty()) {
    return FormatError(doc, "'examples' value is an empty array");
  }
  for (const JsonValue& example : examples->GetArray()) {
    RETURN_IF_ERROR(MakeExample(
        example,
        has_context ? input->mutable_example_list_with_context()->add_examples()
                    : input->mutable_example_list()->add_examples()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FillClassificationRequestFromJson(
    absl::string_view body,
    tensorflow::serving::ClassificationRequest* request) {
  return FillExamplesRequest(body, request);
}

absl::Status FillRegressionRequestFromJson(
    absl::string_view body, tensorflow::serving::RegressionRequest* request) {
  return FillExamplesRequest(body, request);
}

}  // namespace swapserve::server::rest
