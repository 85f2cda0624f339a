// Shared pieces of the REST JSON codec (see json_util.h). Stateless,
// thread-safe.
#include "server/rest/json_util.h"

#include <algorithm>
#include <cstdlib>
#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/tensor.h"
#include "model/util/status_macros.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "server/rest/json_tensor.h"

namespace swapserve::server::rest::internal {
namespace {

constexpr size_t kMaxValueInMessage = 256;

// --- Parsing -----------------------------------------------------------------

// TF Serving's flags, plus iterative parsing (no recursion, whatever the input)
// and UTF-8 validation (a string must be able to go back out as JSON).
constexpr unsigned kParseFlags =
    rapidjson::kParseNanAndInfFlag | rapidjson::kParseFullPrecisionFlag |
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

// RapidJSON 1.1.0's full-precision strtod leaves the zeros right after a
// decimal point out of its underflow check: `0.` and some 330 zeros (then any
// digits, or none) make it index its power-of-ten table billions of entries
// out of bounds, a crash of the daemon for one request (found by
// rest_json_fuzz, fuzz/crashes/rest_json_fuzz/). Such a literal is refused
// before RapidJSON sees it: more than kMaxFractionZeros zeros after `0.`, or a
// first digit below 1e-kMinDecimalExponent once its exponent is applied
// (under the smallest double, 4.9e-324, so nothing a JSON writer produces;
// they write 1e-300). Strings are skipped; malformed numbers are left to the
// parser.
//
// A zero written with many zeros or a large exponent (`0.` and 62 zeros,
// `0e-30`, `0e288`) takes the same slow path with a significand of 0, which it
// normalizes with clz(0): undefined behaviour (rest_json_fuzz again). Such a
// literal is replaced by `0.0` (`-0.0`) in a copy of the body: the same value.
constexpr int64_t kMaxFractionZeros = 300;
constexpr int64_t kMinDecimalExponent = 320;
// RapidJSON's exact fast path takes decimal exponents from -22 to 22.
constexpr int64_t kMaxFastZeroExponent = 20;

absl::Status CheckNumberLiterals(absl::string_view body, std::string* rewritten) {
  rewritten->clear();
  size_t copied = 0;  // body[0, copied) is in *rewritten
  const auto digit = [&](size_t i) { return i < body.size() && body[i] >= '0' && body[i] <= '9'; };
  size_t i = 0;
  while (i < body.size()) {
    const char c = body[i];
    if (c == '"') {  // skip the string, escapes included
      for (++i; i < body.size() && body[i] != '"'; ++i) {
        if (body[i] == '\\') ++i;
      }
      ++i;
      continue;
    }
    // NaN / Inf / Infinity (TF Serving's extension): RapidJSON 1.1.0 goes on
    // to read a fraction or an exponent after them, and then asserts, or
    // with NDEBUG computes with a NaN significand (`NaN.5`, `Infe-31`: found
    // by rest_json_fuzz). Refused here as RapidJSON refuses other bad values.
    if (c == 'N' || c == 'I' || (c == '-' && i + 1 < body.size() &&
                                 (body[i + 1] == 'N' || body[i + 1] == 'I'))) {
      const size_t word = i + (c == '-' ? 1 : 0);
      const absl::string_view rest = body.substr(word);
      const size_t length = absl::StartsWith(rest, "Infinity") ? 8
                            : absl::StartsWith(rest, "NaN") || absl::StartsWith(rest, "Inf") ? 3
                                                                                               : 0;
      const size_t end = word + length;
      if (length > 0 && end < body.size() &&
          (body[end] == '.' || body[end] == 'e' || body[end] == 'E' || digit(end))) {
        return absl::InvalidArgumentError(
            absl::StrCat("JSON Parse error: Invalid value. at offset: ", i));
      }
      i = length > 0 ? end : i + 1;
      continue;
    }
    if (c != '-' && !digit(i)) {
      ++i;
      continue;
    }
    const size_t start = i;
    if (body[i] == '-') ++i;
    const bool zero_integer = i < body.size() && body[i] == '0' && !digit(i + 1);
    while (digit(i)) ++i;
    int64_t zeros = 0;
    bool fraction_digits = false;  // a digit other than the zeros after '.'
    if (i < body.size() && body[i] == '.') {
      ++i;
      for (; i < body.size() && body[i] == '0'; ++i) ++zeros;
      fraction_digits = digit(i);
      while (digit(i)) ++i;
    }
    int64_t exponent = 0;
    if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
      ++i;
      const bool negative = i < body.size() && body[i] == '-';
      if (i < body.size() && (body[i] == '-' || body[i] == '+')) ++i;
      for (; digit(i); ++i) exponent = std::min<int64_t>(exponent * 10 + (body[i] - '0'), 1 << 20);
      if (negative) exponent = -exponent;
    }
    if (zero_integer && !fraction_digits &&
        zeros + std::abs(exponent) > kMaxFastZeroExponent) {
      // Only a whole literal may be replaced: `0e55e55` must not become
      // `0.0e55` (it is malformed, as RapidJSON would say).
      if (i < body.size() && !absl::ascii_isspace(static_cast<unsigned char>(body[i])) &&
          body[i] != ',' && body[i] != ']' && body[i] != '}') {
        return absl::InvalidArgumentError(
            absl::StrCat("JSON Parse error: Invalid value. at offset: ", start));
      }
      if (rewritten->empty()) rewritten->reserve(body.size());
      absl::StrAppend(rewritten, body.substr(copied, start - copied));
      rewritten->append(body[start] == '-' ? "-0.0" : "0.0");
      copied = i;
      continue;
    }
    if (zero_integer && zeros > 0 &&
        (zeros > kMaxFractionZeros || exponent - zeros - 1 < -kMinDecimalExponent)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "JSON Parse error: number with ", zeros,
          " zeros after its decimal point is out of range (write it with an exponent) at offset: ",
          start));
    }
    if (i == start) ++i;
  }
  if (copied > 0) absl::StrAppend(rewritten, body.substr(copied));
  return absl::OkStatus();
}

