// Shared pieces of the REST JSON codec (see json_util.h). Stateless,
// thread-safe.
#include "server/rest/json_util.h"

#include <charconv>
#include <exception>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "model/tensor.h"
#include "model/util/status_macros.h"
#include "server/rest/json_tensor.h"

namespace swapserve::server::rest::internal {
namespace {

constexpr size_t kMaxValueInMessage = 256;

// --- Parsing -----------------------------------------------------------------

// A NaN/Infinity literal the pre-pass replaced by the string literal with this
// ordinal (counting every string literal, keys included, in document order).
struct NonFinite {
  size_t ordinal;
  double value;
};

struct Literal {
  absl::string_view text;
  double value;
};

// The spellings rapidjson's kParseNanAndInfFlag (TF Serving's parser) accepts,
// longest first.
constexpr Literal kNonFiniteLiterals[] = {
    {"-Infinity", -std::numeric_limits<double>::infinity()},
    {"Infinity", std::numeric_limits<double>::infinity()},
    {"-Inf", -std::numeric_limits<double>::infinity()},
    {"Inf", std::numeric_limits<double>::infinity()},
    {"-NaN", std::numeric_limits<double>::quiet_NaN()},
    {"NaN", std::numeric_limits<double>::quiet_NaN()},
};

bool EndsToken(absl::string_view body, size_t i) {
  return i >= body.size() || absl::string_view(" \t\r\n,]}:").find(body[i]) !=
                                 absl::string_view::npos;
}

// Scans `body` outside string literals: checks the depth and rewrites each
// NaN/Infinity literal into a string literal of the same length (so parse error
// offsets stay right), recorded in `marks`. `rewritten` stays empty when there
// is nothing to rewrite.
absl::Status PrePass(absl::string_view body, std::string* rewritten,
                     std::vector<NonFinite>* marks) {
  size_t ordinal = 0;
  int depth = 0;
  for (size_t i = 0; i < body.size();) {
    const char c = body[i];
    if (c == '"') {
      ++ordinal;
      for (++i; i < body.size() && body[i] != '"'; ++i) {
        if (body[i] == '\\') ++i;
      }
      ++i;
      continue;
    }
    if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return absl::InvalidArgumentError(
            absl::StrCat("JSON Parse error: nesting deeper than ",
                         kMaxJsonDepth, " levels at offset: ", i));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == 'N' || c == 'I' || c == '-') {
      for (const Literal& lit : kNonFiniteLiterals) {
        if (!absl::StartsWith(body.substr(i), lit.text) ||
            !EndsToken(body, i + lit.text.size())) {
          continue;
        }
        if (rewritten->empty()) rewritten->assign(body.data(), body.size());
        (*rewritten)[i] = '"';
        (*rewritten)[i + lit.text.size() - 1] = '"';
        marks->push_back({ordinal++, lit.value});
        i += lit.text.size() - 1;
        break;
      }
    }
    ++i;
  }
  return absl::OkStatus();
}

// Builds the DOM; turns the pre-pass's marked strings back into numbers and
// keeps a second depth bound (the pre-pass's is the one that reports).
class BoundedSax {
 public:
  BoundedSax(json* root, const std::vector<NonFinite>* marks)
      : dom_(*root, /*allow_exceptions=*/false), marks_(marks) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) {
    return dom_.number_integer(v);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    return dom_.number_unsigned(v);
  }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return dom_.number_float(v, s);
  }
  bool string(json::string_t& s) {
    const NonFinite* mark = NextMark();
    return mark ? dom_.number_float(mark->value, s) : dom_.string(s);
  }
  bool binary(json::binary_t& b) { return dom_.binary(b); }
  bool start_object(std::size_t n) { return Enter() && dom_.start_object(n); }
  bool key(json::string_t& s) {
    if (NextMark() != nullptr) {
      error_ = "NaN/Infinity cannot be an object key";
      return false;
    }
    return dom_.key(s);
  }
  bool end_object() { return --depth_, dom_.end_object(); }
  bool start_array(std::size_t n) { return Enter() && dom_.start_array(n); }
  bool end_array() { return --depth_, dom_.end_array(); }
  template <typename Exception>
  bool parse_error(std::size_t position, const std::string&,
                   const Exception& ex) {
    absl::string_view what = ex.what();
    const size_t bracket = what.find("] ");
    if (bracket != absl::string_view::npos) what.remove_prefix(bracket + 2);
    error_ = absl::StrCat(what, " at offset: ", position);
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  bool Enter() {
    if (++depth_ <= kMaxJsonDepth) return true;
    error_ = "nesting too deep";
    return false;
  }
  const NonFinite* NextMark() {
    const size_t ordinal = strings_++;
    if (next_ < marks_->size() && (*marks_)[next_].ordinal == ordinal) {
      return &(*marks_)[next_++];
    }
    return nullptr;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const std::vector<NonFinite>* marks_;
  size_t next_ = 0;
  size_t strings_ = 0;
  int depth_ = 0;
  std::string error_;
};

// For messages: compact, NaN/Infinity as TF Serving spells them, truncated.
void AppendValue(std::string* out, const json& v) {
  if (out->size() > kMaxValueInMessage) return;
  if (v.is_number_float()) return AppendDecimal(out, v.get<double>(), false);
  if (v.is_string()) {
    // Cut long strings at a character boundary: the message may go into JSON.
    absl::string_view text = v.get_ref<const std::string&>();
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
  if (!v.is_structured()) {
    out->append(v.dump());
    return;
  }
  out->push_back(v.is_array() ? '[' : '{');
  bool first = true;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!first) out->push_back(',');
    first = false;
    if (v.is_object()) AppendQuoted(out, it.key()), out->push_back(':');
    AppendValue(out, *it);
    if (out->size() > kMaxValueInMessage) {
      out->append("...");
      return;
    }
  }
  out->push_back(v.is_array() ? ']' : '}');
}

}  // namespace

