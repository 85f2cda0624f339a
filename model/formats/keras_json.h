// Reading the JSON Keras writes: the text Python's json.dumps produces, and
// type-checked accessors that answer "absent" instead of throwing when a value
// is missing or of the wrong type (nlohmann::json throws on both).
//
// Stateless functions, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_KERAS_JSON_H_
#define SWAPSERVE_MODEL_FORMATS_KERAS_JSON_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace swapserve {

// Deepest nesting accepted. Keras configs nest about a dozen levels; the limit
// keeps recursive code (copies, dump()) from running out of stack on hostile
// input.
inline constexpr int kMaxKerasJsonDepth = 256;

// Parses JSON text as Python's json.dumps writes it: bare NaN becomes null and
// ±Infinity the largest finite double, which strict JSON parsers refuse.
// Refuses nesting deeper than kMaxKerasJsonDepth. `what` names the text in
// errors ("model.h5: attribute model_config").
absl::StatusOr<nlohmann::json> ParseKerasJson(absl::string_view text,
                                              absl::string_view what);

// The member `key` of an object; nullptr when `value` is not an object or has
// no such member.
const nlohmann::json* JsonMember(const nlohmann::json& value, const char* key);

// The member `key` when it is a string.
std::optional<std::string> JsonString(const nlohmann::json& value,
                                      const char* key);

// An integer, or a float with an integral value (Python sometimes writes 2.0);
// nullopt for anything else or for values outside int64.
std::optional<int64_t> JsonInt(const nlohmann::json& value);

// The value as JSON text, cut to about 120 characters, for error messages.
std::string JsonSnippet(const nlohmann::json& value);

// True when `value` nests no deeper than `max_depth` arrays/objects. Recurses
// at most `max_depth` levels, so it is safe on any value.
bool JsonDepthWithin(const nlohmann::json& value, int max_depth);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_KERAS_JSON_H_
