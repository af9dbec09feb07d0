// bcn's TFLite external delegate: claims every LCE custom op node of a model (one node per
// delegate kernel) and runs it with bcn's kernels, so LCE flatbuffers run unchanged in
// LiteRT (ai-edge-litert) and tflite-runtime. Built-in ops stay with the runtime (XNNPACK).
//
//   load_delegate("libbcn_lce_delegate.so", {"num_threads": "2"})
//
// An LCE op configuration the kernels do not support, or tensors that do not fit it (checked
// again after every resize), fail the model's allocation with one line naming the op, the node
// and the field. A model file is untrusted: nothing in it makes the delegate read or write
// memory it does not own.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "bcn_lce/tflite_abi.h"
#include "flexbuffers.h"
#include "kernels.h"

#define BCN_EXPORT extern "C" __attribute__((visibility("default")))

namespace bcn_lce {
namespace {

constexpr int kBuiltinDelegate = 51;  // BuiltinOperator_DELEGATE

enum class OpKind { Quantize, Dequantize, BConv2D, BMaxPool2D };

struct OpName {
  const char* name;
  OpKind kind;
};
constexpr OpName kOps[] = {
    {"LceQuantize", OpKind::Quantize},
    {"LceDequantize", OpKind::Dequantize},
    {"LceBconv2d", OpKind::BConv2D},
    {"LceBMaxPool2d", OpKind::BMaxPool2D},
};

// What `profile` mode records of one delegated node: its shapes, work and time so far.
struct OpProfile {
  std::string op, input, output;  // e.g. "LceBconv2d", "1x64x64x2 int32"
  int node = -1;
  int64_t binary_macs = 0;  // LceBconv2d: binary multiply-accumulates per run
  int64_t runs = 0, nanoseconds = 0;
};

struct DelegateState {
  TfLiteDelegate delegate{};
  int num_threads = 0;  // 0: the interpreter's thread count
  KernelPath path = KernelPath::Scalar;
  bool profiling = false;          // the `profile` option: time every delegated node
  std::vector<OpProfile> profile;  // one per delegated node, in the order they were prepared
  std::unique_ptr<ThreadPool> pool;
  // How many nodes of the graph being delegated write each tensor: DelegatePrepare counts them
  // before it replaces nodes, each kernel's init reads them.
  std::vector<int> writers;

