#include "client/example_json.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace swapserve::cli {
namespace {

// Adds one JSON scalar to the feature, choosing the list kind from the first value.
absl::Status AddValue(const std::string& name, const nlohmann::json& v, tensorflow::Feature* f) {
  const bool fresh = f->kind_case() == tensorflow::Feature::KIND_NOT_SET;
  if (v.is_number_integer() && (fresh || f->has_int64_list())) {
    f->mutable_int64_list()->add_value(v.get<int64_t>());
  } else if (v.is_number() && (fresh || f->has_float_list())) {
    f->mutable_float_list()->add_value(v.get<float>());
  } else if (v.is_number() && f->has_int64_list() && f->int64_list().value_size() > 0) {
    // [1, 2.5]: the list turns out to be floats.
    tensorflow::FloatList floats;
    for (int64_t i : f->int64_list().value()) floats.add_value(static_cast<float>(i));
    floats.add_value(v.get<float>());
    *f->mutable_float_list() = floats;
  } else if (v.is_string() && (fresh || f->has_bytes_list())) {
    f->mutable_bytes_list()->add_value(v.get<std::string>());
  } else if (v.is_object() && v.size() == 1 && v.contains("b64") && v["b64"].is_string() &&
             (fresh || f->has_bytes_list())) {
    std::string bytes;
    if (!absl::Base64Unescape(v["b64"].get<std::string>(), &bytes)) {
      return absl::InvalidArgumentError(absl::StrCat("feature '", name, "': invalid base64"));
    }
    f->mutable_bytes_list()->add_value(bytes);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "feature '", name, "': ", v.dump(), " cannot be a value here (numbers and strings, "
        "one kind per feature)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<tensorflow::Example> ExampleFromJson(const nlohmann::json& j) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("an example must be a JSON object, got ", j.dump()));
  }
  tensorflow::Example example;
  for (const auto& [name, value] : j.items()) {
    tensorflow::Feature& f = (*example.mutable_features()->mutable_feature())[name];
    if (value.is_array()) {
      for (const auto& v : value) {
        absl::Status s = AddValue(name, v, &f);
        if (!s.ok()) return s;
      }
    } else {
      absl::Status s = AddValue(name, value, &f);
      if (!s.ok()) return s;
    }
  }
  return example;
}

}  // namespace swapserve::cli
