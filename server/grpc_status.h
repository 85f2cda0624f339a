// absl::Status → grpc::Status. The numeric codes are the same (both follow
// google.rpc.Code), so the mapping is a cast; the message is kept.
#ifndef SWAPSERVE_SERVER_GRPC_STATUS_H_
#define SWAPSERVE_SERVER_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace swapserve::server {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_GRPC_STATUS_H_
