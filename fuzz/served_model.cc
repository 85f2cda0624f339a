// See served_model.h.
#include "fuzz/served_model.h"

#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_support.h"
#include "model/loaded_model.h"

namespace swapserve::fuzz {

const server::ServableHandle& HalfPlusTwo() {
  static const server::ServableHandle* handle = [] {
    const std::string path = Fixture("tf_serving/saved_model_half_plus_two_cpu/00000123");
    auto model = LoadModel(path, {});
    if (!model.ok()) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), model.status().ToString().c_str());
      std::abort();
    }
    auto* made = new server::ServableHandle;
    made->name = "half_plus_two";
    made->version = 123;
    made->servable = std::make_shared<const Servable>(*std::move(model));
    return made;
  }();
  return *handle;
}

}  // namespace swapserve::fuzz
