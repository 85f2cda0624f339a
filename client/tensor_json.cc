#include "client/tensor_json.h"

#include <limits>
#include <type_traits>

#include "absl/strings/escaping.h"
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
    const auto bad = [&](const char* why) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": value ", i, " ", why));
    };
    if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) return bad("is not a number");
      out[i] = v.get<T>();
    } else if (t->dtype() == tensorflow::DT_BOOL) {
      if (!v.is_boolean()) return bad("is not true/false");
      out[i] = v.get<bool>() ? 1 : 0;
    } else {
      if (!v.is_number_integer()) return bad("is not an integer");
      const bool fits = v.is_number_unsigned()
                            ? v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
                            : v.get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                                  v.get<int64_t>() <= static_cast<int64_t>(std::numeric_limits<T>::max());
      if (!fits) return bad("is out of range");
      out[i] = static_cast<T>(v.is_number_unsigned() ? v.get<uint64_t>()
                                                     : static_cast<uint64_t>(v.get<int64_t>()));
    }
  }
  return absl::OkStatus();
}

// Structural UTF-8 check (lead byte + continuation bytes). Output is dumped with
// replacement of anything stricter checks reject, so this only picks the encoding.
bool IsUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra = -1;
    if (c < 0x80) extra = 0;
    else if ((c & 0xe0) == 0xc0) extra = 1;
    else if ((c & 0xf0) == 0xe0) extra = 2;
    else if ((c & 0xf8) == 0xf0) extra = 3;
    if (extra < 0 || s.size() - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
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
        const json& v = values[i];
        if (v.is_string()) {
          t.strings()[i] = v.get<std::string>();
        } else if (v.is_object() && v.contains("b64") && v["b64"].is_string()) {
          // Binary strings (serialized tf.Examples) as TF Serving's REST API
          // writes them: {"b64": "..."}.
          if (!absl::Base64Unescape(v["b64"].get<std::string>(), &t.strings()[i])) {
            return absl::InvalidArgumentError(absl::StrCat(what, ": value ", i, " is not base64"));
          }
        } else {
          return absl::InvalidArgumentError(what + ": values must be strings or {\"b64\": ...}");
        }
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
    case tensorflow::DT_STRING: {
      values = json::array();
      for (const std::string& v : t.strings()) {
        // Valid UTF-8 prints as is; anything else as {"b64": ...}.
        if (IsUtf8(v)) {
          values.push_back(v);
        } else {
          values.push_back({{"b64", absl::Base64Escape(v)}});
        }
      }
      break;
    }
    default: values = nullptr; break;
  }
  return {{"dtype", DataTypeName(t.dtype())}, {"shape", t.shape().dims()}, {"values", values}};
}

}  // namespace swapserve::cli
