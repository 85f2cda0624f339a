#include "client/tensor_json.h"

#include "absl/strings/str_cat.h"
#include "model/util/status_macros.h"

namespace swapserve::cli {
namespace {

using json = nlohmann::json;

template <typename T>
absl::Status Fill(const json& values, Tensor* t, const std::string& what) {
  T* out = t->data<T>();
  for (size_t i = 0; i < values.size(); ++i) {
    const json& v = values[i];
    if (v.is_boolean()) {
      out[i] = static_cast<T>(v.get<bool>());
    } else if (v.is_number()) {
      out[i] = v.get<T>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat(what, ": value ", i, " is not a number"));
    }
  }
  return absl::OkStatus();
}

template <typename T>
json Dump(const Tensor& t) {
  json out = json::array();
  for (int64_t i = 0; i < t.num_elements(); ++i) out.push_back(t.data<T>()[i]);
  return out;
}

}  // namespace

absl::StatusOr<Tensor> TensorFromJson(const json& j, const std::string& what) {
  if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("values") ||
      !j["dtype"].is_string() || !j["shape"].is_array() || !j["values"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected {\"dtype\", \"shape\", \"values\"}"));
  }
  ASSIGN_OR_RETURN(DataType dtype, ParseDataType(j["dtype"].get<std::string>()));
  std::vector<int64_t> dims;
  for (const json& d : j["shape"]) {
    if (!d.is_number_integer()) return absl::InvalidArgumentError(what + ": shape must be integers");
    dims.push_back(d.get<int64_t>());
  }
  absl::StatusOr<TensorShape> shape = TensorShape::Make(dims);
  if (!shape.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", shape.status().message()));
  const json& values = j["values"];
  if (static_cast<int64_t>(values.size()) != shape->num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", values.size(), " values for shape ",
                                                   shape->DebugString()));
  }
  ASSIGN_OR_RETURN(Tensor t, Tensor::Allocate(dtype, *shape));
  switch (dtype) {
    case tensorflow::DT_FLOAT: RETURN_IF_ERROR(Fill<float>(values, &t, what)); break;
    case tensorflow::DT_DOUBLE: RETURN_IF_ERROR(Fill<double>(values, &t, what)); break;
    case tensorflow::DT_INT32: RETURN_IF_ERROR(Fill<int32_t>(values, &t, what)); break;
    case tensorflow::DT_INT64: RETURN_IF_ERROR(Fill<int64_t>(values, &t, what)); break;
    case tensorflow::DT_UINT8: RETURN_IF_ERROR(Fill<uint8_t>(values, &t, what)); break;
    case tensorflow::DT_BOOL: RETURN_IF_ERROR(Fill<uint8_t>(values, &t, what)); break;
    case tensorflow::DT_STRING:
      for (size_t i = 0; i < values.size(); ++i) {
        if (!values[i].is_string()) return absl::InvalidArgumentError(what + ": values must be strings");
        t.strings()[i] = values[i].get<std::string>();
      }
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": dtype ", DataTypeName(dtype), " is not supported in JSON"));
  }
  return t;
}

json TensorToJson(const Tensor& t) {
  json values;
  switch (t.dtype()) {
    case tensorflow::DT_FLOAT: values = Dump<float>(t); break;
    case tensorflow::DT_DOUBLE: values = Dump<double>(t); break;
    case tensorflow::DT_INT32: values = Dump<int32_t>(t); break;
    case tensorflow::DT_INT64: values = Dump<int64_t>(t); break;
    case tensorflow::DT_UINT8: values = Dump<uint8_t>(t); break;
    case tensorflow::DT_BOOL: {
      values = json::array();
      for (int64_t i = 0; i < t.num_elements(); ++i) values.push_back(t.data<uint8_t>()[i] != 0);
      break;
    }
    case tensorflow::DT_STRING: values = t.strings(); break;
    default: values = nullptr; break;
  }
  return {{"dtype", DataTypeName(t.dtype())}, {"shape", t.shape().dims()}, {"values", values}};
}

}  // namespace swapserve::cli
