#include "server/admin_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/util/file.h"

namespace swapserve::server {
namespace {

constexpr uint64_t kMaxTokenFileBytes = 4096;

std::string Sha256(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace

absl::StatusOr<AdminAuth> AdminAuth::FromFile(const std::string& path) {
  std::string contents;
  if (absl::Status s = ReadFileToString(path, kMaxTokenFileBytes, &contents); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--admin_token_file ", path, ": ", s.message()));
  }
  const absl::string_view token = absl::StripAsciiWhitespace(contents);
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--admin_token_file ", path, " is empty"));
  }
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--admin_token_file ", path, ": the token has whitespace or control characters in it"));
    }
  }
  AdminAuth auth;
  auth.digest_ = Sha256(token);
  return auth;
}

absl::Status AdminAuth::Check(std::optional<absl::string_view> authorization,
                              absl::string_view what) const {
  if (!required()) return absl::OkStatus();
  constexpr absl::string_view kBearer = "Bearer ";
  if (!authorization.has_value() || !absl::StartsWithIgnoreCase(*authorization, kBearer)) {
    return absl::UnauthenticatedError(absl::StrCat(
        what, " changes what is served and needs 'authorization: Bearer <token>' (the token of "
              "swapserve's --admin_token_file)"));
  }
  const std::string presented = Sha256(authorization->substr(kBearer.size()));
  if (CRYPTO_memcmp(presented.data(), digest_.data(), digest_.size()) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, ": the bearer token is not swapserve's admin token"));
  }
  return absl::OkStatus();
}

}  // namespace swapserve::server
