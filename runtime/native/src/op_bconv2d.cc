// LceBconv2d: the binary convolution, with float32, int8 or bitpacked output (BConv2D).
#include "op.h"

namespace bcn_lce {
namespace {

struct Conv : OpData {
  BConv2DShape options;  // from the node's options; the tensors' sizes are added at prepare
  Activation activation = Activation::None;
  std::unique_ptr<BConv2D> kernel;  // built by prepare for the shapes as they are then
};

// LceBconv2d's options: filled into `conv` or why not.
bool ConvOptions(const FlexMap& options, Conv* conv, std::string* error) {
  BConv2DShape& c = conv->options;
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
    case 0: conv->activation = Activation::None; break;
    case 1: conv->activation = Activation::Relu; break;
    case 2: conv->activation = Activation::ReluN1To1; break;
    case 3: conv->activation = Activation::Relu6; break;
    default:
      *error = Format("fused_activation_function=%lld is not supported (NONE, RELU, RELU_N1_TO_1, RELU6)",
                      (long long)activation);
      return false;
  }
  return true;
}

// LceBconv2d's weights and output type (their shapes are checked at prepare).
bool ConvTensors(TfLiteContext* context, const OpNode& op, const Conv& conv, std::string* error) {
  if (op.inputs.size() != 5) {
    *error = Format("it has %zu inputs, LCE 0.16 writes 5", op.inputs.size());
    return false;
  }
  const TfLiteTensor* output = Tensor(context, op.outputs[0]);
  if (!CheckWeight(Tensor(context, op.inputs[1]), "filter", kTfLiteInt32, error)) return false;
  const Padding padding = conv.options.padding;
  if (output->type == kTfLiteInt32) {
    if (!CheckWeight(Tensor(context, op.inputs[4]), "thresholds", kTfLiteInt32, error)) return false;
    if (padding == Padding::Same && conv.options.pad_value == 0) {
      *error = "pad_values=0 with SAME padding is not supported with bitpacked output (as in LCE)";
      return false;
    }
    return true;
  }
  if (output->type != kTfLiteFloat32 && output->type != kTfLiteInt8) {
    *error = Format("output type %s is not supported (float32, int8 or int32 bitpacked)", TypeName(output->type));
    return false;
  }
  if (!CheckWeight(Tensor(context, op.inputs[2]), "post_activation_multiplier", kTfLiteFloat32, error) ||
      !CheckWeight(Tensor(context, op.inputs[3]), "post_activation_bias", kTfLiteFloat32, error))
    return false;
  if (padding == Padding::Same && conv.options.pad_value == 0 &&
      (output->type != kTfLiteFloat32 || conv.activation != Activation::None)) {
    *error =
        "pad_values=0 with SAME padding is supported only for float output without a fused activation "
        "(as in LCE)";
    return false;
  }
  return true;
}

bool Describe(TfLiteContext* context, const TfLiteNode* node, OpNode* op, std::string* error) {
  const std::optional<FlexMap> options = NodeOptions(node, error);
  if (!options) return false;
  if (!CheckType(Tensor(context, op->inputs[0])->type, {kTfLiteInt32}, "input", "int32, bitpacked", error))
    return false;
  auto conv = std::make_unique<Conv>();
  // Inputs: input, filter, post_activation_multiplier, post_activation_bias, thresholds.
  if (!ConvOptions(*options, conv.get(), error) || !ConvTensors(context, *op, *conv, error)) return false;
  op->data = std::move(conv);
  return true;
}

// The shapes below are checked at every prepare: LiteRT prepares again after each resize.

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
bool ConvShape(TfLiteContext* context, const OpNode& op, const Conv& conv, BConv2DShape* c, std::string* error) {
  const TfLiteTensor* input = Tensor(context, op.inputs[0]);
  const TfLiteTensor* filter = Tensor(context, op.inputs[1]);
  if (!CheckInput(input, "input", 4, error) || !CheckInput(filter, "filter", 4, error)) return false;
  *c = conv.options;
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
  const bool bitpacked = Tensor(context, op.outputs[0])->type == kTfLiteInt32;
  for (int i : bitpacked ? std::vector<int>{4} : std::vector<int>{2, 3}) {
    const char* what = i == 4 ? "thresholds" : i == 2 ? "post_activation_multiplier" : "post_activation_bias";
    const TfLiteTensor* t = Tensor(context, op.inputs[i]);
    if (!CheckInput(t, what, 1, error)) return false;
    if (Dim(t, 0) != c->channels_out) {
      *error = Format("%s has %d values, the filter %d output channels", what, Dim(t, 0), c->channels_out);
      return false;
    }
  }
  return true;
}

// Builds the convolution for its present shapes; `shape` is its output's.
bool Prepare(TfLiteContext* context, OpNode* op, const OpEnvironment& environment, std::vector<int>* shape,
             std::string* error) {
  Conv& conv = static_cast<Conv&>(*op->data);
  conv.kernel.reset();
  BConv2DShape c;
  if (!ConvShape(context, *op, conv, &c, error)) return false;
  const TfLiteTensor* output = Tensor(context, op->outputs[0]);
  BConv2DOutput out;
  out.activation = conv.activation;
  out.type = output->type == kTfLiteInt32  ? OutputType::Bitpacked
             : output->type == kTfLiteInt8 ? OutputType::Int8
                                           : OutputType::Float32;
  const int n = c.channels_out;
  if (out.type == OutputType::Bitpacked) {
    const int32_t* t = Tensor(context, op->inputs[4])->data.i32;
    out.thresholds.assign(t, t + n);
  } else {
    const float* m = Tensor(context, op->inputs[2])->data.f;
    const float* b = Tensor(context, op->inputs[3])->data.f;
    out.post_multiplier.assign(m, m + n);
    out.post_bias.assign(b, b + n);
    out.int8_scale = output->params.scale;
    out.int8_zero_point = output->params.zero_point;
  }
  conv.kernel = std::make_unique<BConv2D>(c, Tensor(context, op->inputs[1])->data.i32, out, environment.pool->size(),
                                          environment.path);
  const BConv2D& k = *conv.kernel;
  *shape = {c.batch, k.out_height(), k.out_width(), k.out_depth()};
  op->binary_macs = int64_t(c.batch) * k.out_height() * k.out_width() * c.channels_out * c.filter_height *
                    c.filter_width * (c.channels_in / c.groups);
  return true;
}

bool Run(OpNode* op, const TfLiteTensor& input, TfLiteTensor* output, const OpEnvironment& environment) {
  BConv2D* kernel = static_cast<Conv&>(*op->data).kernel.get();
  if (!kernel) return false;
  kernel->Run(input.data.i32, output->data.data, environment.pool);
  return true;
}

}  // namespace

extern const OpType kLceBconv2d = {"LceBconv2d", Describe, Prepare, Run};

}  // namespace bcn_lce