// Forwards the reader's events to the document, refusing nesting deeper than
// kMaxJsonDepth (the decoder recurses over the DOM). Stops the parse at the
// bracket that goes one level too deep.
class DepthBound {
 public:
  explicit DepthBound(JsonDocument* doc) : doc_(doc) {}

  bool Null() { return doc_->Null(); }
  bool Bool(bool b) { return doc_->Bool(b); }
  bool Int(int i) { return doc_->Int(i); }
  bool Uint(unsigned i) { return doc_->Uint(i); }
  bool Int64(int64_t i) { return doc_->Int64(i); }
  bool Uint64(uint64_t i) { return doc_->Uint64(i); }
  bool Double(double d) { return doc_->Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_->RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_->String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_->Key(s, n, copy);
  }
  bool StartObject() { return Enter() && doc_->StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    return --depth_, doc_->EndObject(n);
  }
  bool StartArray() { return Enter() && doc_->StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return --depth_, doc_->EndArray(n); }

  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (++depth_ <= kMaxJsonDepth) return true;
    too_deep_ = true;
    return false;
  }

  JsonDocument* doc_;
  int depth_ = 0;
  bool too_deep_ = false;
};

// For messages: compact, NaN/Infinity as TF Serving spells them, truncated.
void AppendValue(std::string* out, const JsonValue& v) {
  if (out->size() > kMaxValueInMessage) return;
  switch (v.GetType()) {
    case rapidjson::kNullType:
      out->append("null");
      return;
    case rapidjson::kFalseType:
      out->append("false");
      return;
    case rapidjson::kTrueType:
      out->append("true");
      return;
    case rapidjson::kNumberType:
      if (v.IsDouble()) return AppendDecimal(out, v.GetDouble(), false);
      if (v.IsUint64()) return absl::StrAppend(out, v.GetUint64());
      return absl::StrAppend(out, v.GetInt64());
    case rapidjson::kStringType: {
      // Cut long strings at a character boundary: the message may go into
      // JSON.
      absl::string_view text = StringOf(v);
      if (text.size() > kMaxValueInMessage) {
        size_t cut = kMaxValueInMessage;
        while (cut > 0 &&
               (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) {
          --cut;
        }
        text = text.substr(0, cut);
      }
      return AppendQuoted(out, text);
    }
    case rapidjson::kArrayType:
    case rapidjson::kObjectType:
      break;
  }
  const bool is_array = v.IsArray();
  out->push_back(is_array ? '[' : '{');
  const auto more = [&](bool first) {
    if (!first) out->push_back(',');
    return out->size() <= kMaxValueInMessage;
  };
  bool first = true;
  if (is_array) {
    for (const JsonValue& item : v.GetArray()) {
      if (!more(first)) {
        out->append("...");
        return;
      }
      first = false;
      AppendValue(out, item);
    }
  } else {
    for (const auto& member : v.GetObject()) {
      if (!more(first)) {
        out->append("...");
        return;
      }
      first = false;
      AppendQuoted(out, StringOf(member.name));
      out->push_back(':');
      AppendValue(out, member.value);
    }
  }
  if (out->size() > kMaxValueInMessage) {
    out->append("...");
    return;
  }
  out->push_back(is_array ? ']' : '}');
}

}  // namespace

