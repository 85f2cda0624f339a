// Responses -> JSON (see json_tensor.h): predict outputs in row or columnar
// form, classification and regression results, with TF Serving's number and
// "_bytes" rules. Stateless, thread-safe.
#include <algorithm>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/tensor.h"
#include "model/tensor_proto.h"
#include "model/util/status_macros.h"
#include "server/rest/json_tensor.h"
#include "server/rest/json_util.h"

namespace swapserve::server::rest {
namespace {

using internal::AppendDecimal;
using internal::AppendQuoted;
using internal::AppendStringValue;
using internal::DtypeString;
using tensorflow::TensorProto;

// One named output, decoded from typed fields or tensor_content.
struct Output {
  std::string name;
  Tensor tensor;
  bool as_bytes;  // DT_STRING named "*_bytes": written as {"b64": ...}.
};

template <typename T>
T At(const Tensor& t, int64_t i) {
  return t.data<T>()[i];
}

void AppendElement(std::string* out, const Output& o, int64_t i) {
  const Tensor& t = o.tensor;
  switch (t.dtype()) {
    case tensorflow::DT_FLOAT:
      return AppendDecimal(out, At<float>(t, i), true);
    case tensorflow::DT_DOUBLE:
      return AppendDecimal(out, At<double>(t, i), false);
    case tensorflow::DT_HALF:
      return AppendDecimal(out, static_cast<float>(At<Eigen::half>(t, i)),
                           true);
    case tensorflow::DT_BFLOAT16:
      return AppendDecimal(out, static_cast<float>(At<Eigen::bfloat16>(t, i)),
                           true);
    case tensorflow::DT_INT8:
      return absl::StrAppend(out, At<int8_t>(t, i));
    case tensorflow::DT_INT16:
      return absl::StrAppend(out, At<int16_t>(t, i));
    case tensorflow::DT_INT32:
      return absl::StrAppend(out, At<int32_t>(t, i));
    case tensorflow::DT_INT64:
      return absl::StrAppend(out, At<int64_t>(t, i));
    case tensorflow::DT_UINT8:
      return absl::StrAppend(out, At<uint8_t>(t, i));
    case tensorflow::DT_UINT16:
      return absl::StrAppend(out, At<uint16_t>(t, i));
    case tensorflow::DT_UINT32:
      return absl::StrAppend(out, At<uint32_t>(t, i));
    case tensorflow::DT_UINT64:
      return absl::StrAppend(out, At<uint64_t>(t, i));
    case tensorflow::DT_BOOL:
      out->append(At<uint8_t>(t, i) != 0 ? "true" : "false");
      return;
    case tensorflow::DT_STRING:
      return AppendStringValue(out, t.strings()[i], o.as_bytes);
    default:  // Refused by Decode().
      out->append("null");
      return;
  }
}

// The values from dimension `dim` on, nested as the shape says; a scalar
// (nothing left to nest) is written bare.
void AppendNested(std::string* out, const Output& o, int dim, int64_t* next) {
  const TensorShape& shape = o.tensor.shape();
  if (dim >= shape.rank()) return AppendElement(out, o, (*next)++);
  out->push_back('[');
  for (int64_t i = 0; i < shape.dim(dim); ++i) {
    if (i > 0) out->push_back(',');
    AppendNested(out, o, dim + 1, next);
  }
  out->push_back(']');
}

absl::StatusOr<std::vector<Output>> Decode(
    const google::protobuf::Map<std::string, TensorProto>& outputs) {
  if (outputs.empty()) {
    return absl::InvalidArgumentError(
        "Cannot convert empty tensor map to JSON");
  }
  std::vector<Output> decoded;
  for (const auto& [name, proto] : outputs) {
    if (!IsSupportedDataType(proto.dtype())) {
      return absl::InvalidArgumentError(
          absl::StrCat("Failed to write JSON value for tensor type: ",
                       DtypeString(proto.dtype()), " (output ", name, ")"));
    }
    absl::StatusOr<Tensor> tensor = TensorFromProto(proto);
    if (!tensor.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Tensor name: ", name, ": ", tensor.status().message()));
    }
    const bool as_bytes = proto.dtype() == tensorflow::DT_STRING &&
                          absl::EndsWith(name, "_bytes");
    decoded.push_back({name, *std::move(tensor), as_bytes});
  }
  // Protobuf maps have no order; the JSON gets a stable one.
  std::sort(decoded.begin(), decoded.end(),
            [](const Output& a, const Output& b) { return a.name < b.name; });
  return decoded;
}

absl::StatusOr<std::string> RowJson(const std::vector<Output>& outputs) {
  int64_t batch = -1;
  for (const Output& o : outputs) {
    if (o.tensor.shape().rank() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Tensor name: ", o.name, " has no shape information "));
    }
    const int64_t rows = o.tensor.shape().dim(0);
    if (batch >= 0 && rows != batch) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Tensor name: ", o.name, " has inconsistent batch size: ", rows,
          " expecting: ", batch));
    }
    batch = rows;
  }
  const bool objects = outputs.size() > 1;
  std::vector<int64_t> next(outputs.size(), 0);
  std::string out = "{\"predictions\":[";
  for (int64_t row = 0; row < batch; ++row) {
    if (row > 0) out.push_back(',');
    if (objects) out.push_back('{');
    for (size_t k = 0; k < outputs.size(); ++k) {
      if (objects) {
        if (k > 0) out.push_back(',');
        AppendQuoted(&out, outputs[k].name);
        out.push_back(':');
      }
      AppendNested(&out, outputs[k], 1, &next[k]);
    }
    if (objects) out.push_back('}');
  }
  out.append("]}");
  return out;
}