  ThreadPool* Pool(const TfLiteContext* context) {
    if (!pool) {
      int threads = num_threads > 0 ? num_threads : context->recommended_num_threads;
      pool = std::make_unique<ThreadPool>(threads > 0 ? threads : 1);
    }
    return pool.get();
  }
};

// One claimed node: what its op is, where its tensors are, and its options.
struct OpSpec {
  OpKind kind;
  std::string name;
  int node_index = -1;
  std::vector<int> inputs, outputs;
  // LceBconv2d
  BConv2DShape conv;
  Activation activation = Activation::None;
  // LceBMaxPool2d
  BMaxPoolShape pool{};
};

struct OpKernel {
  OpSpec spec;
  std::string error;  // why the node cannot run, from its options and types: refused at prepare
  // What prepare sized, and invoke runs on: rows of `cols` values (LceQuantize, LceDequantize)
  // and the bytes the op reads from its input and writes to its output.
  int64_t rows = 0;
  int cols = 0;
  uint64_t input_bytes = 0, output_bytes = 0;
  DelegateState* state = nullptr;
  std::unique_ptr<BConv2D> conv;
  int64_t binary_macs = 0;  // LceBconv2d, for the profile
  int profile_index = -1;   // its entry in state->profile once prepared with profiling on
};

std::optional<OpKind> LceOpKind(const TfLiteRegistration* registration) {
  if (registration == nullptr || registration->builtin_code != kTfLiteBuiltinCustom || !registration->custom_name)
    return std::nullopt;
  for (const OpName& op : kOps)
    if (std::strcmp(registration->custom_name, op.name) == 0) return op.kind;
  return std::nullopt;
}

const TfLiteTensor* Tensor(const TfLiteContext* context, int index) {
  return index >= 0 && size_t(index) < context->tensors_size ? &context->tensors[index] : nullptr;
}

int Rank(const TfLiteTensor* t) { return t && t->dims ? t->dims->size : -1; }
int Dim(const TfLiteTensor* t, int i) { return t->dims->data[i]; }

int64_t Elements(const TfLiteTensor* t) {
  int64_t n = 1;
  for (int i = 0; i < t->dims->size; ++i) n *= t->dims->data[i];
  return n;
}

bool IsConstant(const TfLiteTensor* t) {
  return t->allocation_type == kTfLiteMmapRo || t->allocation_type == kTfLitePersistentRo;
}

const char* TypeName(TfLiteType type) {
  switch (type) {
    case kTfLiteFloat32: return "float32";
    case kTfLiteInt32: return "int32";
    case kTfLiteInt8: return "int8";
    case kTfLiteUInt8: return "uint8";
    case kTfLiteInt16: return "int16";
    case kTfLiteInt64: return "int64";
    default: return "another type";
  }
}

std::string Format(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return buffer;
}

// Reads an integer option; false (with `error`) when it is missing or not an integer.
bool IntOption(const FlexMap& options, const char* key, int64_t* value, std::string* error) {
  auto it = options.find(key);
  if (it == options.end() || it->second.kind != FlexValue::Kind::Int) {
    *error = Format("option %s is missing or not an integer", key);
    return false;
  }
  *value = it->second.int_value;
  return true;
}

// TFLite's Padding enum (SAME 0, VALID 1), or the strings older converters wrote.
bool PaddingOption(const FlexMap& options, Padding* padding, std::string* error) {
  auto it = options.find("padding");
  if (it != options.end() && it->second.kind == FlexValue::Kind::String) {
    const std::string& s = it->second.string_value;
    if (s == "SAME" || s == "same") return *padding = Padding::Same, true;
    if (s == "VALID" || s == "valid") return *padding = Padding::Valid, true;
    *error = Format("padding=%s is not supported (SAME or VALID)", s.c_str());
    return false;
  }
  int64_t value;
  if (!IntOption(options, "padding", &value, error)) return false;
  if (value != 0 && value != 1) {
    *error = Format("padding=%lld is not supported (0: SAME, 1: VALID)", (long long)value);
    return false;
  }
  *padding = value == 0 ? Padding::Same : Padding::Valid;
  return true;
}

bool Positive(const FlexMap& options, const char* key, int* out, std::string* error) {
  int64_t value;
  if (!IntOption(options, key, &value, error)) return false;
  if (value < 1 || value > (1 << 20)) {
    *error = Format("%s=%lld is not supported (1 to %d)", key, (long long)value, 1 << 20);
    return false;
  }
  *out = int(value);
  return true;
}

// Bounds on what a model may ask of the kernels, far beyond any model bcn makes; within them
// every size, offset and padding the kernels compute fits an int.
constexpr int64_t kMaxDimension = int64_t(1) << 24;       // a dimension, channel count or filter extent
constexpr int64_t kMaxElements = (int64_t(1) << 31) - 1;  // a tensor's elements
constexpr int64_t kMaxProducts = int64_t(1) << 29;        // binary products summed into one output value
constexpr int kMaxRank = 8;

int64_t Words(int64_t channels) { return (channels + kBitsPerWord - 1) / kBitsPerWord; }

int64_t TypeSize(TfLiteType type) {
  switch (type) {
    case kTfLiteFloat32:
    case kTfLiteInt32: return 4;
    case kTfLiteInt8:
    case kTfLiteUInt8: return 1;
    case kTfLiteInt16: return 2;
    case kTfLiteInt64: return 8;
    default: return 0;
  }
}

// Checks a shape: `rank` dimensions (1 to kMaxRank when `rank` is 0), each from 1 to
// kMaxDimension, at most kMaxElements in all.
bool CheckDims(const int* dims, int size, const char* what, int rank, std::string* error) {
  if (rank ? size != rank : size < 1 || size > kMaxRank) {
    *error = rank ? Format("%s must be %d-D, not %d-D", what, rank, size)
                  : Format("%s must have 1 to %d dimensions, not %d", what, kMaxRank, size);
    return false;
  }
  int64_t elements = 1;
  for (int i = 0; i < size; ++i) {
    if (dims[i] < 1 || dims[i] > kMaxDimension) {
      *error = Format("%s dimension %d is %d (1 to %lld supported)", what, i, dims[i], (long long)kMaxDimension);
      return false;
    }
    elements *= dims[i];
    if (elements > kMaxElements) {
      *error = Format("%s has more than %lld elements", what, (long long)kMaxElements);
      return false;
    }
  }
  return true;
}

// A tensor an op reads as it is now: present, of a supported shape, dense and holding its
// shape's bytes (LiteRT does not check a sparse constant's size; no LCE converter writes one).
bool CheckInput(const TfLiteTensor* t, const char* what, int rank, std::string* error) {
  if (!t || !t->dims) {
    *error = Format("%s is missing", what);
    return false;
  }
  if (!CheckDims(t->dims->data, t->dims->size, what, rank, error)) return false;
  if (t->sparsity) {
    *error = Format("%s is a sparse tensor (LCE ops take dense ones)", what);
    return false;
  }
  const int64_t needed = Elements(t) * TypeSize(t->type);
  if (t->bytes < uint64_t(needed) || (IsConstant(t) && !t->data.raw)) {
    *error = Format("%s holds %zu bytes, its shape needs %lld", what, t->bytes, (long long)needed);
    return false;
  }
  return true;
}

// A weight: a constant tensor of `type` (its shape is checked at prepare).
bool CheckWeight(const TfLiteTensor* t, const char* what, TfLiteType type, std::string* error) {
  if (!t)
    *error = Format("%s is missing", what);
  else if (t->type != type)
    *error = Format("%s must be %s, not %s", what, TypeName(type), TypeName(t->type));
  else if (!IsConstant(t))
    *error = Format("%s is not a constant tensor", what);
  else
    return true;
  return false;
}

// An int8 tensor's quantization: a finite positive scale and a zero point within int8.
bool CheckInt8(const TfLiteTensor* t, const char* what, std::string* error) {
  if (t->type != kTfLiteInt8) return true;
  const float scale = t->params.scale;
  const int32_t zero_point = t->params.zero_point;
  if (!std::isfinite(scale) || !(scale > 0)) {
    *error = Format("int8 %s has no valid quantization scale (%g)", what, double(scale));
    return false;
  }
  if (zero_point < -128 || zero_point > 127) {
    *error = Format("int8 %s has zero point %d, outside -128 to 127", what, int(zero_point));
    return false;
  }
  return true;
}

// The output: one tensor the op may write, not a constant (the model's own bytes) and not
// also one of its inputs.
bool CheckOutput(TfLiteContext* context, const OpSpec& spec, std::string* error) {
  const TfLiteTensor* output = spec.outputs.size() == 1 ? Tensor(context, spec.outputs[0]) : nullptr;
  if (!output)
    *error = "it must have exactly one output";
  else if (IsConstant(output))
    *error = "output is a constant tensor";
  else if (output->sparsity)
    *error = "output is a sparse tensor";
  else if (std::count(spec.inputs.begin(), spec.inputs.end(), spec.outputs[0]))
    *error = "output is also an input";
  else
    return CheckInt8(output, "output", error);
  return false;
}

// LceBconv2d's options: filled into `spec` or why not.
bool ConvOptions(const FlexMap& options, OpSpec* spec, std::string* error) {
  BConv2DShape& c = spec->conv;
  int64_t channels_in, pad_value, activation;
  if (!IntOption(options, "channels_in", &channels_in, error) ||
      !Positive(options, "stride_height", &c.stride_height, error) ||
      !Positive(options, "stride_width", &c.stride_width, error) ||
      !Positive(options, "dilation_height_factor", &c.dilation_height, error) ||
      !Positive(options, "dilation_width_factor", &c.dilation_width, error) ||
      !PaddingOption(options, &c.padding, error) || !IntOption(options, "pad_values", &pad_value, error) ||
      !IntOption(options, "fused_activation_function", &activation, error))
    return false;
  if (channels_in < 1 || channels_in > kMaxDimension) {
    *error = Format("channels_in=%lld is not supported (1 to %lld)", (long long)channels_in, (long long)kMaxDimension);
    return false;
  }
  c.channels_in = int(channels_in);
  if (pad_value != 0 && pad_value != 1) {
    *error = Format("pad_values=%lld is not supported (0 or 1)", (long long)pad_value);
    return false;
  }
  c.pad_value = int(pad_value);
  switch (activation) {
    case 0: spec->activation = Activation::None; break;
    case 1: spec->activation = Activation::Relu; break;
    case 2: spec->activation = Activation::ReluN1To1; break;
    case 3: spec->activation = Activation::Relu6; break;
    default:
      *error = Format("fused_activation_function=%lld is not supported (NONE, RELU, RELU_N1_TO_1, RELU6)",
                      (long long)activation);
      return false;
  }
  return true;
}

// LceBconv2d's weights and output type (their shapes are checked at prepare).
bool ConvTensors(TfLiteContext* context, const OpSpec& spec, std::string* error) {
  if (spec.inputs.size() != 5) {
    *error = Format("it has %zu inputs, LCE 0.16 writes 5", spec.inputs.size());
    return false;
  }
  const TfLiteTensor* output = Tensor(context, spec.outputs[0]);
  if (!CheckWeight(Tensor(context, spec.inputs[1]), "filter", kTfLiteInt32, error)) return false;
  const Padding padding = spec.conv.padding;
  if (output->type == kTfLiteInt32) {
    if (!CheckWeight(Tensor(context, spec.inputs[4]), "thresholds", kTfLiteInt32, error)) return false;
    if (padding == Padding::Same && spec.conv.pad_value == 0) {
      *error = "pad_values=0 with SAME padding is not supported with bitpacked output (as in LCE)";
      return false;
    }
    return true;
  }
  if (output->type != kTfLiteFloat32 && output->type != kTfLiteInt8) {
    *error = Format("output type %s is not supported (float32, int8 or int32 bitpacked)", TypeName(output->type));
    return false;
  }
  if (!CheckWeight(Tensor(context, spec.inputs[2]), "post_activation_multiplier", kTfLiteFloat32, error) ||
      !CheckWeight(Tensor(context, spec.inputs[3]), "post_activation_bias", kTfLiteFloat32, error))
    return false;
  if (padding == Padding::Same && spec.conv.pad_value == 0 &&
      (output->type != kTfLiteFloat32 || spec.activation != Activation::None)) {
    *error =
        "pad_values=0 with SAME padding is supported only for float output without a fused activation "
        "(as in LCE)";
    return false;
  }
  return true;
}

// Checks one LCE node's options and tensor types against what the kernels support (what a
// resize cannot change); fills `spec` or says why not. Shapes are checked at prepare.
bool Describe(TfLiteContext* context, int node_index, const TfLiteNode* node, OpKind kind, const char* name,
              OpSpec* spec, std::string* error) {
  spec->kind = kind;
  spec->name = name;
  spec->node_index = node_index;
  spec->inputs.assign(node->inputs->data, node->inputs->data + node->inputs->size);
  spec->outputs.assign(node->outputs->data, node->outputs->data + node->outputs->size);
  if (!CheckOutput(context, *spec, error)) return false;
  const TfLiteTensor* input = spec->inputs.empty() ? nullptr : Tensor(context, spec->inputs[0]);
  const TfLiteTensor* output = Tensor(context, spec->outputs[0]);
  if (!input) {
    *error = "its input is missing";
    return false;
  }

  if (kind == OpKind::Quantize) {
    if (input->type != kTfLiteFloat32 && input->type != kTfLiteInt8) {
      *error = Format("input type %s is not supported (float32 or int8)", TypeName(input->type));
      return false;
    }
    if (output->type != kTfLiteInt32) {
      *error = Format("output type %s is not supported (int32, bitpacked)", TypeName(output->type));
      return false;
    }
    return CheckInt8(input, "input", error);
  }

  if (kind == OpKind::Dequantize) {
    if (input->type != kTfLiteInt32) {
      *error = Format("input type %s is not supported (int32, bitpacked)", TypeName(input->type));
      return false;
    }
    if (output->type != kTfLiteFloat32 && output->type != kTfLiteInt8) {
      *error = Format("output type %s is not supported (float32 or int8)", TypeName(output->type));
      return false;
    }
    return true;
  }

  std::string why;
  const std::optional<FlexMap> options = ParseFlexMap(static_cast<const uint8_t*>(node->custom_initial_data),
                                                      size_t(node->custom_initial_data_size), &why);
  if (!options) {
    *error = why;
    return false;
  }
  if (input->type != kTfLiteInt32) {
    *error = Format("input must be a bitpacked int32 tensor, not %s", TypeName(input->type));
    return false;
  }

  if (kind == OpKind::BMaxPool2D) {
    BMaxPoolShape& p = spec->pool;
    if (!Positive(*options, "filter_height", &p.filter_height, error) ||
        !Positive(*options, "filter_width", &p.filter_width, error) ||
        !Positive(*options, "stride_height", &p.stride_height, error) ||
        !Positive(*options, "stride_width", &p.stride_width, error) || !PaddingOption(*options, &p.padding, error))
      return false;
    if (output->type != kTfLiteInt32) {
      *error = Format("output type %s is not supported (int32, bitpacked)", TypeName(output->type));
      return false;
    }
    return true;
  }

  // LceBconv2d: input, filter, post_activation_multiplier, post_activation_bias, thresholds.
  return ConvOptions(*options, spec, error) && ConvTensors(context, *spec, error);
}

// The shapes below are checked at every prepare: LiteRT prepares again after each resize.

bool QuantizeShape(TfLiteContext* context, const OpSpec& spec, std::vector<int>* shape, std::string* error) {
  const TfLiteTensor* input = Tensor(context, spec.inputs[0]);
  if (!CheckInput(input, "input", 0, error)) return false;
  shape->assign(input->dims->data, input->dims->data + input->dims->size);
  shape->back() = PackedSize(shape->back());
  return true;
}

// The unpacked channel count is only known from the output's own shape: the rest follows the input.
bool DequantizeShape(TfLiteContext* context, const OpSpec& spec, std::vector<int>* shape, std::string* error) {
  const TfLiteTensor* input = Tensor(context, spec.inputs[0]);
  const TfLiteTensor* output = Tensor(context, spec.outputs[0]);
  if (!CheckInput(input, "input", 0, error)) return false;
  const int words = Dim(input, Rank(input) - 1);
  const int channels = Rank(output) >= 1 ? Dim(output, Rank(output) - 1) : 0;
  if (channels < 1 || Words(channels) != words) {
    *error = Format("output's %d channels do not match the input's %d bitpacked words", channels, words);
    return false;
  }
  shape->assign(input->dims->data, input->dims->data + input->dims->size);
  shape->back() = channels;
  return true;
}

bool PoolShape(TfLiteContext* context, BMaxPoolShape* p, const OpSpec& spec, std::vector<int>* shape,
               std::string* error) {
  const TfLiteTensor* input = Tensor(context, spec.inputs[0]);
  if (!CheckInput(input, "input", 4, error)) return false;
  p->batch = Dim(input, 0), p->in_height = Dim(input, 1), p->in_width = Dim(input, 2), p->words = Dim(input, 3);
  const AxisPadding py = ComputeAxisPadding(p->padding, p->in_height, p->filter_height, p->stride_height, 1);
  const AxisPadding px = ComputeAxisPadding(p->padding, p->in_width, p->filter_width, p->stride_width, 1);
  if (py.out_size < 1 || px.out_size < 1) {
    *error = "the pooling window is larger than the input";
    return false;
  }
  *shape = {p->batch, int(py.out_size), int(px.out_size), p->words};
  return true;
}

// Groups from the filter's depth: the input's words, or an equal part of them per group of a
// multiple of 32 channels.
bool ConvGroups(int filter_words, BConv2DShape* c, std::string* error) {
  const int words = PackedSize(c->channels_in);
  if (filter_words == words) {
    c->groups = 1;
    return true;
  }
  const int groups = words % filter_words == 0 ? words / filter_words : 0;
  if (groups < 2 || c->channels_in % groups != 0 || (c->channels_in / groups) % kBitsPerWord != 0 ||
      c->channels_out % groups != 0) {
    *error = Format(
        "groups: filter depth %d words does not divide channels_in=%d into groups of a multiple "
        "of 32 channels",
        filter_words, c->channels_in);
    return false;
  }
  c->groups = groups;
  return true;
}

// The convolution's shape from its input and filter as they are now, or why they do not fit.
bool ConvShape(TfLiteContext* context, const OpSpec& spec, BConv2DShape* c, std::string* error) {
  const TfLiteTensor* input = Tensor(context, spec.inputs[0]);
  const TfLiteTensor* filter = Tensor(context, spec.inputs[1]);
  if (!CheckInput(input, "input", 4, error) || !CheckInput(filter, "filter", 4, error)) return false;
  *c = spec.conv;
  if (PackedSize(c->channels_in) != Dim(input, 3)) {
    *error = Format("channels_in=%d does not match the input's %d bitpacked words", c->channels_in, Dim(input, 3));
    return false;
  }
  c->batch = Dim(input, 0), c->in_height = Dim(input, 1), c->in_width = Dim(input, 2);
  c->channels_out = Dim(filter, 0), c->filter_height = Dim(filter, 1), c->filter_width = Dim(filter, 2);
  if (!ConvGroups(Dim(filter, 3), c, error)) return false;
  const int64_t extent_h = (int64_t(c->filter_height) - 1) * c->dilation_height + 1;
  const int64_t extent_w = (int64_t(c->filter_width) - 1) * c->dilation_width + 1;
  if (extent_h > kMaxDimension || extent_w > kMaxDimension) {
    *error = Format("the dilated filter spans %lld x %lld pixels (at most %lld supported)", (long long)extent_h,
                    (long long)extent_w, (long long)kMaxDimension);
    return false;
  }
  const int64_t products = int64_t(c->filter_height) * c->filter_width * (c->channels_in / c->groups);
  if (products > kMaxProducts) {
    *error = Format("the filter sums %lld products per output (at most %lld supported)", (long long)products,
                    (long long)kMaxProducts);
    return false;
  }
  const AxisPadding py =
      ComputeAxisPadding(c->padding, c->in_height, c->filter_height, c->stride_height, c->dilation_height);
  const AxisPadding px =
      ComputeAxisPadding(c->padding, c->in_width, c->filter_width, c->stride_width, c->dilation_width);
  if (py.out_size < 1 || px.out_size < 1) {
    *error = "the filter is larger than the input";
    return false;
  }
  // One value per output channel, as long as the filter says.
  const bool bitpacked = Tensor(context, spec.outputs[0])->type == kTfLiteInt32;
  for (int i : bitpacked ? std::vector<int>{4} : std::vector<int>{2, 3}) {
    const char* what = i == 4 ? "thresholds" : i == 2 ? "post_activation_multiplier" : "post_activation_bias";
    const TfLiteTensor* t = Tensor(context, spec.inputs[i]);
    if (!CheckInput(t, what, 1, error)) return false;
    if (Dim(t, 0) != c->channels_out) {
      *error = Format("%s has %d values, the filter %d output channels", what, Dim(t, 0), c->channels_out);
      return false;
    }
  }
  return true;
}

// Builds the convolution for its present shapes; `shape` is its output's.
bool PrepareConv(TfLiteContext* context, OpKernel* kernel, std::vector<int>* shape, std::string* error) {
  const OpSpec& spec = kernel->spec;
  BConv2DShape c;
  if (!ConvShape(context, spec, &c, error)) return false;
  const TfLiteTensor* output = Tensor(context, spec.outputs[0]);
  BConv2DOutput out;
  out.activation = spec.activation;
  out.type = output->type == kTfLiteInt32  ? OutputType::Bitpacked
             : output->type == kTfLiteInt8 ? OutputType::Int8
                                           : OutputType::Float32;
  const int n = c.channels_out;
  if (out.type == OutputType::Bitpacked) {
    const int32_t* t = Tensor(context, spec.inputs[4])->data.i32;
    out.thresholds.assign(t, t + n);
  } else {
    const float* m = Tensor(context, spec.inputs[2])->data.f;
    const float* b = Tensor(context, spec.inputs[3])->data.f;
    out.post_multiplier.assign(m, m + n);
    out.post_bias.assign(b, b + n);
    out.int8_scale = output->params.scale;
    out.int8_zero_point = output->params.zero_point;
  }
  ThreadPool* pool = kernel->state->Pool(context);
  kernel->conv =
      std::make_unique<BConv2D>(c, Tensor(context, spec.inputs[1])->data.i32, out, pool->size(), kernel->state->path);
  *shape = {c.batch, kernel->conv->out_height(), kernel->conv->out_width(), kernel->conv->out_depth()};
  kernel->binary_macs = int64_t(c.batch) * kernel->conv->out_height() * kernel->conv->out_width() * c.channels_out *
                        c.filter_height * c.filter_width * (c.channels_in / c.groups);
  return true;
}

// The op's output shape for its inputs as they are now, or why it cannot run on them.
bool PrepareOp(TfLiteContext* context, OpKernel* kernel, std::vector<int>* shape, std::string* error) {
  OpSpec& spec = kernel->spec;
  switch (spec.kind) {
    case OpKind::Quantize: return QuantizeShape(context, spec, shape, error);
    case OpKind::Dequantize: return DequantizeShape(context, spec, shape, error);
    case OpKind::BMaxPool2D: return PoolShape(context, &spec.pool, spec, shape, error);
    case OpKind::BConv2D: return PrepareConv(context, kernel, shape, error);
  }
  return false;
}

TfLiteIntArray* NewIntArray(const std::vector<int>& values) {
  auto* array = static_cast<TfLiteIntArray*>(std::malloc(sizeof(TfLiteIntArray) + sizeof(int) * values.size()));
  if (!array) return nullptr;
  array->size = int(values.size());
  for (size_t i = 0; i < values.size(); ++i) array->data[i] = values[i];
  return array;
}

// Resizes `tensor` to `shape` unless it has it already (the runtime takes the new array).
TfLiteStatus Resize(TfLiteContext* context, TfLiteTensor* tensor, const std::vector<int>& shape) {
  if (tensor->dims && tensor->dims->size == int(shape.size()) &&
      std::equal(shape.begin(), shape.end(), tensor->dims->data))
    return kTfLiteOk;
  TfLiteIntArray* dims = NewIntArray(shape);
  return dims ? context->ResizeTensor(context, tensor, dims) : kTfLiteError;
}

// One line naming the op, its node and what is wrong, as LiteRT's error.
TfLiteStatus Refuse(TfLiteContext* context, const char* name, int node_index, const std::string& why) {
  context->ReportError(context, "%s node %d: %s\n", name, node_index, why.c_str());
  return kTfLiteError;
}

// "1x64x64x2 int32": a tensor's shape and type, for the profile.
std::string ShapeAndType(const TfLiteTensor* t) {
  std::string text;
  for (int i = 0; i < Rank(t); ++i) text += (i ? "x" : "") + std::to_string(Dim(t, i));
  return text + " " + TypeName(t->type);
}

// Creates or updates the node's profile entry with its shapes as prepared now.
void RecordShapes(TfLiteContext* context, OpKernel* kernel) {
  std::vector<OpProfile>& profile = kernel->state->profile;
  if (kernel->profile_index < 0) {
    kernel->profile_index = int(profile.size());
    profile.emplace_back();
  }
  OpProfile& entry = profile[kernel->profile_index];
  entry.op = kernel->spec.name;
  entry.node = kernel->spec.node_index;
  entry.input = ShapeAndType(Tensor(context, kernel->spec.inputs[0]));
  entry.output = ShapeAndType(Tensor(context, kernel->spec.outputs[0]));
  entry.binary_macs = kernel->binary_macs;
}

void* KernelInit(TfLiteContext* context, const char* buffer, size_t) {
  const auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  if (!params || !params->nodes_to_replace || params->nodes_to_replace->size != 1) return nullptr;
  const int node_index = params->nodes_to_replace->data[0];
  TfLiteNode* node = nullptr;
  TfLiteRegistration* registration = nullptr;
  if (context->GetNodeAndRegistration(context, node_index, &node, &registration) != kTfLiteOk) return nullptr;
  const std::optional<OpKind> kind = LceOpKind(registration);
  if (!kind) return nullptr;
  auto kernel = std::make_unique<OpKernel>();
  kernel->state = static_cast<DelegateState*>(params->delegate->data_);
  if (!Describe(context, node_index, node, *kind, registration->custom_name, &kernel->spec, &kernel->error) &&
      kernel->error.empty())
    kernel->error = "it cannot run";
  // Another writer could resize the output after this op is prepared, and before it runs.
  const std::vector<int>& writers = kernel->state->writers;
  const int output = kernel->spec.outputs.empty() ? -1 : kernel->spec.outputs[0];
  if (kernel->error.empty() && output >= 0 && size_t(output) < writers.size() && writers[output] > 1)
    kernel->error = "output is also written by another op";
  return kernel.release();
}

void KernelFree(TfLiteContext*, void* buffer) { delete static_cast<OpKernel*>(buffer); }

// Runs at allocation and again after every resize: checks everything invoke relies on against
// the tensors as they are now, then sizes the output.
TfLiteStatus KernelPrepare(TfLiteContext* context, TfLiteNode* node) {
  auto* kernel = static_cast<OpKernel*>(node->user_data);
  if (!kernel) return kTfLiteError;
  const OpSpec& spec = kernel->spec;
  kernel->conv.reset();
  if (!kernel->error.empty()) return Refuse(context, spec.name.c_str(), spec.node_index, kernel->error);
  std::vector<int> shape;
  std::string error;
  try {
    if (!PrepareOp(context, kernel, &shape, &error) || !CheckDims(shape.data(), int(shape.size()), "output", 0, &error))
      return Refuse(context, spec.name.c_str(), spec.node_index, error);
  } catch (const std::bad_alloc&) {
    return Refuse(context, spec.name.c_str(), spec.node_index, "not enough memory for its weights");
  }
  TfLiteTensor* output = &context->tensors[spec.outputs[0]];
  if (Resize(context, output, shape) != kTfLiteOk) return kTfLiteError;
  const TfLiteTensor* input = Tensor(context, spec.inputs[0]);
  kernel->input_bytes = uint64_t(Elements(input) * TypeSize(input->type));
  kernel->output_bytes = uint64_t(Elements(output) * TypeSize(output->type));
  if (output->bytes < kernel->output_bytes) {
    error =
        Format("output holds %zu bytes, its shape needs %llu", output->bytes, (unsigned long long)kernel->output_bytes);
    return Refuse(context, spec.name.c_str(), spec.node_index, error);
  }
  const bool unpacked_output = spec.kind == OpKind::Dequantize;
  kernel->cols = unpacked_output ? shape.back() : Dim(input, Rank(input) - 1);
  kernel->rows = Elements(unpacked_output ? output : input) / kernel->cols;
  if (kernel->state->profiling) RecordShapes(context, kernel);
  return kTfLiteOk;
}

TfLiteStatus RunOp(TfLiteContext* context, OpKernel* kernel) {
  const OpSpec& spec = kernel->spec;
  const TfLiteTensor* input = &context->tensors[spec.inputs[0]];
  TfLiteTensor* output = &context->tensors[spec.outputs[0]];
  // In a crafted graph LiteRT may give a tensor no memory (no op writes or reads it), or
  // another op writing the same tensor may have resized it after this one was prepared.
  if (!input->data.raw || !output->data.raw || input->bytes < kernel->input_bytes ||
      output->bytes < kernel->output_bytes)
    return Refuse(context, spec.name.c_str(), spec.node_index,
                  !input->data.raw || !output->data.raw ? "a tensor it reads or writes has no memory"
                                                        : "another op resized a tensor it reads or writes");
  const int64_t rows = kernel->rows;
  const int cols = kernel->cols;
  switch (spec.kind) {
    case OpKind::Quantize: {
      const int words = PackedSize(cols);
      const PackFunction pack = PackFor(kernel->state->path);
      const PackInt8Function pack_int8 = PackInt8For(kernel->state->path);
      // Rows split evenly over the pool's threads.
      ThreadPool* pool = kernel->state->Pool(context);
      const int tasks = int(std::min<int64_t>(rows, pool->size()));
      auto pack_rows = [&](int task, int) {
        const int64_t begin = rows * task / tasks, end = rows * (task + 1) / tasks;
        if (input->type == kTfLiteFloat32)
          pack(input->data.f + begin * cols, end - begin, cols, output->data.i32 + begin * words);
        else
          pack_int8(input->data.int8 + begin * cols, end - begin, cols, input->params.zero_point,
                    output->data.i32 + begin * words);
      };
      pool->Run(tasks, pack_rows);
      return kTfLiteOk;
    }
    case OpKind::Dequantize: {
      if (output->type == kTfLiteFloat32) {
        UnpackFloat(input->data.i32, rows, cols, output->data.f);
      } else {
        // Results saturate: an offset beyond 255 gives the same, and keeps the conversion defined.
        const int offset = static_cast<int>(std::min(256.0f, std::round(1.0f / output->params.scale)));
        const int8_t zero_bit = static_cast<int8_t>(std::min(127, output->params.zero_point + offset));
        const int8_t one_bit = static_cast<int8_t>(std::max(-128, output->params.zero_point - offset));
        UnpackInt8(input->data.i32, rows, cols, zero_bit, one_bit, output->data.int8);
      }
      return kTfLiteOk;
    }
    case OpKind::BMaxPool2D: BMaxPool2D(spec.pool, input->data.i32, output->data.i32); return kTfLiteOk;
    case OpKind::BConv2D:
      if (!kernel->conv) return kTfLiteError;
      kernel->conv->Run(input->data.i32, output->data.data, kernel->state->Pool(context));
      return kTfLiteOk;
  }
  return kTfLiteError;
}

TfLiteStatus KernelInvoke(TfLiteContext* context, TfLiteNode* node) {
  auto* kernel = static_cast<OpKernel*>(node->user_data);
  if (!kernel) return kTfLiteError;
  if (kernel->profile_index < 0) return RunOp(context, kernel);
  const auto start = std::chrono::steady_clock::now();
  const TfLiteStatus status = RunOp(context, kernel);
  OpProfile& entry = kernel->state->profile[kernel->profile_index];
  entry.nanoseconds +=
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  ++entry.runs;
  return status;
}

const char* KernelProfilingString(const TfLiteContext*, const TfLiteNode* node) {
  const auto* kernel = static_cast<const OpKernel*>(node->user_data);
  return kernel ? kernel->spec.name.c_str() : "bcn-lce";
}

TfLiteStatus DelegatePrepare(TfLiteContext* context, TfLiteDelegate* delegate) {
  TfLiteIntArray* plan = nullptr;
  if (context->GetExecutionPlan(context, &plan) != kTfLiteOk || !plan) return kTfLiteError;
  // The plan belongs to the runtime and may change once nodes are replaced: copy it first.
  const std::vector<int> nodes(plan->data, plan->data + plan->size);
  std::vector<int> claimed;
  auto* state = static_cast<DelegateState*>(delegate->data_);
  state->writers.assign(context->tensors_size, 0);
  for (int node_index : nodes) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* registration = nullptr;
    if (context->GetNodeAndRegistration(context, node_index, &node, &registration) != kTfLiteOk) return kTfLiteError;
    for (int i = 0; node->outputs && i < node->outputs->size; ++i)
      if (Tensor(context, node->outputs->data[i])) ++state->writers[node->outputs->data[i]];
    // Every LCE node, even one the kernels cannot run: its prepare then refuses it, naming the
    // reason, so every refusal reaches the caller from allocation, as one line.
    if (LceOpKind(registration)) claimed.push_back(node_index);
  }

