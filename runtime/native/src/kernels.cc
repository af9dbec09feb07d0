#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace bcn_lce {
namespace {

inline uint32_t Word(int32_t w) { return static_cast<uint32_t>(w); }

// Set bits of a[i] ^ b[i] over n words: the number of +1/-1 products that are -1.
inline int32_t XorPopcount(const int32_t* a, const int32_t* b, int n) {
  int32_t sum = 0;
  int i = 0;
  for (; i + 2 <= n; i += 2) {
    uint64_t x, y;
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    sum += __builtin_popcountll(x ^ y);
  }
  if (i < n) sum += __builtin_popcount(Word(a[i]) ^ Word(b[i]));
  return sum;
}

inline int8_t SaturateInt8(int32_t x) {
  return static_cast<int8_t>(std::min<int32_t>(127, std::max<int32_t>(-128, x)));
}

}  // namespace

AxisPadding ComputeAxisPadding(Padding padding, int in_size, int filter_size, int stride, int dilation) {
  const int effective = (filter_size - 1) * dilation + 1;
  const int out = padding == Padding::Same ? (in_size + stride - 1) / stride : (in_size + stride - effective) / stride;
  const int total = std::max(0, (out - 1) * stride + effective - in_size);
  return {out, total / 2};
}

void PackFloat(const float* in, int64_t rows, int cols, int32_t* out) {
  const int words = PackedSize(cols);
  for (int64_t r = 0; r < rows; ++r, in += cols, out += words) {
    for (int w = 0; w < words; ++w) {
      const int begin = w * kBitsPerWord, end = std::min(cols, begin + kBitsPerWord);
      uint32_t bits = 0;
      for (int c = begin; c < end; ++c) bits |= uint32_t(in[c] < 0.0f) << (c - begin);
      out[w] = static_cast<int32_t>(bits);
    }
  }
}

void PackInt8(const int8_t* in, int64_t rows, int cols, int32_t zero_point, int32_t* out) {
  const int words = PackedSize(cols);
  for (int64_t r = 0; r < rows; ++r, in += cols, out += words) {
    for (int w = 0; w < words; ++w) {
      const int begin = w * kBitsPerWord, end = std::min(cols, begin + kBitsPerWord);
      uint32_t bits = 0;
      for (int c = begin; c < end; ++c) bits |= uint32_t(int32_t(in[c]) < zero_point) << (c - begin);
      out[w] = static_cast<int32_t>(bits);
    }
  }
}

void UnpackFloat(const int32_t* in, int64_t rows, int cols, float* out) {
  const int words = PackedSize(cols);
  for (int64_t r = 0; r < rows; ++r, in += words, out += cols)
    for (int c = 0; c < cols; ++c) out[c] = (Word(in[c / kBitsPerWord]) >> (c % kBitsPerWord)) & 1u ? -1.0f : 1.0f;
}

void UnpackInt8(const int32_t* in, int64_t rows, int cols, int8_t zero_bit, int8_t one_bit, int8_t* out) {
  const int words = PackedSize(cols);
  for (int64_t r = 0; r < rows; ++r, in += words, out += cols)
    for (int c = 0; c < cols; ++c) out[c] = (Word(in[c / kBitsPerWord]) >> (c % kBitsPerWord)) & 1u ? one_bit : zero_bit;
}

void BMaxPool2D(const BMaxPoolShape& s, const int32_t* in, int32_t* out) {
  const AxisPadding py = ComputeAxisPadding(s.padding, s.in_height, s.filter_height, s.stride_height, 1);
  const AxisPadding px = ComputeAxisPadding(s.padding, s.in_width, s.filter_width, s.stride_width, 1);
  for (int b = 0; b < s.batch; ++b) {
    for (int oy = 0; oy < py.out_size; ++oy) {
      const int y0 = oy * s.stride_height - py.pad_before;
      const int y_begin = std::max(0, y0), y_end = std::min(s.in_height, y0 + s.filter_height);
      for (int ox = 0; ox < px.out_size; ++ox) {
        const int x0 = ox * s.stride_width - px.pad_before;
        const int x_begin = std::max(0, x0), x_end = std::min(s.in_width, x0 + s.filter_width);
        int32_t* dst = out + ((int64_t(b) * py.out_size + oy) * px.out_size + ox) * s.words;
        for (int w = 0; w < s.words; ++w) dst[w] = -1;  // all bits set: AND identity
        for (int y = y_begin; y < y_end; ++y)
          for (int x = x_begin; x < x_end; ++x) {
            const int32_t* src = in + ((int64_t(b) * s.in_height + y) * s.in_width + x) * s.words;
            for (int w = 0; w < s.words; ++w) dst[w] &= src[w];
          }
      }
    }
  }
}

