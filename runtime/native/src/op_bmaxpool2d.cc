// LceBMaxPool2d: max-pooling of bitpacked NHWC input, the AND of each window's words.
#include "op.h"

namespace bcn_lce {
namespace {

struct Pool : OpData {
  BMaxPoolShape shape{};  // the options; the input's sizes filled at prepare
};

bool Describe(TfLiteContext* context, const TfLiteNode* node, OpNode* op, std::string* error) {
  const std::optional<FlexMap> options = NodeOptions(node, error);
  if (!options) return false;
  if (!CheckType(Tensor(context, op->inputs[0])->type, {kTfLiteInt32}, "input", "int32, bitpacked", error))
    return false;
  auto pool = std::make_unique<Pool>();
  BMaxPoolShape& p = pool->shape;
  if (!Positive(*options, "filter_height", &p.filter_height, error) ||
      !Positive(*options, "filter_width", &p.filter_width, error) ||
      !Positive(*options, "stride_height", &p.stride_height, error) ||
      !Positive(*options, "stride_width", &p.stride_width, error) || !PaddingOption(*options, &p.padding, error) ||
      !CheckType(Tensor(context, op->outputs[0])->type, {kTfLiteInt32}, "output", "int32, bitpacked", error))
    return false;
  op->data = std::move(pool);
  return true;
}

bool Prepare(TfLiteContext* context, OpNode* op, const OpEnvironment&, std::vector<int>* shape, std::string* error) {
  const TfLiteTensor* input = Tensor(context, op->inputs[0]);
  if (!CheckInput(input, "input", 4, error)) return false;
  BMaxPoolShape& p = static_cast<Pool&>(*op->data).shape;
  p.batch = Dim(input, 0), p.in_height = Dim(input, 1), p.in_width = Dim(input, 2), p.words = Dim(input, 3);
  const AxisPadding py = ComputeAxisPadding(p.padding, p.in_height, p.filter_height, p.stride_height, 1);
  const AxisPadding px = ComputeAxisPadding(p.padding, p.in_width, p.filter_width, p.stride_width, 1);
  if (py.out_size < 1 || px.out_size < 1) {
    *error = "the pooling window is larger than the input";
    return false;
  }
  *shape = {p.batch, int(py.out_size), int(px.out_size), p.words};
  return true;
}

bool Run(OpNode* op, const TfLiteTensor& input, TfLiteTensor* output, const OpEnvironment&) {
  BMaxPool2D(static_cast<const Pool&>(*op->data).shape, input.data.i32, output->data.i32);
  return true;
}

}  // namespace

extern const OpType kLceBMaxPool2d = {"LceBMaxPool2d", Describe, Prepare, Run};

}  // namespace bcn_lce