  TfLiteRegistration kernel{};
  kernel.init = KernelInit;
  kernel.free = KernelFree;
  kernel.prepare = KernelPrepare;
  kernel.invoke = KernelInvoke;
  kernel.profiling_string = KernelProfilingString;
  kernel.builtin_code = kBuiltinDelegate;
  kernel.custom_name = "BcnLceDelegate";
  kernel.version = 1;
  // One node per call: a subset of several LCE nodes would leave the tensors between them
  // without buffers.
  for (int node_index : claimed) {
    TfLiteIntArray* subset = NewIntArray({node_index});
    if (!subset) return kTfLiteError;
    const TfLiteStatus status = context->ReplaceNodeSubsetsWithDelegateKernels(context, kernel, subset, delegate);
    std::free(subset);
    if (status != kTfLiteOk) return status;
  }
  return kTfLiteOk;
}

}  // namespace
}  // namespace bcn_lce

namespace {

// The kernel path the `kernel` option asks for, else BCN_LCE_KERNEL, else the best one.
bool ResolvePath(const char* requested, bcn_lce::KernelPath* path, std::string* error) {
  const char* environment = std::getenv("BCN_LCE_KERNEL");
  const std::string name = requested ? requested : environment ? environment : "";
  return bcn_lce::ChoosePath(name, path, error);
}

void Report(void (*report_error)(const char*), const std::string& message) {
  if (report_error) report_error(("bcn-lce delegate: " + message).c_str());
}

}  // namespace

