// LceDequantize: bitpacked words to +1/-1 as float32, or as the int8 values of +1 and -1.
#include <algorithm>
#include <cmath>

#include "op.h"

namespace bcn_lce {
namespace {

bool Describe(TfLiteContext* context, const TfLiteNode*, OpNode* op, std::string* error) {
  if (!CheckType(Tensor(context, op->inputs[0])->type, {kTfLiteInt32}, "input", "int32, bitpacked", error) ||
      !CheckType(Tensor(context, op->outputs[0])->type, {kTfLiteFloat32, kTfLiteInt8}, "output", "float32 or int8",
                 error))
    return false;
  op->data = std::make_unique<PackedRows>();
  return true;
}

// The unpacked channel count is only known from the output's own shape: the rest follows the input.
bool Prepare(TfLiteContext* context, OpNode* op, const OpEnvironment&, std::vector<int>* shape, std::string* error) {
  const TfLiteTensor* input = Tensor(context, op->inputs[0]);
  const TfLiteTensor* output = Tensor(context, op->outputs[0]);
  if (!CheckInput(input, "input", 0, error)) return false;
  const int words = Dim(input, Rank(input) - 1);
  const int channels = Rank(output) >= 1 ? Dim(output, Rank(output) - 1) : 0;
  if (channels < 1 || PackedSize(channels) != words) {
    *error = Format("output's %d channels do not match the input's %d bitpacked words", channels, words);
    return false;
  }
  shape->assign(input->dims->data, input->dims->data + input->dims->size);
  shape->back() = channels;
  auto& rows = static_cast<PackedRows&>(*op->data);
  rows.cols = channels;
  rows.rows = Elements(input) / words;
  return true;
}

bool Run(OpNode* op, const TfLiteTensor& input, TfLiteTensor* output, const OpEnvironment&) {
  const auto& shape = static_cast<const PackedRows&>(*op->data);
  if (output->type == kTfLiteFloat32) {
    UnpackFloat(input.data.i32, shape.rows, shape.cols, output->data.f);
    return true;
  }
  // Results saturate: an offset beyond 255 gives the same, and keeps the conversion defined.
  const int offset = static_cast<int>(std::min(256.0f, std::round(1.0f / output->params.scale)));
  const int8_t zero_bit = static_cast<int8_t>(std::min(127, output->params.zero_point + offset));
  const int8_t one_bit = static_cast<int8_t>(std::max(-128, output->params.zero_point - offset));
  UnpackInt8(input.data.i32, shape.rows, shape.cols, zero_bit, one_bit, output->data.int8);
  return true;
}

}  // namespace

extern const OpType kLceDequantize = {"LceDequantize", Describe, Prepare, Run};

}  // namespace bcn_lce
