// The graph importer on hand-written GraphDefs: nested function calls inline, the
// plan prunes to the signature, constants fold, and malformed graphs are errors.
#include "model/graph/plan_builder.h"

#include "absl/strings/match.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/kernel_test_util.h"

namespace swapserve {
namespace {

using ::swapserve::testing::ExpectFloats;
using ::swapserve::testing::Floats;

// y = inner(outer(x)) where outer calls inner through a PartitionedCall and inner
// computes arg * 2 + 1 with constants (1 is folded from 0.5 + 0.5).
constexpr char kNested[] = R"pb(
  node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
  node { name: "call" op: "StatefulPartitionedCall" input: "x"
         attr { key: "f" value { func { name: "outer" } } } }
  node { name: "y" op: "Identity" input: "call:0" }
  node { name: "unused" op: "Mul" input: "x" input: "x" }
  library {
    function {
      signature { name: "outer" input_arg { name: "a" } output_arg { name: "out" } }
      node_def { name: "c" op: "PartitionedCall" input: "a"
                 attr { key: "f" value { func { name: "inner" } } } }
      ret { key: "out" value: "c:output:0" }
    }
    function {
      signature { name: "inner" input_arg { name: "v" } output_arg { name: "r" } }
      node_def { name: "two" op: "Const"
                 attr { key: "value" value { tensor { dtype: DT_FLOAT float_val: 2 } } } }
      node_def { name: "half" op: "Const"
                 attr { key: "value" value { tensor { dtype: DT_FLOAT float_val: 0.5 } } } }
      node_def { name: "one" op: "AddV2" input: "half:output:0" input: "half:output:0" }
      node_def { name: "m" op: "Mul" input: "v" input: "two:output:0" }
      node_def { name: "s" op: "AddV2" input: "m:z:0" input: "one:z:0" }
      ret { key: "r" value: "s:z:0" }
    }
  }
)pb";

tensorflow::SignatureDef Signature(const std::string& in, const std::string& out) {
  tensorflow::SignatureDef sig;
  auto& x = (*sig.mutable_inputs())["x"];
  x.set_name(in);
  x.set_dtype(tensorflow::DT_FLOAT);
  auto& y = (*sig.mutable_outputs())["y"];
  y.set_name(out);
  y.set_dtype(tensorflow::DT_FLOAT);
  sig.set_method_name("tensorflow/serving/predict");
  return sig;
}

absl::StatusOr<std::unique_ptr<Plan>> Build(const std::string& text,
                                            const tensorflow::SignatureDef& sig,
                                            tensorflow::GraphDef* graph) {
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, graph));
  auto flat = FlatGraph::Create(*graph);
  if (!flat.ok()) return flat.status();
  return BuildPlan(**flat, "serving_default", sig, [](const tensorflow::NodeDef& n)
                       -> absl::StatusOr<int> { return absl::NotFoundError(n.name()); });
}

TEST(PlanBuilderTest, InlinesNestedCallsPrunesAndFolds) {
  tensorflow::GraphDef graph;
  auto plan = Build(kNested, Signature("x:0", "y:0"), &graph);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // Only Mul and the final AddV2 remain: "unused" is pruned, "one" folded.
  EXPECT_EQ((*plan)->num_steps(), 2);
  WeightSet none({}, "none");
  auto out = (*plan)->Run(none, {Floats({3}, {0, 1, -2})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {3}, {1, 3, -3});  // 2x + 1
}

// x [1,2] times w [[1,-1],[2,-3]] = [5,-7]; + b [1,2] = [6,-5]; relu = [6,0].
constexpr char kDense[] = R"pb(
  node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
  node { name: "w" op: "Const" attr { key: "value" value { tensor {
         dtype: DT_FLOAT tensor_shape { dim { size: 2 } dim { size: 2 } }
         float_val: 1 float_val: -1 float_val: 2 float_val: -3 } } } }
  node { name: "b" op: "Const" attr { key: "value" value { tensor {
         dtype: DT_FLOAT tensor_shape { dim { size: 2 } } float_val: 1 float_val: 2 } } } }
  node { name: "mm" op: "MatMul" input: "x" input: "w"
         attr { key: "T" value { type: DT_FLOAT } } }
  node { name: "ba" op: "BiasAdd" input: "mm" input: "b"
         attr { key: "T" value { type: DT_FLOAT } } }
  node { name: "relu" op: "Relu" input: "ba" attr { key: "T" value { type: DT_FLOAT } } }
  node { name: "sum" op: "AddV2" input: "relu" input: "ba"
         attr { key: "T" value { type: DT_FLOAT } } }
)pb";