absl::Status ParseBody(absl::string_view body, JsonDocument* doc) {
  std::string rewritten;  // the body with its slow zeros replaced, if it has any
  RETURN_IF_ERROR(CheckNumberLiterals(body, &rewritten));
  if (!rewritten.empty()) body = rewritten;
  rapidjson::MemoryStream bytes(body.data(), body.size());
  rapidjson::Reader reader;
  DepthBound bound(doc);
  const auto parse = [&](JsonDocument&) {
    return !reader.Parse<kParseFlags>(bytes, bound).IsError();
  };
  doc->Populate(parse);
  if (bound.too_deep()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON Parse error: nesting deeper than ", kMaxJsonDepth,
                     " levels at offset: ", reader.GetErrorOffset()));
  }
  if (reader.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON Parse error: ",
                     rapidjson::GetParseError_En(reader.GetParseErrorCode()),
                     " at offset: ", reader.GetErrorOffset()));
  }
  if (!doc->IsObject()) return FormatError(*doc, "Is not object");
  return absl::OkStatus();
}

const JsonValue* FindMember(const JsonValue& v, absl::string_view key) {
  const auto it = v.FindMember(JsonValue(rapidjson::StringRef(
      key.data(), static_cast<rapidjson::SizeType>(key.size()))));
  return it == v.MemberEnd() ? nullptr : &it->value;
}

// --- Messages ----------------------------------------------------------------

std::string DtypeString(tensorflow::DataType dtype) {
  switch (dtype) {
    case tensorflow::DT_FLOAT:
      return "float";
    case tensorflow::DT_DOUBLE:
      return "double";
    case tensorflow::DT_HALF:
      return "half";
    case tensorflow::DT_BFLOAT16:
      return "bfloat16";
    case tensorflow::DT_INT8:
      return "int8";
    case tensorflow::DT_INT16:
      return "int16";
    case tensorflow::DT_INT32:
      return "int32";
    case tensorflow::DT_INT64:
      return "int64";
    case tensorflow::DT_UINT8:
      return "uint8";
    case tensorflow::DT_UINT16:
      return "uint16";
    case tensorflow::DT_UINT32:
      return "uint32";
    case tensorflow::DT_UINT64:
      return "uint64";
    case tensorflow::DT_BOOL:
      return "bool";
    case tensorflow::DT_STRING:
      return "string";
    case tensorflow::DT_COMPLEX64:
      return "complex64";
    case tensorflow::DT_COMPLEX128:
      return "complex128";
    default:
      return DataTypeName(dtype);
  }
}

