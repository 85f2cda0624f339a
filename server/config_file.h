// Reading a --model_config_file (a ModelServerConfig), a
// --monitoring_config_file (a MonitoringConfig), a --batching_parameters_file
// (BatchingParameters) and an --ssl_config_file (SSLConfig), in protobuf text
// format, as tensorflow_model_server reads them. Stateless, thread-safe.
#ifndef SWAPSERVE_SERVER_CONFIG_FILE_H_
#define SWAPSERVE_SERVER_CONFIG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/batching/batcher.h"
#include "tensorflow_serving/config/model_server_config.pb.h"
#include "tensorflow_serving/config/monitoring_config.pb.h"
#include "tensorflow_serving/config/ssl_config.pb.h"
#include "tensorflow_serving/servables/tensorflow/session_bundle_config.pb.h"

namespace swapserve::server {

// Errors name the file, and for a parse error the line and column.
absl::StatusOr<tensorflow::serving::ModelServerConfig> ReadModelServerConfig(
    const std::string& path);

// The same, from text already read.
absl::StatusOr<tensorflow::serving::ModelServerConfig> ParseModelServerConfig(
    const std::string& text, const std::string& what);

// A MonitoringConfig; errors as for the model config.
absl::StatusOr<tensorflow::serving::MonitoringConfig> ReadMonitoringConfig(const std::string& path);

// A BatchingParameters file (--batching_parameters_file, a version's
// batching_params.pbtxt) as the options for this machine's cores, with TF
// Serving's defaults and checks; errors as for the model config, or prefixed
// with the path.
absl::StatusOr<batching::BatchingOptions> ReadBatchingOptions(const std::string& path);

// An SSLConfig with server_key and server_cert set, and custom_ca when
// client_verify is; errors as for the model config. The PEM contents are
// checked by the TLS context (rest/tls_context.h), not here.
absl::StatusOr<tensorflow::serving::SSLConfig> ReadSslConfig(const std::string& path);

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_CONFIG_FILE_H_