BCN_EXPORT TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t count,
                                                         void (*report_error)(const char*)) {
  auto state = std::make_unique<bcn_lce::DelegateState>();
  const char* kernel = nullptr;
  for (size_t i = 0; i < count; ++i) {
    if (std::strcmp(keys[i], "num_threads") == 0) {
      char* end = nullptr;
      const long threads = std::strtol(values[i], &end, 10);
      if (end == values[i] || *end != '\0' || threads < 0 || threads > 256) {
        Report(report_error, "num_threads must be an integer from 0 to 256");
        return nullptr;
      }
      state->num_threads = int(threads);
    } else if (std::strcmp(keys[i], "kernel") == 0) {
      kernel = values[i];
    } else if (std::strcmp(keys[i], "profile") == 0) {
      state->profiling = std::strcmp(values[i], "1") == 0;
      if (!state->profiling && std::strcmp(values[i], "0") != 0) {
        Report(report_error, "profile must be 0 or 1");
        return nullptr;
      }
    } else {
      Report(report_error, std::string("unknown option ") + keys[i] + " (known: num_threads, kernel, profile)");
      return nullptr;
    }
  }
  std::string error;
  if (!ResolvePath(kernel, &state->path, &error)) {
    Report(report_error, error);
    return nullptr;
  }
  state->delegate.data_ = state.get();
  state->delegate.Prepare = bcn_lce::DelegatePrepare;
  state->delegate.flags = kTfLiteDelegateFlagsAllowDynamicTensors;
  return &state.release()->delegate;
}