const char* JsonTypeString(const JsonValue& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "Null";
    case rapidjson::kFalseType:
      return "False";
    case rapidjson::kTrueType:
      return "True";
    case rapidjson::kObjectType:
      return "Object";
    case rapidjson::kArrayType:
      return "Array";
    case rapidjson::kStringType:
      return "String";
    case rapidjson::kNumberType:
      break;
  }
  return "Number";
}

std::string ValueString(const JsonValue& v) {
  std::string s;
  AppendValue(&s, v);
  return s;
}

absl::Status TypeError(const JsonValue& v, tensorflow::DataType dtype) {
  return absl::InvalidArgumentError(
      absl::StrCat("JSON Value: ", ValueString(v), " Type: ", JsonTypeString(v),
                   " is not of expected type: ", DtypeString(dtype)));
}

absl::Status LossyError(const JsonValue& v, absl::string_view target) {
  return absl::InvalidArgumentError(
      absl::StrCat("Cannot convert JSON value: ", ValueString(v), " to ",
                   target, " without loss of precision."));
}

absl::Status Wrap(absl::string_view context, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(context, " Error: ", status.ToString()));
}

bool IsBase64Object(const JsonValue& v) {
  if (!v.IsObject() || v.MemberCount() != 1) return false;
  const JsonValue* b64 = FindMember(v, "b64");
  return b64 != nullptr && b64->IsString();
}

absl::Status DecodeBase64(const JsonValue& v, std::string* out) {
  if (!IsBase64Object(v)) {
    return FormatError(v, "not formatted correctly for base64 data");
  }
  if (!absl::Base64Unescape(StringOf(*FindMember(v, "b64")), out)) {
    return absl::InvalidArgumentError("Unable to base64 decode");
  }
  return absl::OkStatus();
}

uint64_t Magnitude(const JsonValue& v) {
  if (v.IsUint64()) return v.GetUint64();
  const int64_t i = v.GetInt64();
  return i < 0 ? uint64_t{0} - static_cast<uint64_t>(i)
               : static_cast<uint64_t>(i);
}

// --- Writing -----------------------------------------------------------------

void AppendDecimal(std::string* out, double v, bool is_float) {
  if (std::isnan(v) || std::isinf(v)) {
    out->append(std::isnan(v) ? "NaN" : v < 0 ? "-Infinity" : "Infinity");
    return;
  }
  char buf[64];
  const std::to_chars_result r =
      is_float ? std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v),
                               std::chars_format::general)
               : std::to_chars(buf, buf + sizeof(buf), v,
                               std::chars_format::general);
  const absl::string_view digits(buf, r.ptr - buf);
  out->append(digits.data(), digits.size());
  // A decimal type reads back as one: 3.0, not 3 (TF Serving does the same).
  if (digits.find_first_of(".e") == absl::string_view::npos) {
    out->append(".0");
  }
}

void AppendQuoted(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out->append("\\u00");
          out->push_back(kHex[(c >> 4) & 0xf]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendStringValue(std::string* out, absl::string_view s, bool as_bytes) {
  if (!as_bytes && IsValidUtf8(s)) return AppendQuoted(out, s);
  out->append("{\"b64\":\"");
  out->append(absl::Base64Escape(s));
  out->append("\"}");
}

bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    unsigned char lo = 0x80, hi = 0xbf;  // Bounds of the second byte.
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      if (c == 0xe0) lo = 0xa0;  // Overlong.
      if (c == 0xed) hi = 0x9f;  // Surrogates.
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      if (c == 0xf0) lo = 0x90;  // Overlong.
      if (c == 0xf4) hi = 0x8f;  // Above U+10FFFF.
    } else {
      return false;
    }
    if (n - i <= static_cast<size_t>(extra)) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (int k = 2; k <= extra; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace swapserve::server::rest::internal
