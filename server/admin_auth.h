// AdminAuth: the --admin_token_file bearer token that every call changing what
// is served must carry — checkpoint Pin/Unpin/Rollback and
// HandleReloadConfigRequest over gRPC, the checkpoint routes' POSTs over REST
// — as `authorization: Bearer <token>` (gRPC metadata or HTTP header). A call
// without it is UNAUTHENTICATED (HTTP 401), one with another token
// PERMISSION_DENIED (403). Read-only calls never need it. Without a token file
// every call is let through, as TF Serving does (the daemon logs that once).
//
// The presented token is compared in constant time: both sides are hashed
// (SHA-256) and the digests compared with CRYPTO_memcmp, so neither the
// token's bytes nor its length can be learnt from response times.
//
// Thread safety: immutable after construction; Check() is thread-safe.
#ifndef SWAPSERVE_SERVER_ADMIN_AUTH_H_
#define SWAPSERVE_SERVER_ADMIN_AUTH_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace swapserve::server {

// The metadata key (gRPC, lower case) and HTTP header carrying the token.
inline constexpr char kAuthorizationKey[] = "authorization";

class AdminAuth {
 public:
  AdminAuth() = default;  // no token: every call is let through

  // The token in `path`: the file's contents without surrounding whitespace;
  // an unreadable or empty file, or one whose token has whitespace or control
  // characters inside, is an error naming the file.
  static absl::StatusOr<AdminAuth> FromFile(const std::string& path);

  bool required() const { return !digest_.empty(); }

  // OK when the call may change what is served: no token is required, or
  // `authorization` (the header's value, nullopt when absent) is
  // "Bearer <token>". `what` names the call in the refusal.
  absl::Status Check(std::optional<absl::string_view> authorization, absl::string_view what) const;

 private:
  std::string digest_;  // SHA-256 of the token; empty: none required
};

// The `authorization` value of a gRPC call's metadata (a ServerContext's),
// nullopt when absent.
template <typename Context>
std::optional<absl::string_view> AuthorizationOf(const Context& context) {
  auto it = context.client_metadata().find(kAuthorizationKey);
  if (it == context.client_metadata().end()) return std::nullopt;
  return absl::string_view(it->second.data(), it->second.size());
}

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_ADMIN_AUTH_H_
