#include "model/ops/nn_common.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

// Bound on window sizes, strides, dilations, paddings and spatial input sizes,
// so that window arithmetic ((size - 1) * dilation + in + pads) cannot
// overflow.
constexpr int64_t kMaxWindowValue = int64_t{1} << 31;

const char* DimName(int dim) { return dim == 0 ? "height" : "width"; }

absl::Status ParseExplicitPaddings(const NodeAttrs& node, WindowAttrs& w) {
  ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                   node.GetIntList("explicit_paddings"));
  if (pads.size() != 8) {
    return node.Invalid(absl::StrCat(
        "explicit_paddings must have 8 entries, got ", pads.size()));
  }
  if (pads[0] != 0 || pads[1] != 0 || pads[6] != 0 || pads[7] != 0) {
    return node.Unsupported(absl::StrCat(
        "explicit_paddings in the batch and depth dimensions must be 0, got [",
        absl::StrJoin(pads, ","), "]"));
  }
  for (int dim = 0; dim < 2; ++dim) {
    for (int side = 0; side < 2; ++side) {
      int64_t p = pads[2 + 2 * dim + side];
      if (p < 0 || p > kMaxWindowValue) {
        return node.Invalid(absl::StrCat("explicit_paddings entry ", p, " for ",
                                         DimName(dim), " is out of range"));
      }
      w.explicit_pad[dim][side] = p;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status NodeLabel::CheckArity(absl::Span<const Tensor> inputs,
                                   const std::vector<Tensor>& outputs,
                                   size_t num_inputs,
                                   size_t num_outputs) const {
  if (inputs.size() != num_inputs) {
    return Invalid(
        absl::StrCat("expected ", num_inputs, " inputs, got ", inputs.size()));
  }
  if (outputs.size() != num_outputs) {
    return Invalid(absl::StrCat("expected ", num_outputs, " outputs, got ",
                                outputs.size()));
  }
  return absl::OkStatus();
}

absl::Status NodeLabel::CheckFloat(const Tensor& t, absl::string_view what,
                                   int min_rank, int max_rank) const {
  if (t.dtype() != tensorflow::DT_FLOAT) {
    return Invalid(absl::StrCat("input '", what, "' must be DT_FLOAT, got ",
                                DataTypeName(t.dtype())));
  }
  if (t.shape().rank() < min_rank || t.shape().rank() > max_rank) {
    std::string want = min_rank == max_rank
                           ? absl::StrCat(min_rank)
                           : absl::StrCat(min_rank, " to ", max_rank);
    return Invalid(absl::StrCat("input '", what, "' must have rank ", want,
                                ", got shape ", t.shape().DebugString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorShape> NodeLabel::MakeShape(std::vector<int64_t> dims,
                                                 absl::string_view what) const {
  absl::StatusOr<TensorShape> shape = TensorShape::Make(dims);
  if (!shape.ok()) {
    return Invalid(
        absl::StrCat(what, " [", absl::StrJoin(dims, ","), "] is too large"));
  }
  return shape;
}

absl::Status CheckFloatAttr(const NodeAttrs& node, absl::string_view attr) {
  if (!node.Has(attr)) return absl::OkStatus();
  ASSIGN_OR_RETURN(DataType type, node.GetType(attr));
  if (type != tensorflow::DT_FLOAT) {
    return node.Unsupported(absl::StrCat("attribute '", attr, "' is ",
                                         DataTypeName(type),
                                         "; only DT_FLOAT is supported"));
  }
  return absl::OkStatus();
}

absl::Status CheckNhwc(const NodeAttrs& node) {
  std::string format = node.GetStringOr("data_format", "NHWC");
  if (format != "NHWC") {
    return node.Unsupported(absl::StrCat("data_format '", format,
                                         "' is not supported; only NHWC is"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> ParseSpatialList(const NodeAttrs& node,
                                                      absl::string_view attr) {
  ASSIGN_OR_RETURN(std::vector<int64_t> v, node.GetIntList(attr));
  if (v.size() != 4) {
    return node.Invalid(absl::StrCat("attribute '", attr,
                                     "' must have 4 entries, got ", v.size()));
  }
  if (v[0] != 1 || v[3] != 1) {
    return node.Unsupported(
        absl::StrCat("attribute '", attr,
                     "' must be 1 in the batch and depth dimensions, got [",
                     absl::StrJoin(v, ","), "]"));
  }
  if (v[1] < 1 || v[2] < 1 || v[1] > kMaxWindowValue ||
      v[2] > kMaxWindowValue) {
    return node.Invalid(absl::StrCat("attribute '", attr,
                                     "' has an out-of-range entry: [",
                                     absl::StrJoin(v, ","), "]"));
  }
  return std::vector<int64_t>{v[1], v[2]};
}

absl::StatusOr<WindowAttrs> ParseWindowAttrs(const NodeAttrs& node,
                                             bool allow_explicit) {
  WindowAttrs w;
  ASSIGN_OR_RETURN(std::vector<int64_t> strides,
                   ParseSpatialList(node, "strides"));
  w.stride[0] = strides[0];
  w.stride[1] = strides[1];
  if (node.Has("dilations")) {
    ASSIGN_OR_RETURN(std::vector<int64_t> dilations,
                     ParseSpatialList(node, "dilations"));
    w.dilation[0] = dilations[0];
    w.dilation[1] = dilations[1];
  }
  ASSIGN_OR_RETURN(std::string padding, node.GetString("padding"));
  if (padding == "VALID") {
    w.padding = Padding::kValid;
  } else if (padding == "SAME") {
    w.padding = Padding::kSame;
  } else if (padding == "EXPLICIT" && allow_explicit) {
    w.padding = Padding::kExplicit;
    RETURN_IF_ERROR(ParseExplicitPaddings(node, w));
  } else {
    return node.Unsupported(
        absl::StrCat("padding '", padding, "' is not supported"));
  }
  return w;
}

absl::StatusOr<Window> MakeWindow(const NodeLabel& node,
                                  const WindowAttrs& attrs, int dim, int64_t in,
                                  int64_t size) {
  if (size < 1 || size > kMaxWindowValue || in > kMaxWindowValue) {
    return node.Invalid(absl::StrCat("unsupported ", DimName(dim), ": input ",
                                     in, ", window ", size));
  }
  Window w;
  w.in = in;
  w.size = size;
  w.stride = attrs.stride[dim];
  w.dilation = attrs.dilation[dim];
  const int64_t effective = (size - 1) * w.dilation + 1;
  switch (attrs.padding) {
    case Padding::kValid:
      w.out = (in - effective + w.stride) / w.stride;
      break;
    case Padding::kExplicit: {
      const int64_t before = attrs.explicit_pad[dim][0];
      const int64_t after = attrs.explicit_pad[dim][1];
      w.out = (in + before + after - effective + w.stride) / w.stride;
      w.pad_before = before;
      break;
    }
    case Padding::kSame: {
      w.out = (in + w.stride - 1) / w.stride;
      const int64_t pad_total =
          std::max<int64_t>((w.out - 1) * w.stride + effective - in, 0);
      w.pad_before = pad_total / 2;
      break;
    }
  }
  if (w.out < 0) {
    return node.Invalid(absl::StrCat(
        "computed output ", DimName(dim), " would be negative: input ", in,
        ", effective window ", effective, ", stride ", w.stride));
  }
  return w;
}

}  // namespace swapserve
