// What every LCE op of the delegate shares: the node it replaces, the environment it runs in,
// the checks of tensors and options a model file can make wrong, and the one table of ops
// (ops.cc). An op is one file, op_<name>.cc, defining its OpType, and one row of that table.
#ifndef BCN_LCE_OP_H_
#define BCN_LCE_OP_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bcn_lce/tflite_abi.h"
#include "flexbuffers.h"
#include "kernels.h"

namespace bcn_lce {

// What an op's steps get from the delegate: the kernel path and the thread pool of its runs.
struct OpEnvironment {
  KernelPath path;
  ThreadPool* pool;
};

// An op's own part of a node: its options, and what prepare built from them.
struct OpData {
  virtual ~OpData() = default;
};

// LceQuantize's and LceDequantize's data: `rows` rows of `cols` values (the unpacked tensor's
// last dimension), one bitpacked row of PackedSize(cols) words each.
struct PackedRows : OpData {
  int64_t rows = 0;
  int cols = 0;
};

struct OpType;

// One claimed node.
struct OpNode {
  const OpType* type = nullptr;
  int index = -1;  // in the graph
  std::vector<int> inputs, outputs;
  std::unique_ptr<OpData> data;
  int64_t binary_macs = 0;  // per run, set by prepare, for the profile
};

// One LCE op: its custom name and the three steps of its node's life. describe checks what a
// resize cannot change (options, tensor types) and fills node->data; prepare runs at allocation
// and after every resize: it checks the tensors as they are now, builds what run needs and gives
// the output's shape; run computes on the tensors prepare checked (false: prepare has not succeeded). describe and
// prepare say why not in one line.
struct OpType {
  const char* name;
  bool (*describe)(TfLiteContext* context, const TfLiteNode* node, OpNode* op, std::string* error);
  bool (*prepare)(TfLiteContext* context, OpNode* op, const OpEnvironment& environment, std::vector<int>* shape,
                  std::string* error);
  bool (*run)(OpNode* op, const TfLiteTensor& input, TfLiteTensor* output, const OpEnvironment& environment);
};

// The op named `custom_name`, or null.
const OpType* FindOp(const char* custom_name);

// Tensors and their facts.
const TfLiteTensor* Tensor(const TfLiteContext* context, int index);
int Rank(const TfLiteTensor* t);
inline int Dim(const TfLiteTensor* t, int i) { return t->dims->data[i]; }
int64_t Elements(const TfLiteTensor* t);
// In the model's own bytes (mmapped or persistent read-only).
bool IsConstant(const TfLiteTensor* t);
int64_t TypeSize(TfLiteType type);
const char* TypeName(TfLiteType type);
std::string Format(const char* format, ...);

// Bounds on what a model may ask of the kernels, far beyond any model bcn makes; within them
// every size, offset and padding the kernels compute fits an int.
constexpr int64_t kMaxDimension = int64_t(1) << 24;       // a dimension, channel count or filter extent
constexpr int64_t kMaxElements = (int64_t(1) << 31) - 1;  // a tensor's elements
constexpr int64_t kMaxProducts = int64_t(1) << 29;        // binary products summed into one output value
constexpr int kMaxRank = 8;

// The node's custom options (a FlexBuffer map), or none with `error` set.
std::optional<FlexMap> NodeOptions(const TfLiteNode* node, std::string* error);
// An integer option; false (with `error`) when it is missing or not an integer.
bool IntOption(const FlexMap& options, const char* key, int64_t* value, std::string* error);
// An integer option from 1 to 2^20.
bool Positive(const FlexMap& options, const char* key, int* out, std::string* error);
// TFLite's Padding enum (SAME 0, VALID 1), or the strings older converters wrote.
bool PaddingOption(const FlexMap& options, Padding* padding, std::string* error);

// A shape: `rank` dimensions (1 to kMaxRank when `rank` is 0), each from 1 to kMaxDimension, at
// most kMaxElements in all.
bool CheckDims(const int* dims, int size, const char* what, int rank, std::string* error);
// A tensor an op reads as it is now: present, of a supported shape, dense and holding its shape's
// bytes (LiteRT does not check a sparse constant's size; no LCE converter writes one).
bool CheckInput(const TfLiteTensor* t, const char* what, int rank, std::string* error);
// A weight: a constant tensor of `type` (its shape is checked at prepare).
bool CheckWeight(const TfLiteTensor* t, const char* what, TfLiteType type, std::string* error);
// An int8 tensor's quantization: a finite positive scale and a zero point within int8 (other
// types pass).
bool CheckInt8(const TfLiteTensor* t, const char* what, std::string* error);
// That `type` is one of `allowed` (`names` lists them for the message).
bool CheckType(TfLiteType type, std::initializer_list<TfLiteType> allowed, const char* what, const char* names,
               std::string* error);

}  // namespace bcn_lce

#endif  // BCN_LCE_OP_H_