std::string ColumnarJson(const std::vector<Output>& outputs) {
  const bool objects = outputs.size() > 1;
  std::string out = "{\"outputs\":";
  if (objects) out.push_back('{');
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (objects) {
      if (k > 0) out.push_back(',');
      AppendQuoted(&out, outputs[k].name);
      out.push_back(':');
    }
    int64_t next = 0;
    AppendNested(&out, outputs[k], 0, &next);
  }
  if (objects) out.push_back('}');
  out.push_back('}');
  return out;
}

}  // namespace

absl::StatusOr<std::string> MakeJsonFromTensors(
    const google::protobuf::Map<std::string, TensorProto>& outputs,
    JsonFormat format) {
  ASSIGN_OR_RETURN(const std::vector<Output> decoded, Decode(outputs));
  if (format == JsonFormat::kRow) return RowJson(decoded);
  return ColumnarJson(decoded);
}

absl::StatusOr<std::string> MakeJsonFromClassificationResult(
    const tensorflow::serving::ClassificationResult& result) {
  if (result.classifications_size() == 0) {
    return absl::InvalidArgumentError(
        "Cannot convert empty ClassificationResults to JSON");
  }
  std::string out = "{\"results\":[";
  for (int i = 0; i < result.classifications_size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('[');
    const auto& classes = result.classifications(i).classes();
    for (int j = 0; j < classes.size(); ++j) {
      if (j > 0) out.push_back(',');
      out.push_back('[');
      AppendStringValue(&out, classes[j].label(), /*as_bytes=*/false);
      out.push_back(',');
      AppendDecimal(&out, classes[j].score(), /*is_float=*/true);
      out.push_back(']');
    }
    out.push_back(']');
  }
  out.append("]}");
  return out;
}

absl::StatusOr<std::string> MakeJsonFromRegressionResult(
    const tensorflow::serving::RegressionResult& result) {
  if (result.regressions_size() == 0) {
    return absl::InvalidArgumentError(
        "Cannot convert empty RegressionResults to JSON");
  }
  std::string out = "{\"results\":[";
  for (int i = 0; i < result.regressions_size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendDecimal(&out, result.regressions(i).value(), /*is_float=*/true);
  }
  out.append("]}");
  return out;
}

}  // namespace swapserve::server::rest
