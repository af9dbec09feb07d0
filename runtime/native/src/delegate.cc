// bcn's TFLite external delegate: claims every LCE custom op node of a model (one node per
// delegate kernel) and runs it with bcn's kernels, so LCE flatbuffers run unchanged in
// LiteRT (ai-edge-litert) and tflite-runtime. Built-in ops stay with the runtime (XNNPACK).
//
//   load_delegate("libbcn_lce_delegate.so", {"num_threads": "2"})
//
// An LCE op configuration the kernels do not support fails the model at load, with one
// line naming the op, the node and the option.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
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

struct DelegateState {
  TfLiteDelegate delegate{};
  int num_threads = 0;  // 0: the interpreter's thread count
  KernelPath path = KernelPath::Scalar;
  std::unique_ptr<ThreadPool> pool;

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
  DelegateState* state = nullptr;
  std::unique_ptr<BConv2D> conv;
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
    *error = Format("%s=%lld is not supported (must be at least 1)", key, (long long)value);
    return false;
  }
  *out = int(value);
  return true;
}

// Checks one LCE node against what the kernels support; fills `spec` or says why not.
bool Describe(TfLiteContext* context, int node_index, const TfLiteNode* node, OpKind kind, const char* name,
              OpSpec* spec, std::string* error) {
  spec->kind = kind;
  spec->name = name;
  spec->node_index = node_index;
  spec->inputs.assign(node->inputs->data, node->inputs->data + node->inputs->size);
  spec->outputs.assign(node->outputs->data, node->outputs->data + node->outputs->size);
  if (spec->outputs.size() != 1 || !Tensor(context, spec->outputs[0])) {
    *error = "it must have exactly one output";
    return false;
  }
  const TfLiteTensor* input = spec->inputs.empty() ? nullptr : Tensor(context, spec->inputs[0]);
  const TfLiteTensor* output = Tensor(context, spec->outputs[0]);
  if (!input || Rank(input) < 1) {
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
    return true;
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
    if (Rank(output) != Rank(input) || Dim(input, Rank(input) - 1) != PackedSize(Dim(output, Rank(output) - 1))) {
      *error = "output shape does not match the bitpacked input shape";
      return false;
    }
    if (output->type == kTfLiteInt8 && !(output->params.scale > 0)) {
      *error = "int8 output has no quantization scale";
      return false;
    }
    return true;
  }

  std::string why;
  const std::optional<FlexMap> options =
      ParseFlexMap(static_cast<const uint8_t*>(node->custom_initial_data), size_t(node->custom_initial_data_size), &why);
  if (!options) {
    *error = why;
    return false;
  }
  if (input->type != kTfLiteInt32 || Rank(input) != 4) {
    *error = Format("input must be a bitpacked 4-D int32 tensor, not %d-D %s", Rank(input), TypeName(input->type));
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
  BConv2DShape& c = spec->conv;
  int64_t channels_in, pad_value, activation;
  if (!IntOption(*options, "channels_in", &channels_in, error) ||
      !Positive(*options, "stride_height", &c.stride_height, error) ||
      !Positive(*options, "stride_width", &c.stride_width, error) ||
      !Positive(*options, "dilation_height_factor", &c.dilation_height, error) ||
      !Positive(*options, "dilation_width_factor", &c.dilation_width, error) ||
      !PaddingOption(*options, &c.padding, error) || !IntOption(*options, "pad_values", &pad_value, error) ||
      !IntOption(*options, "fused_activation_function", &activation, error))
    return false;
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
  if (channels_in < 1 || PackedSize(int(channels_in)) != Dim(input, 3)) {
    *error = Format("channels_in=%lld does not match the input's %d bitpacked words", (long long)channels_in,
                    Dim(input, 3));
    return false;
  }
  c.channels_in = int(channels_in);
  if (spec->inputs.size() != 5) {
    *error = Format("it has %zu inputs, LCE 0.16 writes 5", spec->inputs.size());
    return false;
  }
  const TfLiteTensor* filter = Tensor(context, spec->inputs[1]);
  if (!filter || filter->type != kTfLiteInt32 || Rank(filter) != 4) {
    *error = "filter must be a bitpacked 4-D int32 tensor (OHWI)";
    return false;
  }
  if (!IsConstant(filter)) {
    *error = "filter is not a constant tensor";
    return false;
  }
  c.channels_out = Dim(filter, 0);
  c.filter_height = Dim(filter, 1);
  c.filter_width = Dim(filter, 2);
  const int filter_words = Dim(filter, 3);
  if (c.channels_out < 1 || c.filter_height < 1 || c.filter_width < 1 || filter_words < 1) {
    *error = "filter has an empty dimension";
    return false;
  }
  if (filter_words == PackedSize(c.channels_in)) {
    c.groups = 1;
  } else {
    const int words = PackedSize(c.channels_in);
    const int groups = words % filter_words == 0 ? words / filter_words : 0;
    if (groups < 2 || c.channels_in % groups != 0 || (c.channels_in / groups) % kBitsPerWord != 0 ||
        c.channels_out % groups != 0) {
      *error = Format("groups: filter depth %d words does not divide channels_in=%d into groups of a multiple "
                      "of 32 channels", filter_words, c.channels_in);
      return false;
    }
    c.groups = groups;
  }

  if (output->type == kTfLiteInt32) {
    const TfLiteTensor* thresholds = Tensor(context, spec->inputs[4]);
    if (!thresholds || thresholds->type != kTfLiteInt32 || Rank(thresholds) != 1 ||
        Dim(thresholds, 0) != c.channels_out || !IsConstant(thresholds)) {
      *error = "bitpacked output needs constant int32 thresholds, one per output channel";
      return false;
    }
    if (c.padding == Padding::Same && c.pad_value == 0) {
      *error = "pad_values=0 with SAME padding is not supported with bitpacked output (as in LCE)";
      return false;
    }
  } else if (output->type == kTfLiteFloat32 || output->type == kTfLiteInt8) {
    for (int i : {2, 3}) {
      const TfLiteTensor* t = Tensor(context, spec->inputs[i]);
      if (!t || t->type != kTfLiteFloat32 || Rank(t) != 1 || Dim(t, 0) != c.channels_out || !IsConstant(t)) {
        *error = Format("%s must be a constant float32 vector of %d values",
                        i == 2 ? "post_activation_multiplier" : "post_activation_bias", c.channels_out);
        return false;
      }
    }
    if (output->type == kTfLiteInt8 && !(output->params.scale > 0)) {
      *error = "int8 output has no quantization scale";
      return false;
    }
    if (c.padding == Padding::Same && c.pad_value == 0 &&
        (output->type != kTfLiteFloat32 || spec->activation != Activation::None)) {
      *error = "pad_values=0 with SAME padding is supported only for float output without a fused activation "
               "(as in LCE)";
      return false;
    }
  } else {
    *error = Format("output type %s is not supported (float32, int8 or int32 bitpacked)", TypeName(output->type));
    return false;
  }
  return true;
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
  std::string error;
  if (!Describe(context, node_index, node, *kind, registration->custom_name, &kernel->spec, &error)) {
    context->ReportError(context, "%s node %d: %s\n", registration->custom_name, node_index, error.c_str());
    return nullptr;
  }
  return kernel.release();
}

void KernelFree(TfLiteContext*, void* buffer) { delete static_cast<OpKernel*>(buffer); }

TfLiteStatus KernelPrepare(TfLiteContext* context, TfLiteNode* node) {
  auto* kernel = static_cast<OpKernel*>(node->user_data);
  if (!kernel) return kTfLiteError;
  const OpSpec& spec = kernel->spec;
  const TfLiteTensor* input = Tensor(context, spec.inputs[0]);
  TfLiteTensor* output = &context->tensors[spec.outputs[0]];
  auto fail = [&](const std::string& why) {
    context->ReportError(context, "%s node %d: %s\n", spec.name.c_str(), spec.node_index, why.c_str());
    return kTfLiteError;
  };

  switch (spec.kind) {
    case OpKind::Quantize: {
      std::vector<int> shape(input->dims->data, input->dims->data + input->dims->size);
      shape.back() = PackedSize(shape.back());
      return Resize(context, output, shape);
    }
    case OpKind::Dequantize: {
      // The unpacked channel count is only known from the output's own shape.
      for (int i = 0; i + 1 < Rank(input); ++i)
        if (Dim(output, i) != Dim(input, i)) return fail("output shape does not match the input shape");
      return kTfLiteOk;
    }
    case OpKind::BMaxPool2D: {
      BMaxPoolShape& p = kernel->spec.pool;
      p.batch = Dim(input, 0), p.in_height = Dim(input, 1), p.in_width = Dim(input, 2), p.words = Dim(input, 3);
      const AxisPadding py = ComputeAxisPadding(p.padding, p.in_height, p.filter_height, p.stride_height, 1);
      const AxisPadding px = ComputeAxisPadding(p.padding, p.in_width, p.filter_width, p.stride_width, 1);
      if (py.out_size < 1 || px.out_size < 1) return fail("the pooling window is larger than the input");
      return Resize(context, output, {p.batch, py.out_size, px.out_size, p.words});
    }
    case OpKind::BConv2D: {
      BConv2DShape shape = spec.conv;
      shape.batch = Dim(input, 0), shape.in_height = Dim(input, 1), shape.in_width = Dim(input, 2);
      BConv2DOutput out;
      out.activation = spec.activation;
      out.type = output->type == kTfLiteInt32 ? OutputType::Bitpacked
                 : output->type == kTfLiteInt8 ? OutputType::Int8 : OutputType::Float32;
      const int n = shape.channels_out;
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
      kernel->conv = std::make_unique<BConv2D>(shape, Tensor(context, spec.inputs[1])->data.i32, out, pool->size(),
                                               kernel->state->path);
      if (kernel->conv->out_height() < 1 || kernel->conv->out_width() < 1)
        return fail("the filter is larger than the input");
      return Resize(context, output,
                    {shape.batch, kernel->conv->out_height(), kernel->conv->out_width(), kernel->conv->out_depth()});
    }
  }
  return kTfLiteError;
}

TfLiteStatus KernelInvoke(TfLiteContext* context, TfLiteNode* node) {
  auto* kernel = static_cast<OpKernel*>(node->user_data);
  if (!kernel) return kTfLiteError;
  const OpSpec& spec = kernel->spec;
  const TfLiteTensor* input = &context->tensors[spec.inputs[0]];
  TfLiteTensor* output = &context->tensors[spec.outputs[0]];
  switch (spec.kind) {
    case OpKind::Quantize: {
      const int cols = Dim(input, Rank(input) - 1);
      const int64_t rows = cols ? Elements(input) / cols : 0;
      const int words = PackedSize(cols);
      const PackFunction pack = PackFor(kernel->state->path);
      // Rows split evenly over the pool's threads.
      ThreadPool* pool = kernel->state->Pool(context);
      const int tasks = int(std::min<int64_t>(rows, pool->size()));
      auto pack_rows = [&](int task, int) {
        const int64_t begin = rows * task / tasks, end = rows * (task + 1) / tasks;
        if (input->type == kTfLiteFloat32)
          pack(input->data.f + begin * cols, end - begin, cols, output->data.i32 + begin * words);
        else
          PackInt8(input->data.int8 + begin * cols, end - begin, cols, input->params.zero_point,
                   output->data.i32 + begin * words);
      };
      pool->Run(tasks, pack_rows);
      return kTfLiteOk;
    }
    case OpKind::Dequantize: {
      const int cols = Dim(output, Rank(output) - 1);
      const int64_t rows = cols ? Elements(output) / cols : 0;
      if (output->type == kTfLiteFloat32) {
        UnpackFloat(input->data.i32, rows, cols, output->data.f);
      } else {
        const int offset = static_cast<int>(std::round(1.0f / output->params.scale));
        const int8_t zero_bit = static_cast<int8_t>(std::min(127, output->params.zero_point + offset));
        const int8_t one_bit = static_cast<int8_t>(std::max(-128, output->params.zero_point - offset));
        UnpackInt8(input->data.i32, rows, cols, zero_bit, one_bit, output->data.int8);
      }
      return kTfLiteOk;
    }
    case OpKind::BMaxPool2D:
      BMaxPool2D(spec.pool, input->data.i32, output->data.i32);
      return kTfLiteOk;
    case OpKind::BConv2D:
      kernel->conv->Run(input->data.i32, output->data.data, kernel->state->Pool(context));
      return kTfLiteOk;
  }
  return kTfLiteError;
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
  for (int node_index : nodes) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* registration = nullptr;
    if (context->GetNodeAndRegistration(context, node_index, &node, &registration) != kTfLiteOk) return kTfLiteError;
    const std::optional<OpKind> kind = LceOpKind(registration);
    if (!kind) continue;
    OpSpec spec;
    std::string error;
    if (!Describe(context, node_index, node, *kind, registration->custom_name, &spec, &error)) {
      context->ReportError(context, "%s node %d: %s\n", registration->custom_name, node_index, error.c_str());
      return kTfLiteError;
    }
    claimed.push_back(node_index);
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
    } else {
      Report(report_error, std::string("unknown option ") + keys[i] + " (known: num_threads, kernel)");
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
