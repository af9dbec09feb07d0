// LceQuantize: float32 or int8 values to bitpacked words, bit set where a value is below zero
// (the int8 zero point), with the kernel path's packing, rows split over the threads.
#include "op.h"

namespace bcn_lce {
namespace {

bool Describe(TfLiteContext* context, const TfLiteNode*, OpNode* op, std::string* error) {
  const TfLiteTensor* input = Tensor(context, op->inputs[0]);
  const TfLiteTensor* output = Tensor(context, op->outputs[0]);
  if (!CheckType(input->type, {kTfLiteFloat32, kTfLiteInt8}, "input", "float32 or int8", error) ||
      !CheckType(output->type, {kTfLiteInt32}, "output", "int32, bitpacked", error))
    return false;
  op->data = std::make_unique<PackedRows>();
  return CheckInt8(input, "input", error);
}

bool Prepare(TfLiteContext* context, OpNode* op, const OpEnvironment&, std::vector<int>* shape, std::string* error) {
  const TfLiteTensor* input = Tensor(context, op->inputs[0]);
  if (!CheckInput(input, "input", 0, error)) return false;
  shape->assign(input->dims->data, input->dims->data + input->dims->size);
  auto& rows = static_cast<PackedRows&>(*op->data);
  rows.cols = shape->back();
  rows.rows = Elements(input) / rows.cols;
  shape->back() = PackedSize(rows.cols);
  return true;
}

bool Run(OpNode* op, const TfLiteTensor& input, TfLiteTensor* output, const OpEnvironment& environment) {
  const auto& shape = static_cast<const PackedRows&>(*op->data);
  const int64_t rows = shape.rows;
  const int cols = shape.cols, words = PackedSize(cols);
  const PackFunction pack = PackFor(environment.path);
  const PackInt8Function pack_int8 = PackInt8For(environment.path);
  const int tasks = int(std::min<int64_t>(rows, environment.pool->size()));
  auto pack_rows = [&](int task, int) {
    const int64_t begin = rows * task / tasks, end = rows * (task + 1) / tasks;
    if (input.type == kTfLiteFloat32)
      pack(input.data.f + begin * cols, end - begin, cols, output->data.i32 + begin * words);
    else
      pack_int8(input.data.int8 + begin * cols, end - begin, cols, input.params.zero_point,
                output->data.i32 + begin * words);
  };
  environment.pool->Run(tasks, pack_rows);  // rows split evenly over the threads
  return true;
}

}  // namespace

extern const OpType kLceQuantize = {"LceQuantize", Describe, Prepare, Run};

}  // namespace bcn_lce
