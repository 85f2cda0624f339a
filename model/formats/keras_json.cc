#include "model/formats/keras_json.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace swapserve {
namespace {

using json = nlohmann::json;

// Rewrites NaN/Infinity outside strings into values nlohmann::json accepts.
std::string ReplacePythonConstants(absl::string_view text) {
  constexpr absl::string_view kNaN = "NaN", kInfinity = "Infinity";
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out += c;
    } else if (text.substr(i, kNaN.size()) == kNaN) {
      out += "null";
      i += kNaN.size() - 1;
    } else if (text.substr(i, kInfinity.size()) == kInfinity) {
      out += "1.7976931348623157e308";  // A preceding '-' is already copied.
      i += kInfinity.size() - 1;
    } else {
      out += c;
    }
  }
  return out;
}

constexpr size_t kSnippetChars = 120;

// Like dump(), but stops early, and never recurses deeper than a few levels.
void AppendSnippet(const json& value, int depth, std::string* out) {
  if (!value.is_structured()) {
    *out += value.dump(-1, ' ', false, json::error_handler_t::replace);
    return;
  }
  const bool is_object = value.is_object();
  if (depth >= 4) {
    *out += is_object ? "{...}" : "[...]";
    return;
  }
  *out += is_object ? '{' : '[';
  bool first = true;
  for (auto it = value.begin();
       it != value.end() && out->size() <= kSnippetChars; ++it) {
    if (!first) *out += ',';
    first = false;
    if (is_object) absl::StrAppend(out, "\"", it.key(), "\":");
    AppendSnippet(*it, depth + 1, out);
  }
  *out += is_object ? '}' : ']';
}

}  // namespace

absl::StatusOr<json> ParseKerasJson(absl::string_view text,
                                    absl::string_view what) {
  json parsed = json::parse(text.begin(), text.end(), nullptr,
                            /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    try {
      parsed = json::parse(ReplacePythonConstants(text));
    } catch (const json::exception& e) {  // Caught only for its message.
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": not valid JSON: ", e.what()));
    }
  }
  if (!JsonDepthWithin(parsed, kMaxKerasJsonDepth)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": JSON nests deeper than ", kMaxKerasJsonDepth, " levels"));
  }
  return parsed;
}

const json* JsonMember(const json& value, const char* key) {
  if (!value.is_object()) return nullptr;
  auto it = value.find(key);
  return it == value.end() ? nullptr : &*it;
}

std::optional<std::string> JsonString(const json& value, const char* key) {
  const json* member = JsonMember(value, key);
  if (member == nullptr || !member->is_string()) return std::nullopt;
  return member->get<std::string>();
}

std::optional<int64_t> JsonInt(const json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    const double d = value.get<double>();
    // 2^62 keeps the conversion exact and well inside int64.
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 0x1p62) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

std::string JsonSnippet(const json& value) {
  std::string out;
  AppendSnippet(value, 0, &out);
  if (out.size() > kSnippetChars)
    out = absl::StrCat(out.substr(0, kSnippetChars), "...");
  return out;
}

bool JsonDepthWithin(const json& value, int max_depth) {
  if (!value.is_structured()) return true;
  if (max_depth <= 0) return false;
  for (const json& item : value) {
    if (!JsonDepthWithin(item, max_depth - 1)) return false;
  }
  return true;
}

}  // namespace swapserve