BConv2D::BConv2D(const BConv2DShape& shape, const int32_t* filter, const BConv2DOutput& output, int threads)
    : shape_(shape), type_(output.type) {
  const AxisPadding py =
      ComputeAxisPadding(shape.padding, shape.in_height, shape.filter_height, shape.stride_height, shape.dilation_height);
  const AxisPadding px =
      ComputeAxisPadding(shape.padding, shape.in_width, shape.filter_width, shape.stride_width, shape.dilation_width);
  out_height_ = py.out_size;
  out_width_ = px.out_size;
  pad_top_ = py.pad_before;
  pad_left_ = px.pad_before;
  in_words_ = PackedSize(shape.channels_in);
  const int group_channels = shape.channels_in / shape.groups;
  group_words_ = PackedSize(group_channels);
  const int taps = shape.filter_height * shape.filter_width;
  filter_size_ = taps * group_words_;
  filter_.assign(filter, filter + int64_t(shape.channels_out) * filter_size_);

  filter_popcount_.resize(size_t(shape.channels_out) * taps);
  for (int o = 0; o < shape.channels_out; ++o)
    for (int t = 0; t < taps; ++t) {
      int32_t count = 0;
      for (int w = 0; w < group_words_; ++w) count += __builtin_popcount(Word(filter_[size_t(o) * filter_size_ + t * group_words_ + w]));
      filter_popcount_[size_t(o) * taps + t] = count;
    }

  // accum counts the -1 products of K = taps * group_channels; the convolution's value is
  // K - 2 * accum. LCE folds that into the clamp and the multiplier/bias, computed in double.
  const int32_t k = taps * group_channels;
  if (type_ == OutputType::Bitpacked) {
    thresholds_ = output.thresholds;
  } else {
    int32_t low = std::numeric_limits<int32_t>::lowest(), high = std::numeric_limits<int32_t>::max();
    if (output.activation == Activation::Relu) low = 0;
    if (output.activation == Activation::Relu6) low = 0, high = 6;
    if (output.activation == Activation::ReluN1To1) low = -1, high = 1;
    low = std::max(low, -k);
    high = std::min(high, k);
    clamp_min_ = k - high;
    clamp_max_ = k - low;
    const double scale = type_ == OutputType::Int8 ? output.int8_scale : 1.0;
    const double zero_point = type_ == OutputType::Int8 ? output.int8_zero_point : 0.0;
    multiplier_.resize(shape.channels_out);
    bias_.resize(shape.channels_out);
    for (int o = 0; o < shape.channels_out; ++o) {
      const double m = output.post_multiplier[o], b = output.post_bias[o];
      multiplier_[o] = static_cast<float>(-1 * m / scale);
      bias_[o] = static_cast<float>((b + static_cast<double>(k) * m) / scale + zero_point);
    }
    zero_padding_correction_ = shape.padding == Padding::Same && shape.pad_value == 0;
    if (zero_padding_correction_) {
      zero_pad_multiplier_.resize(shape.channels_out);
      for (int o = 0; o < shape.channels_out; ++o) zero_pad_multiplier_[o] = -1.0f * output.post_multiplier[o];
    }
  }
  scratch_.assign(std::max(1, threads), std::vector<int32_t>(2 * size_t(shape.channels_out)));
}

int BConv2D::out_depth() const {
  return type_ == OutputType::Bitpacked ? PackedSize(shape_.channels_out) : shape_.channels_out;
}

void BConv2D::Accumulate(const int32_t* input, int batch, int out_y, int out_x, int32_t* accum,
                         int32_t* correction) const {
  const BConv2DShape& s = shape_;
  const int y0 = out_y * s.stride_height - pad_top_;
  const int x0 = out_x * s.stride_width - pad_left_;
  const int fh = s.filter_height, fw = s.filter_width, dh = s.dilation_height, dw = s.dilation_width;
  const int64_t row_stride = int64_t(s.in_width) * in_words_;
  const int32_t* image = input + int64_t(batch) * s.in_height * row_stride;
  const bool inside = y0 >= 0 && y0 + (fh - 1) * dh < s.in_height && x0 >= 0 && x0 + (fw - 1) * dw < s.in_width;

  if (inside && s.groups == 1 && dw == 1) {
    // Each filter row meets fw consecutive input pixels: one contiguous run of words.
    const int run = fw * in_words_;
    for (int o = 0; o < s.channels_out; ++o) {
      const int32_t* f = filter_.data() + size_t(o) * filter_size_;
      int32_t sum = 0;
      for (int ky = 0; ky < fh; ++ky)
        sum += XorPopcount(image + (y0 + ky * dh) * row_stride + int64_t(x0) * in_words_, f + ky * run, run);
      accum[o] = sum;
    }
    return;
  }

  const int taps = fh * fw;
  const int group_channels = s.channels_in / s.groups;
  const int outs_per_group = s.channels_out / s.groups;
  std::fill(accum, accum + s.channels_out, 0);
  if (correction) std::fill(correction, correction + s.channels_out, 0);
  for (int ky = 0; ky < fh; ++ky) {
    const int y = y0 + ky * dh;
    for (int kx = 0; kx < fw; ++kx) {
      const int x = x0 + kx * dw;
      const int t = ky * fw + kx;
      if (y >= 0 && y < s.in_height && x >= 0 && x < s.in_width) {
        const int32_t* pixel = image + y * row_stride + int64_t(x) * in_words_;
        for (int o = 0; o < s.channels_out; ++o)
          accum[o] += XorPopcount(pixel + (o / outs_per_group) * group_words_,
                                  filter_.data() + size_t(o) * filter_size_ + t * group_words_, group_words_);
      } else {
        // Padding is bit 0 (+1): the product is the filter's own sign.
        for (int o = 0; o < s.channels_out; ++o) {
          const int32_t ones = filter_popcount_[size_t(o) * taps + t];
          accum[o] += ones;
          if (correction) correction[o] += group_channels - 2 * ones;
        }
      }
    }
  }
}

