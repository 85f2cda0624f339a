// swapserve.bench.v1.Echo: the transport floor benchmarks divide by (see
// protos/swapserve/bench/v1/echo.proto). Parses the PredictRequest like
// Predict does and answers its size; touches no model. Served only with
// --enable_echo. On gRPC's callback API, as PredictionService is, so the two
// pay the same transport. Thread-safe.
#ifndef SWAPSERVE_SERVER_ECHO_SERVICE_H_
#define SWAPSERVE_SERVER_ECHO_SERVICE_H_

#include "swapserve/bench/v1/echo.grpc.pb.h"

namespace swapserve::server {

class EchoServiceImpl final : public swapserve::bench::v1::Echo::CallbackService {
 public:
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const tensorflow::serving::PredictRequest* request,
                                 swapserve::bench::v1::EchoResponse* response) override {
    response->set_request_bytes(static_cast<int64_t>(request->ByteSizeLong()));
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_ECHO_SERVICE_H_