TEST(PlanBuilderTest, MatMulBiasAddReluBecomeOneFusedStep) {
  tensorflow::GraphDef graph;
  auto plan = Build(kDense, Signature("x:0", "relu:0"), &graph);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ((*plan)->num_steps(), 1);
  WeightSet none({}, "none");
  auto out = (*plan)->Run(none, {Floats({1, 2}, {1, 2})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 2}, {6, 0});
}

TEST(PlanBuilderTest, FusionStopsAtAValueWithOtherUsers) {
  // "ba" feeds both relu and sum: MatMul+BiasAdd fuse, Relu and AddV2 stay.
  // sum = relu + ba = [6,0] + [6,-5] = [12,-5].
  tensorflow::GraphDef graph;
  auto plan = Build(kDense, Signature("x:0", "sum:0"), &graph);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ((*plan)->num_steps(), 3);
  WeightSet none({}, "none");
  auto out = (*plan)->Run(none, {Floats({1, 2}, {1, 2})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 2}, {12, -5});
  // Fetching the BiasAdd itself: MatMul and BiasAdd still fuse, no activation.
  tensorflow::GraphDef graph2;
  auto fetched = Build(kDense, Signature("x:0", "ba:0"), &graph2);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ((*fetched)->num_steps(), 1);
  auto ba = (*fetched)->Run(none, {Floats({1, 2}, {1, 2})});
  ASSERT_TRUE(ba.ok()) << ba.status();
  ExpectFloats((*ba)[0], {1, 2}, {6, -5});
}

TEST(PlanBuilderTest, UnknownTensorAndUnsupportedOpAreErrors) {
  tensorflow::GraphDef graph;
  auto missing = Build(kNested, Signature("x:0", "nope:0"), &graph);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "'nope:0'")) << missing.status();

  tensorflow::GraphDef graph2;
  auto unsupported = Build(R"pb(
    node { name: "x" op: "Placeholder" }
    node { name: "y" op: "FancyOp" input: "x" })pb", Signature("x:0", "y:0"), &graph2);
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(unsupported.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(absl::StrContains(unsupported.status().message(),
                                "unsupported op 'FancyOp' at node 'y'"))
      << unsupported.status();
  EXPECT_TRUE(absl::StrContains(unsupported.status().message(), "serving_default"));
}

TEST(PlanBuilderTest, RecursiveFunctionIsAnErrorNotAStackOverflow) {
  tensorflow::GraphDef graph;
  auto plan = Build(R"pb(
    node { name: "x" op: "Placeholder" }
    node { name: "y" op: "f" input: "x" }
    library { function {
      signature { name: "f" input_arg { name: "a" } output_arg { name: "r" } }
      node_def { name: "again" op: "f" input: "a" }
      ret { key: "r" value: "again:r:0" } } })pb",
                    Signature("x:0", "y:0"), &graph);
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "nest deeper")) << plan.status();
}

TEST(PlanBuilderTest, CallFedItsOwnResultIsAnErrorNotAStackOverflow) {
  // F returns its argument; the call feeds F its own output.
  tensorflow::GraphDef graph;
  auto plan = Build(R"pb(
    node { name: "x" op: "Placeholder" }
    node { name: "c" op: "StatefulPartitionedCall" input: "c:0"
           attr { key: "f" value { func { name: "F" } } } }
    node { name: "y" op: "Identity" input: "c:0" }
    library { function {
      signature { name: "F" input_arg { name: "a" } output_arg { name: "r" } }
      ret { key: "r" value: "a" } } })pb",
                    Signature("x:0", "y:0"), &graph);
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "loops")) << plan.status();
}

