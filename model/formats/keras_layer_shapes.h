// Output shapes of Keras layers, inferred from each layer's config JSON and the
// shapes of its inputs, as Keras's own compute_output_shape would give them;
// and the dtype a layer computes in. Used to synthesize the serving signature
// of a Keras model before any graph is built.
//
// Stateless functions, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_KERAS_LAYER_SHAPES_H_
#define SWAPSERVE_MODEL_FORMATS_KERAS_LAYER_SHAPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "model/tensor.h"
#include "nlohmann/json.hpp"

namespace swapserve {

// A shape as Keras knows it: -1 for an unknown dimension (the batch, usually),
// nullopt when even the rank is unknown.
using KerasShape = std::optional<std::vector<int64_t>>;

// "[-1,12]", or "<unknown rank>".
std::string KerasShapeString(const KerasShape& shape);

// The output shape of one call of a layer of class `class_name` with `config`
// on inputs of `input_shapes`. Layer classes it does not know, and inputs of
// unknown rank, give nullopt. A malformed config of a known layer (Dense
// without units, a window larger than its input, ...) is an error naming the
// layer.
//
// Known: InputLayer, Dense, Dropout, Activation, Flatten, Reshape, Conv2D,
// MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
// BatchNormalization, LayerNormalization, Add, Subtract, Multiply, Average,
// Maximum, Minimum, Concatenate, Embedding, Softmax, ReLU, LeakyReLU, ELU,
// PReLU.
absl::StatusOr<KerasShape> InferKerasOutputShape(
    absl::string_view class_name, const nlohmann::json& config,
    absl::Span<const KerasShape> input_shapes);

// The dtype a layer computes in, from the "dtype" of its config: a name such as
// "float32", a mixed-precision policy such as "mixed_float16", or a serialized
// DTypePolicy. DT_FLOAT when absent, as in Keras.
absl::StatusOr<DataType> KerasDtype(const nlohmann::json& config);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_KERAS_LAYER_SHAPES_H_
