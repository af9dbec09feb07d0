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
#include "op.h"

#define BCN_EXPORT extern "C" __attribute__((visibility("default")))

namespace bcn_lce {
namespace {

constexpr int kBuiltinDelegate = 51;  // BuiltinOperator_DELEGATE

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

// One claimed node's kernel: the op's node, why it cannot run (from its options and types:
// refused at prepare), and the bytes prepare found its input and output to need.
struct OpKernel {
  OpNode op;
  std::string error;
  uint64_t input_bytes = 0, output_bytes = 0;
  DelegateState* state = nullptr;
  int profile_index = -1;  // its entry in state->profile once prepared with profiling on
};

const OpType* LceOp(const TfLiteRegistration* registration) {
  if (registration == nullptr || registration->builtin_code != kTfLiteBuiltinCustom || !registration->custom_name)
    return nullptr;
  return FindOp(registration->custom_name);
}

// The output: one tensor the op may write, not a constant (the model's own bytes) and not
// also one of its inputs.
bool CheckOutput(TfLiteContext* context, const OpNode& op, std::string* error) {
  const TfLiteTensor* output = op.outputs.size() == 1 ? Tensor(context, op.outputs[0]) : nullptr;
  if (!output)
    *error = "it must have exactly one output";
  else if (IsConstant(output))
    *error = "output is a constant tensor";
  else if (output->sparsity)
    *error = "output is a sparse tensor";
  else if (std::count(op.inputs.begin(), op.inputs.end(), op.outputs[0]))
    *error = "output is also an input";
  else
    return CheckInt8(output, "output", error);
  return false;
}

// Checks one LCE node against what its op supports (what a resize cannot change); fills `op` or
// says why not. Shapes are checked at prepare.
bool Describe(TfLiteContext* context, int node_index, const TfLiteNode* node, const OpType* type, OpNode* op,
              std::string* error) {
  op->type = type;
  op->index = node_index;
  op->inputs.assign(node->inputs->data, node->inputs->data + node->inputs->size);
  op->outputs.assign(node->outputs->data, node->outputs->data + node->outputs->size);
  if (!CheckOutput(context, *op, error)) return false;
  if (op->inputs.empty() || !Tensor(context, op->inputs[0])) {
    *error = "its input is missing";
    return false;
  }
  return type->describe(context, node, op, error);
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
  const OpNode& op = kernel->op;
  OpProfile& entry = profile[kernel->profile_index];
  entry.op = op.type->name;
  entry.node = op.index;
  entry.input = ShapeAndType(Tensor(context, op.inputs[0]));
  entry.output = ShapeAndType(Tensor(context, op.outputs[0]));
  entry.binary_macs = op.binary_macs;
}

void* KernelInit(TfLiteContext* context, const char* buffer, size_t) {
  const auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  if (!params || !params->nodes_to_replace || params->nodes_to_replace->size != 1) return nullptr;
  const int node_index = params->nodes_to_replace->data[0];
  TfLiteNode* node = nullptr;
  TfLiteRegistration* registration = nullptr;
  if (context->GetNodeAndRegistration(context, node_index, &node, &registration) != kTfLiteOk) return nullptr;
  const OpType* type = LceOp(registration);
  if (!type) return nullptr;
  auto kernel = std::make_unique<OpKernel>();
  kernel->state = static_cast<DelegateState*>(params->delegate->data_);
  if (!Describe(context, node_index, node, type, &kernel->op, &kernel->error) && kernel->error.empty())
    kernel->error = "it cannot run";
  // Another writer could resize the output after this op is prepared, and before it runs.
  const std::vector<int>& writers = kernel->state->writers;
  const int output = kernel->op.outputs.empty() ? -1 : kernel->op.outputs[0];
  if (kernel->error.empty() && output >= 0 && size_t(output) < writers.size() && writers[output] > 1)
    kernel->error = "output is also written by another op";
  return kernel.release();
}

void KernelFree(TfLiteContext*, void* buffer) { delete static_cast<OpKernel*>(buffer); }

OpEnvironment Environment(TfLiteContext* context, DelegateState* state) { return {state->path, state->Pool(context)}; }

// Runs at allocation and again after every resize: checks everything invoke relies on against
// the tensors as they are now, then sizes the output.
TfLiteStatus KernelPrepare(TfLiteContext* context, TfLiteNode* node) {
  auto* kernel = static_cast<OpKernel*>(node->user_data);
  if (!kernel) return kTfLiteError;
  OpNode& op = kernel->op;
  const char* name = op.type->name;
  if (!kernel->error.empty()) return Refuse(context, name, op.index, kernel->error);
  std::vector<int> shape;
  std::string error;
  try {
    if (!op.type->prepare(context, &op, Environment(context, kernel->state), &shape, &error) ||
        !CheckDims(shape.data(), int(shape.size()), "output", 0, &error))
      return Refuse(context, name, op.index, error);
  } catch (const std::bad_alloc&) {
    return Refuse(context, name, op.index, "not enough memory for its weights");
  }
  TfLiteTensor* output = &context->tensors[op.outputs[0]];
  if (Resize(context, output, shape) != kTfLiteOk) return kTfLiteError;
  const TfLiteTensor* input = Tensor(context, op.inputs[0]);
  kernel->input_bytes = uint64_t(Elements(input) * TypeSize(input->type));
  kernel->output_bytes = uint64_t(Elements(output) * TypeSize(output->type));
  if (output->bytes < kernel->output_bytes) {
    error =
        Format("output holds %zu bytes, its shape needs %llu", output->bytes, (unsigned long long)kernel->output_bytes);
    return Refuse(context, name, op.index, error);
  }
  if (kernel->state->profiling) RecordShapes(context, kernel);
  return kTfLiteOk;
}

TfLiteStatus RunOp(TfLiteContext* context, OpKernel* kernel) {
  OpNode& op = kernel->op;
  const TfLiteTensor* input = &context->tensors[op.inputs[0]];
  TfLiteTensor* output = &context->tensors[op.outputs[0]];
  // In a crafted graph LiteRT may give a tensor no memory (no op writes or reads it), or
  // another op writing the same tensor may have resized it after this one was prepared.
  if (!input->data.raw || !output->data.raw || input->bytes < kernel->input_bytes ||
      output->bytes < kernel->output_bytes)
    return Refuse(context, op.type->name, op.index,
                  !input->data.raw || !output->data.raw ? "a tensor it reads or writes has no memory"
                                                        : "another op resized a tensor it reads or writes");
  return op.type->run(&op, *input, output, Environment(context, kernel->state)) ? kTfLiteOk : kTfLiteError;
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
  return kernel ? kernel->op.type->name : "bcn-lce";
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
    if (LceOp(registration)) claimed.push_back(node_index);
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
