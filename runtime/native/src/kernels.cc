#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace bcn_lce {
namespace {

inline uint32_t Word(int32_t w) { return static_cast<uint32_t>(w); }

// A double as float, finite values saturated (converting one beyond float's range is undefined).
inline float ToFloat(double x) {
  constexpr double kMax = std::numeric_limits<float>::max();
  return static_cast<float>(std::isfinite(x) ? std::min(kMax, std::max(-kMax, x)) : x);
}

}  // namespace

AxisPadding ComputeAxisPadding(Padding padding, int in_size, int filter_size, int stride, int dilation) {
  const int64_t effective = (int64_t(filter_size) - 1) * dilation + 1;
  const int64_t out =
      padding == Padding::Same ? (int64_t(in_size) + stride - 1) / stride : (in_size + stride - effective) / stride;
  const int64_t total = std::max<int64_t>(0, (out - 1) * stride + effective - in_size);
  return {out, total / 2};
}

void PackFloat(const float* in, int64_t rows, int cols, int32_t* out) {
  const int words = PackedSize(cols);
  for (int64_t r = 0; r < rows; ++r, in += cols, out += words) {
    for (int w = 0; w < words; ++w)
      out[w] = PackWord(in + w * kBitsPerWord, std::min(kBitsPerWord, cols - w * kBitsPerWord));
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
    for (int c = 0; c < cols; ++c)
      out[c] = (Word(in[c / kBitsPerWord]) >> (c % kBitsPerWord)) & 1u ? one_bit : zero_bit;
}

void BMaxPool2D(const BMaxPoolShape& s, const int32_t* in, int32_t* out) {
  const AxisPadding py = ComputeAxisPadding(s.padding, s.in_height, s.filter_height, s.stride_height, 1);
  const AxisPadding px = ComputeAxisPadding(s.padding, s.in_width, s.filter_width, s.stride_width, 1);
  const int out_height = int(py.out_size), out_width = int(px.out_size);
  const int pad_top = int(py.pad_before), pad_left = int(px.pad_before);
  for (int b = 0; b < s.batch; ++b) {
    for (int oy = 0; oy < out_height; ++oy) {
      const int y0 = oy * s.stride_height - pad_top;
      const int y_begin = std::max(0, y0), y_end = std::min(s.in_height, y0 + s.filter_height);
      for (int ox = 0; ox < out_width; ++ox) {
        const int x0 = ox * s.stride_width - pad_left;
        const int x_begin = std::max(0, x0), x_end = std::min(s.in_width, x0 + s.filter_width);
        int32_t* dst = out + ((int64_t(b) * out_height + oy) * out_width + ox) * s.words;
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

BConv2D::BConv2D(const BConv2DShape& shape, const int32_t* filter, const BConv2DOutput& output, int threads,
                 KernelPath path)
    : shape_(shape), type_(output.type), tile_(TileFor(path)), tile_pixels_(TilePixelsFor(path)) {
  const AxisPadding py = ComputeAxisPadding(shape.padding, shape.in_height, shape.filter_height, shape.stride_height,
                                            shape.dilation_height);
  const AxisPadding px =
      ComputeAxisPadding(shape.padding, shape.in_width, shape.filter_width, shape.stride_width, shape.dilation_width);
  out_height_ = int(py.out_size);
  out_width_ = int(px.out_size);
  pad_top_ = int(py.pad_before);
  pad_left_ = int(px.pad_before);
  in_words_ = PackedSize(shape.channels_in);
  const int group_channels = shape.channels_in / shape.groups;
  const int outs_per_group = shape.channels_out / shape.groups;
  group_words_ = PackedSize(group_channels);
  taps_ = shape.filter_height * shape.filter_width;
  blocks_per_group_ = (outs_per_group + kBlockChannels - 1) / kBlockChannels;
  accum_stride_ = shape.groups == 1 ? blocks_per_group_ * kBlockChannels : shape.channels_out;
  zero_words_.assign(size_t(shape.filter_width) * in_words_, 0);  // a tap, or a whole filter row

  // Repack [out][tap][word] into blocks of kBlockChannels outputs, the channel innermost,
  // so a tile reads one vector of weights per input word. Missing channels get zero weights.
  const int filter_size = taps_ * group_words_;
  weights_.assign(size_t(shape.groups) * blocks_per_group_ * filter_size * kBlockChannels, 0);
  filter_popcount_.assign(size_t(shape.channels_out) * taps_, 0);
  for (int o = 0; o < shape.channels_out; ++o) {
    const int group = o / outs_per_group, block = (o % outs_per_group) / kBlockChannels,
              lane = o % outs_per_group % kBlockChannels;
    int32_t* dst = weights_.data() + (size_t(group) * blocks_per_group_ + block) * filter_size * kBlockChannels + lane;
    for (int t = 0; t < taps_; ++t)
      for (int w = 0; w < group_words_; ++w) {
        const int32_t word = filter[size_t(o) * filter_size + t * group_words_ + w];
        dst[(t * group_words_ + w) * kBlockChannels] = word;
        filter_popcount_[size_t(o) * taps_ + t] += __builtin_popcount(Word(word));
      }
  }

  // accum counts the -1 products of K = taps * group_channels; the convolution's value is
  // K - 2 * accum. LCE folds that into the clamp and the multiplier/bias, computed in double.
  // The per-channel constants are padded with zeros to whole blocks, which tiles read whole.
  const int32_t k = taps_ * group_channels;
  const size_t padded = size_t(PackedSize(shape.channels_out)) * kBitsPerWord;
  if (type_ == OutputType::Bitpacked) {
    thresholds_ = output.thresholds;
    thresholds_.resize(padded, 0);
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
    multiplier_.assign(padded, 0.0f);
    bias_.assign(padded, 0.0f);
    for (int o = 0; o < shape.channels_out; ++o) {
      const double m = output.post_multiplier[o], b = output.post_bias[o];
      multiplier_[o] = ToFloat(-1 * m / scale);
      bias_[o] = ToFloat((b + static_cast<double>(k) * m) / scale + zero_point);
    }
    zero_padding_correction_ = shape.padding == Padding::Same && shape.pad_value == 0;
    if (zero_padding_correction_) {
      zero_pad_multiplier_.resize(shape.channels_out);
      for (int o = 0; o < shape.channels_out; ++o) zero_pad_multiplier_[o] = -1.0f * output.post_multiplier[o];
    }
  }
  scratch_.resize(std::max(1, threads));
  for (Scratch& s : scratch_) {
    s.taps.resize(size_t(kTilePixels) * taps_);
    s.rows.resize(size_t(kTilePixels) * shape.filter_height);
    if (shape.groups > 1) s.tile.resize(size_t(kTilePixels) * kBlockChannels);
    s.accum.resize(size_t(kTilePixels) * accum_stride_);
    s.correction.resize(shape.channels_out);
  }
}

int BConv2D::out_depth() const {
  return type_ == OutputType::Bitpacked ? PackedSize(shape_.channels_out) : shape_.channels_out;
}

bool BConv2D::Corrected(int out_y, int out_x) const {
  // LCE corrects where the effective window sticks out on one side of each axis at most
  // (it computes no correction for a window wider than the image).
  const BConv2DShape& s = shape_;
  const int eff_h = (s.filter_height - 1) * s.dilation_height + 1;
  const int eff_w = (s.filter_width - 1) * s.dilation_width + 1;
  const int top_offset = ((out_height_ - 1) * s.stride_height + eff_h - s.in_height) / 2;
  const int left_offset = ((out_width_ - 1) * s.stride_width + eff_w - s.in_width) / 2;
  const int top = top_offset - out_y * s.stride_height, bottom = -top - s.in_height + eff_h;
  const int left = left_offset - out_x * s.stride_width, right = -left - s.in_width + eff_w;
  if (left <= 0 && right <= 0 && top <= 0 && bottom <= 0) return false;
  return (right <= 0 && top > 0 && bottom < 0) || (left < 0 && right > 0 && bottom <= 0) ||
         (left > 0 && right < 0 && top <= 0) || (left <= 0 && top < 0 && bottom > 0);
}

TileOutput BConv2D::BlockOutput(int first_channel, char* pixel_out) const {
  const bool bitpacked = type_ == OutputType::Bitpacked;
  const int element_bytes = type_ == OutputType::Int8 ? 1 : 4;
  TileOutput o;
  o.type = type_;
  o.clamp_min = clamp_min_, o.clamp_max = clamp_max_;
  o.multiplier = bitpacked ? nullptr : multiplier_.data() + first_channel;
  o.bias = bitpacked ? nullptr : bias_.data() + first_channel;
  o.thresholds = bitpacked ? thresholds_.data() + first_channel : nullptr;
  o.out = pixel_out + (bitpacked ? first_channel / kBitsPerWord * 4 : int64_t(first_channel) * element_bytes);
  o.pixel_bytes = int64_t(out_depth()) * element_bytes;
  o.lanes = std::min(kBlockChannels, shape_.channels_out - first_channel);
  o.high_half = bitpacked && first_channel % kBitsPerWord != 0;
  return o;
}

char* BConv2D::PixelOutput(void* output, int64_t pixel) const {
  return static_cast<char*>(output) + pixel * out_depth() * (type_ == OutputType::Int8 ? 1 : 4);
}

void BConv2D::Transform(const int32_t* accum, const int32_t* correction, bool corrected, int64_t pixel,
                        void* output) const {
  char* out = PixelOutput(output, pixel);
  for (int first = 0; first < shape_.channels_out; first += kBlockChannels)
    StoreOutputScalar(accum + first, BlockOutput(first, out), 0);
  if (!corrected) return;
  float* dst = reinterpret_cast<float*>(out);
  for (int o = 0; o < shape_.channels_out; ++o) dst[o] += zero_pad_multiplier_[o] * static_cast<float>(correction[o]);
}

bool BConv2D::RowsContiguous(int x_first, int pixels) const {
  const BConv2DShape& s = shape_;
  if (s.groups != 1 || s.dilation_width != 1) return false;
  for (int p = 0; p < pixels; ++p) {
    const int x0 = (x_first + p) * s.stride_width - pad_left_;
    if (x0 < 0 || x0 + s.filter_width > s.in_width) return false;
  }
  return true;
}

void BConv2D::PointTaps(const int32_t* image, int y0, int x_first, int pixels, Scratch& scratch) const {
  const BConv2DShape& s = shape_;
  const int64_t row_stride = int64_t(s.in_width) * in_words_;
  for (int p = 0; p < pixels; ++p) {
    const int x0 = (x_first + p) * s.stride_width - pad_left_;
    for (int ky = 0, t = 0; ky < s.filter_height; ++ky) {
      const int y = y0 + ky * s.dilation_height;
      for (int kx = 0; kx < s.filter_width; ++kx, ++t) {
        const int x = x0 + kx * s.dilation_width;
        const bool inside = y >= 0 && y < s.in_height && x >= 0 && x < s.in_width;
        scratch.taps[p * taps_ + t] = inside ? image + y * row_stride + int64_t(x) * in_words_ : zero_words_.data();
      }
    }
  }
}

void BConv2D::PointRows(const int32_t* image, int y0, int x_first, int pixels, Scratch& scratch) const {
  const BConv2DShape& s = shape_;
  const int64_t row_stride = int64_t(s.in_width) * in_words_;
  for (int p = 0; p < pixels; ++p) {
    const int x0 = (x_first + p) * s.stride_width - pad_left_;
    for (int ky = 0; ky < s.filter_height; ++ky) {
      const int y = y0 + ky * s.dilation_height;
      const bool inside = y >= 0 && y < s.in_height;
      scratch.rows[p * s.filter_height + ky] =
          inside ? image + y * row_stride + int64_t(x0) * in_words_ : zero_words_.data();
    }
  }
}

void BConv2D::CountTile(int pixels, bool rows_contiguous, char* fused_out, Scratch& scratch) const {
  const BConv2DShape& s = shape_;
  const int outs_per_group = s.channels_out / s.groups;
  for (int g = 0; g < s.groups; ++g) {
    for (int b = 0; b < blocks_per_group_; ++b) {
      const int32_t* weights =
          weights_.data() + (size_t(g) * blocks_per_group_ + b) * taps_ * group_words_ * kBlockChannels;
      const int o_first = g * outs_per_group + b * kBlockChannels;
      int32_t* accum = s.groups == 1 ? &scratch.accum[o_first] : scratch.tile.data();
      const int stride = s.groups == 1 ? accum_stride_ : kBlockChannels;
      const TileOutput block_output = fused_out ? BlockOutput(o_first, fused_out) : TileOutput{};
      const TileOutput* to = fused_out ? &block_output : nullptr;
      tile_(rows_contiguous ? TileArgs{scratch.rows.data(), pixels, s.filter_height, s.filter_width * in_words_, 0,
                                       weights, accum, stride, to}
                            : TileArgs{scratch.taps.data(), pixels, taps_, group_words_, g * group_words_, weights,
                                       accum, stride, to});
      if (s.groups == 1) continue;
      const int lanes = std::min(kBlockChannels, outs_per_group - b * kBlockChannels);
      for (int p = 0; p < pixels; ++p)
        std::memcpy(&scratch.accum[size_t(p) * accum_stride_ + o_first], &scratch.tile[p * kBlockChannels],
                    sizeof(int32_t) * lanes);
    }
  }
}

void BConv2D::TransformTile(int out_y, int x_first, int pixels, int64_t first_pixel, Scratch& scratch,
                            void* output) const {
  const int group_channels = shape_.channels_in / shape_.groups;
  for (int p = 0; p < pixels; ++p) {
    const bool corrected = zero_padding_correction_ && Corrected(out_y, x_first + p);
    if (corrected) {
      // What the taps outside the image added as +1 inputs, to be taken back.
      std::fill(scratch.correction.begin(), scratch.correction.end(), 0);
      for (int t = 0; t < taps_; ++t) {
        if (scratch.taps[p * taps_ + t] != zero_words_.data()) continue;
        for (int o = 0; o < shape_.channels_out; ++o)
          scratch.correction[o] += group_channels - 2 * filter_popcount_[size_t(o) * taps_ + t];
      }
    }
    Transform(&scratch.accum[size_t(p) * accum_stride_], scratch.correction.data(), corrected, first_pixel + p, output);
  }
}

void BConv2D::Row(const int32_t* input, void* output, int batch, int out_y, Scratch& scratch) const {
  const BConv2DShape& s = shape_;
  const int32_t* image = input + int64_t(batch) * s.in_height * s.in_width * in_words_;
  const int64_t row_first = (int64_t(batch) * out_height_ + out_y) * out_width_;
  const int y0 = out_y * s.stride_height - pad_top_;
  for (int x_first = 0; x_first < out_width_; x_first += tile_pixels_) {
    const int pixels = std::min(tile_pixels_, out_width_ - x_first);
    // With one group, each tile transforms its counts in registers and writes the output, except
    // where LCE's zero-padding correction applies: those counts go through Transform.
    bool fused = s.groups == 1;
    for (int p = 0; p < pixels && fused && zero_padding_correction_; ++p) fused = !Corrected(out_y, x_first + p);
    // Where every pixel's filter rows lie inside the image's width, each filter row meets
    // filter_width consecutive input pixels: one run of words, one long tap instead of several.
    // Otherwise, and for the correction, each tap of each pixel points at its input pixel, or at
    // +1 words outside the image.
    const bool rows_contiguous = RowsContiguous(x_first, pixels);
    if (rows_contiguous) PointRows(image, y0, x_first, pixels, scratch);
    if (!rows_contiguous || !fused) PointTaps(image, y0, x_first, pixels, scratch);
    CountTile(pixels, rows_contiguous, fused ? PixelOutput(output, row_first + x_first) : nullptr, scratch);
    if (!fused) TransformTile(out_y, x_first, pixels, row_first + x_first, scratch, output);
  }
}

void BConv2D::Run(const int32_t* input, void* output, ThreadPool* pool) {
  const int rows = shape_.batch * out_height_;
  auto row = [&](int task, int thread) {
    Row(input, output, task / out_height_, task % out_height_, scratch_[thread]);
  };
  if (pool == nullptr || int(scratch_.size()) < pool->size()) {
    for (int task = 0; task < rows; ++task) row(task, 0);
    return;
  }
  pool->Run(rows, row);
}

}  // namespace bcn_lce