absl::Status ParseBody(absl::string_view body, json* doc) {
  if (body.empty()) {
    return absl::InvalidArgumentError(
        "JSON Parse error: The document is empty");
  }
  std::string rewritten;
  std::vector<NonFinite> marks;
  RETURN_IF_ERROR(PrePass(body, &rewritten, &marks));
  const absl::string_view text = rewritten.empty() ? body : rewritten;
  BoundedSax sax(doc, &marks);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON Parse error: ", e.what()));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON Parse error: ", sax.error()));
  }
  if (!doc->is_object()) return FormatError(*doc, "Is not object");
  return absl::OkStatus();
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

const char* JsonTypeString(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "Null";
    case json::value_t::boolean:
      return v.get<bool>() ? "True" : "False";
    case json::value_t::object:
      return "Object";
    case json::value_t::array:
      return "Array";
    case json::value_t::string:
      return "String";
    default:
      return "Number";
  }
}

std::string ValueString(const json& v) {
  std::string s;
  AppendValue(&s, v);
  return s;
}

absl::Status TypeError(const json& v, tensorflow::DataType dtype) {
  return absl::InvalidArgumentError(
      absl::StrCat("JSON Value: ", ValueString(v), " Type: ", JsonTypeString(v),
                   " is not of expected type: ", DtypeString(dtype)));
}

absl::Status LossyError(const json& v, absl::string_view target) {
  return absl::InvalidArgumentError(
      absl::StrCat("Cannot convert JSON value: ", ValueString(v), " to ",
                   target, " without loss of precision."));
}

absl::Status Wrap(absl::string_view context, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(context, " Error: ", status.ToString()));
}

bool IsBase64Object(const json& v) {
  if (!v.is_object() || v.size() != 1) return false;
  const auto it = v.find("b64");
  return it != v.end() && it->is_string();
}

absl::Status DecodeBase64(const json& v, std::string* out) {
  if (!IsBase64Object(v)) {
    return FormatError(v, "not formatted correctly for base64 data");
  }
  if (!absl::Base64Unescape(v["b64"].get_ref<const std::string&>(), out)) {
    return absl::InvalidArgumentError("Unable to base64 decode");
  }
  return absl::OkStatus();
}

uint64_t Magnitude(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  const int64_t i = v.get<int64_t>();
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
