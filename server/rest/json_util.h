// Pieces shared by the REST JSON codec (json_tensor.cc, json_output.cc):
// parsing a body as TF Serving does (RapidJSON, NaN/Infinity literals accepted)
// within our bounds (depth, UTF-8), TF Serving's error-message forms, the
// {"b64"} convention and the number/string writers. Internal to server/rest.
// Stateless, thread-safe.
#ifndef SWAPSERVE_SERVER_REST_JSON_UTIL_H_
#define SWAPSERVE_SERVER_REST_JSON_UTIL_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "tensorflow/core/framework/types.pb.h"

namespace swapserve::server::rest::internal {

// RapidJSON, as TF Serving parses REST bodies: ~8x faster than nlohmann's DOM
// on predict bodies (bench/README.md), and its number and NaN rules are TF
// Serving's by construction.
using JsonValue = rapidjson::Value;
using JsonDocument = rapidjson::Document;

// Parses a body that must be one JSON object. Accepts NaN, Inf and Infinity
// (each optionally with '-') as numbers, as TF Serving does; refuses nesting
// deeper than kMaxJsonDepth and invalid UTF-8. Parse errors read as TF
// Serving's: "JSON Parse error: <what> at offset: <n>".
absl::Status ParseBody(absl::string_view body, JsonDocument* doc);

// The member `key` of object `v`, or null when absent (the first of
// duplicates, as in TF Serving).
const JsonValue* FindMember(const JsonValue& v, absl::string_view key);
inline absl::string_view StringOf(const JsonValue& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}
// A JSON number written without fraction or exponent (that fit 64 bits).
inline bool IsInteger(const JsonValue& v) {
  return v.IsNumber() && !v.IsDouble();
}

// TF's DataTypeString ("float", "int32", ...), used in TF Serving's messages.
std::string DtypeString(tensorflow::DataType dtype);
// "Null", "True", "Number", ... as TF Serving names JSON types.
const char* JsonTypeString(const JsonValue& v);
// The value as compact JSON for a message, truncated after a few hundred bytes.
std::string ValueString(const JsonValue& v);

absl::Status TypeError(const JsonValue& v, tensorflow::DataType dtype);
absl::Status LossyError(const JsonValue& v, absl::string_view target);
// "JSON Value: <v> <args...>".
template <typename... Args>
absl::Status FormatError(const JsonValue& v, const Args&... args) {
  return absl::InvalidArgumentError(
      absl::StrCat("JSON Value: ", ValueString(v), " ", args...));
}
// "<context> Error: <status>", keeping the code.
absl::Status Wrap(absl::string_view context, const absl::Status& status);

// {"b64": "<string>"} and nothing else.
bool IsBase64Object(const JsonValue& v);
absl::Status DecodeBase64(const JsonValue& v, std::string* out);

// |v| of a JSON integer.
uint64_t Magnitude(const JsonValue& v);
// TF Serving's IsLosslessDecimal: integers up to 2^digits - 1 in magnitude,
// finite decimals inside the type's range, NaN and infinities.
template <typename T>
bool IsLossless(const JsonValue& v) {
  if (IsInteger(v)) {
    return Magnitude(v) <= (uint64_t{1} << std::numeric_limits<T>::digits) - 1;
  }
  const double d = v.GetDouble();
  return !std::isfinite(d) || (d <= std::numeric_limits<T>::max() &&
                               d >= std::numeric_limits<T>::lowest());
}

// Sets the request's signature name from "signature_name" when present.
template <typename Request>
absl::Status FillSignature(const JsonValue& doc, Request* request) {
  const JsonValue* name = FindMember(doc, "signature_name");
  if (name == nullptr) return absl::OkStatus();
  if (!name->IsString()) {
    return FormatError(doc,
                       "not formatted correctly. 'signature_name' key must be "
                       "a string value.");
  }
  request->mutable_model_spec()->set_signature_name(std::string(StringOf(*name)));
  return absl::OkStatus();
}

// Shortest round-trip digits in printf-%g style with ".0" added to whole
// numbers (TF Serving's WriteDecimal); NaN, Infinity, -Infinity. `is_float`
// picks the shortest form that round-trips through float rather than double.
void AppendDecimal(std::string* out, double v, bool is_float);
// A JSON string literal of valid UTF-8 `s`.
void AppendQuoted(std::string* out, absl::string_view s);
// A string element: {"b64": ...} when `as_bytes` or when `s` is not valid
// UTF-8 (a JSON document cannot hold it raw), else a string literal.
void AppendStringValue(std::string* out, absl::string_view s, bool as_bytes);
bool IsValidUtf8(absl::string_view s);

}  // namespace swapserve::server::rest::internal

#endif  // SWAPSERVE_SERVER_REST_JSON_UTIL_H_