void BConv2D::Row(const int32_t* input, void* output, int batch, int out_y, int thread) {
  const int channels = shape_.channels_out;
  int32_t* accum = scratch_[thread].data();
  int32_t* correction = accum + channels;
  const int depth = out_depth();
  const int64_t first = (int64_t(batch) * out_height_ + out_y) * out_width_ * depth;

  // Where LCE applies its zero-padding correction: the effective window sticks out on one
  // side of each axis at most (it computes no correction for a window wider than the image).
  const int eff_h = (shape_.filter_height - 1) * shape_.dilation_height + 1;
  const int eff_w = (shape_.filter_width - 1) * shape_.dilation_width + 1;
  const int top_offset = ((out_height_ - 1) * shape_.stride_height + eff_h - shape_.in_height) / 2;
  const int left_offset = ((out_width_ - 1) * shape_.stride_width + eff_w - shape_.in_width) / 2;
  const int over_top = top_offset - out_y * shape_.stride_height;
  const int over_bottom = -over_top - shape_.in_height + eff_h;

  for (int out_x = 0; out_x < out_width_; ++out_x) {
    bool corrected = false;
    if (zero_padding_correction_) {
      const int over_left = left_offset - out_x * shape_.stride_width;
      const int over_right = -over_left - shape_.in_width + eff_w;
      const bool border = over_left > 0 || over_right > 0 || over_top > 0 || over_bottom > 0;
      corrected = border && ((over_right <= 0 && over_top > 0 && over_bottom < 0) ||
                             (over_left < 0 && over_right > 0 && over_bottom <= 0) ||
                             (over_left > 0 && over_right < 0 && over_top <= 0) ||
                             (over_left <= 0 && over_top < 0 && over_bottom > 0));
    }
    Accumulate(input, batch, out_y, out_x, accum, zero_padding_correction_ ? correction : nullptr);
    const int64_t at = first + int64_t(out_x) * depth;
    if (type_ == OutputType::Bitpacked) {
      int32_t* dst = static_cast<int32_t*>(output) + at;
      for (int w = 0; w < depth; ++w) {
        uint32_t bits = 0;
        const int end = std::min(channels, (w + 1) * kBitsPerWord);
        for (int o = w * kBitsPerWord; o < end; ++o) bits |= uint32_t(accum[o] > thresholds_[o]) << (o % kBitsPerWord);
        dst[w] = static_cast<int32_t>(bits);
      }
      continue;
    }
    for (int o = 0; o < channels; ++o) {
      const int32_t x = std::min(clamp_max_, std::max(clamp_min_, accum[o] * 2));
      float value = static_cast<float>(x) * multiplier_[o] + bias_[o];
      if (type_ == OutputType::Int8) {
        static_cast<int8_t*>(output)[at + o] = SaturateInt8(static_cast<int32_t>(std::round(value)));
      } else {
        if (corrected) value += zero_pad_multiplier_[o] * static_cast<float>(correction[o]);
        static_cast<float*>(output)[at + o] = value;
      }
    }
  }
}

void BConv2D::Run(const int32_t* input, void* output, ThreadPool* pool) {
  const int rows = shape_.batch * out_height_;
  auto row = [&](int task, int thread) { Row(input, output, task / out_height_, task % out_height_, thread); };
  if (pool == nullptr || int(scratch_.size()) < pool->size()) {
    for (int task = 0; task < rows; ++task) row(task, 0);
    return;
  }
  pool->Run(rows, row);
}

}  // namespace bcn_lce