BCN_EXPORT void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  if (delegate) delete static_cast<bcn_lce::DelegateState*>(delegate->data_);
}

// Every kernel path of this library's table, fastest first, comma-separated, into `out`;
// returns the length the whole list needs (as snprintf does).
BCN_EXPORT int bcn_lce_kernel_paths(char* out, size_t size) {
  return std::snprintf(out, size, "%s", bcn_lce::AllPaths().c_str());
}

// The profile of a delegate created with {"profile": "1"}, as JSON lines (one object per
// delegated node: op, node, input, output, binary_macs, runs, nanoseconds) into `out`; returns
// the length the whole text needs (as snprintf does), or -1 for a delegate that is not bcn's.
BCN_EXPORT int bcn_lce_delegate_profile(const TfLiteDelegate* delegate, char* out, size_t size) {
  if (!delegate || delegate->Prepare != bcn_lce::DelegatePrepare || !delegate->data_) return -1;
  std::string text;
  for (const bcn_lce::OpProfile& p : static_cast<const bcn_lce::DelegateState*>(delegate->data_)->profile)
    text += bcn_lce::Format(
        "{\"op\": \"%s\", \"node\": %d, \"input\": \"%s\", \"output\": \"%s\", \"binary_macs\": %lld, "
        "\"runs\": %lld, \"nanoseconds\": %lld}\n",
        p.op.c_str(), p.node, p.input.c_str(), p.output.c_str(), (long long)p.binary_macs, (long long)p.runs,
        (long long)p.nanoseconds);
  return std::snprintf(out, size, "%s", text.c_str());
}

// Which build of the kernels this is, for benchmark reports.
BCN_EXPORT const char* bcn_lce_delegate_version() { return "bcn-lce 0.2"; }

// The kernel path a delegate created with `requested` (NULL: no `kernel` option) would run,
// written to `out`; returns 0, or -1 with the reason in `out`.
BCN_EXPORT int bcn_lce_delegate_kernel(const char* requested, char* out, size_t size) {
  bcn_lce::KernelPath path;
  std::string error;
  const bool ok = ResolvePath(requested, &path, &error);
  std::snprintf(out, size, "%s", ok ? bcn_lce::PathName(path) : error.c_str());
  return ok ? 0 : -1;
}