TEST(PlanBuilderTest, HugeOutputIndexIsAnErrorNotAnAllocation) {
  tensorflow::GraphDef graph;
  auto plan = Build(R"pb(
    node { name: "x" op: "Placeholder" }
    node { name: "r" op: "Relu" input: "x" }
    node { name: "y" op: "Relu" input: "r:2000000000" })pb",
                    Signature("x:0", "y:0"), &graph);
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "uses output 2000000000"))
      << plan.status();
}

TEST(PlanBuilderTest, FeedThatNoOutputNeedsIsAccepted) {
  tensorflow::GraphDef graph;
  tensorflow::SignatureDef sig = Signature("x:0", "y:0");
  auto& extra = (*sig.mutable_inputs())["z"];
  extra.set_name("z:0");
  extra.set_dtype(tensorflow::DT_FLOAT);
  auto plan = Build(R"pb(
    node { name: "x" op: "Placeholder" }
    node { name: "z" op: "Placeholder" }
    node { name: "y" op: "Relu" input: "x" })pb", sig, &graph);
  ASSERT_TRUE(plan.ok()) << plan.status();
  WeightSet none({}, "none");
  auto out = (*plan)->Run(none, {Floats({1}, {-1}), Floats({1}, {5})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1}, {0});
}

TEST(PlanBuilderTest, UnfedPlaceholderAndCycleAreErrors) {
  tensorflow::GraphDef graph;
  auto unfed = Build(R"pb(
    node { name: "x" op: "Placeholder" }
    node { name: "z" op: "Placeholder" }
    node { name: "y" op: "AddV2" input: "x" input: "z" })pb",
                     Signature("x:0", "y:0"), &graph);
  ASSERT_FALSE(unfed.ok());
  EXPECT_TRUE(absl::StrContains(unfed.status().message(), "placeholder 'z'")) << unfed.status();

  tensorflow::GraphDef graph2;
  auto cycle = Build(R"pb(
    node { name: "x" op: "Placeholder" }
    node { name: "a" op: "AddV2" input: "x" input: "b" }
    node { name: "b" op: "AddV2" input: "x" input: "a" })pb",
                     Signature("x:0", "a:0"), &graph2);
  ASSERT_FALSE(cycle.ok());
  EXPECT_TRUE(absl::StrContains(cycle.status().message(), "cycle")) << cycle.status();
}

TEST(PlanBuilderTest, VariablesBecomeSlotsNotCopies) {
  tensorflow::GraphDef graph;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    node { name: "x" op: "Placeholder" }
    node { name: "w" op: "VarHandleOp" attr { key: "shared_name" value { s: "w" } } }
    node { name: "r" op: "ReadVariableOp" input: "w" }
    node { name: "y" op: "Mul" input: "x" input: "r" })pb", &graph));
  auto flat = FlatGraph::Create(graph);
  ASSERT_TRUE(flat.ok());
  auto plan = BuildPlan(**flat, "s", Signature("x:0", "y:0"),
                        [](const tensorflow::NodeDef& n) -> absl::StatusOr<int> {
                          EXPECT_EQ(n.name(), "w");
                          return 0;
                        });
  ASSERT_TRUE(plan.ok()) << plan.status();
  // The same plan runs on two weight sets: the slot is read, never baked in.
  WeightSet three({Floats({}, {3})}, "a"), four({Floats({}, {4})}, "b");
  auto a = (*plan)->Run(three, {Floats({1}, {2})});
  auto b = (*plan)->Run(four, {Floats({1}, {2})});
  ASSERT_TRUE(a.ok() && b.ok());
  ExpectFloats((*a)[0], {1}, {6});
  ExpectFloats((*b)[0], {1}, {8});
}

}  // namespace
}  // namespace swapserve
