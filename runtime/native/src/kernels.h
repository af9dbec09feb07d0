// LCE 0.16's custom ops on plain arrays, free of any TFLite type: bitpacking (LceQuantize),
// unpacking (LceDequantize), the binary convolution (LceBconv2d) and the binary max-pool
// (LceBMaxPool2d). Bitpacked tensors hold 32 channels per int32 word, channel c in bit
// c % 32 of word c / 32, a set bit meaning -1 and a clear bit +1; unused bits are 0.
#ifndef BCN_LCE_KERNELS_H_
#define BCN_LCE_KERNELS_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernel_path.h"
#include "thread_pool.h"

namespace bcn_lce {

constexpr int kBitsPerWord = 32;
inline int PackedSize(int channels) { return channels / kBitsPerWord + (channels % kBitsPerWord != 0); }

// std::round (halves away from zero) saturated to int8, as LCE writes an int8 output, in
// operations a compiler vectorizes: x is clamped to [-129, 128] first (NaN to -129, where
// std::max places it), which changes no saturated result and keeps the integer conversion
// defined; the fraction x - trunc(x) is exact in float.
inline int8_t RoundToInt8(float x) {
  const float clamped = std::min(128.0f, std::max(-129.0f, x));
  const int32_t whole = static_cast<int32_t>(clamped);
  const float fraction = clamped - static_cast<float>(whole);
  const int32_t rounded = whole + (fraction >= 0.5f) - (fraction <= -0.5f);
  return static_cast<int8_t>(std::min(127, std::max(-128, rounded)));
}

enum class Padding { Same, Valid };
// TFLite's fused activations, applied by LceBconv2d to the convolution's integer result.
enum class Activation { None, Relu, ReluN1To1, Relu6 };

// Output size and leading padding of one spatial axis, as TFLite computes them (in 64 bits:
// callers check that the sizes fit the kernels' int before they use them).
struct AxisPadding {
  int64_t out_size;
  int64_t pad_before;
};
AxisPadding ComputeAxisPadding(Padding padding, int in_size, int filter_size, int stride, int dilation);

// Each of `rows` rows of `cols` values becomes PackedSize(cols) words: bit set where value < 0.
void PackFloat(const float* in, int64_t rows, int cols, int32_t* out);
// The same for int8 values, bit set where value < zero_point.
void PackInt8(const int8_t* in, int64_t rows, int cols, int32_t zero_point, int32_t* out);
// The reverse: +1 for a clear bit, -1 for a set one.
void UnpackFloat(const int32_t* in, int64_t rows, int cols, float* out);
void UnpackInt8(const int32_t* in, int64_t rows, int cols, int8_t zero_bit, int8_t one_bit, int8_t* out);

// LceBMaxPool2d on bitpacked NHWC input: the AND of the window's in-bounds words.
struct BMaxPoolShape {
  int batch, in_height, in_width, words;
  int filter_height, filter_width, stride_height, stride_width;
  Padding padding;
};
void BMaxPool2D(const BMaxPoolShape& shape, const int32_t* in, int32_t* out);

struct BConv2DShape {
  int batch = 0, in_height = 0, in_width = 0, channels_in = 0;
  int channels_out = 0, filter_height = 0, filter_width = 0, groups = 1;
  int stride_height = 1, stride_width = 1, dilation_height = 1, dilation_width = 1;
  Padding padding = Padding::Valid;
  int pad_value = 1;  // what SAME padding pads with: 1 (+1, bit 0) or 0
};

// The per-channel constants of the output transform, as LCE derives them.
struct BConv2DOutput {
  OutputType type = OutputType::Float32;
  Activation activation = Activation::None;
  std::vector<float> post_multiplier, post_bias;  // float and int8 output
  std::vector<int32_t> thresholds;                // bitpacked output
  float int8_scale = 1.0f;                        // int8 output
  int32_t int8_zero_point = 0;
};

// One LceBconv2d: weights repacked and output transform prepared once, then Run any number
// of times without allocating.
class BConv2D {
 public:
  // `filter` is LCE's packed OHWI filter: [channels_out, fh, fw, PackedSize(channels_in / groups)].
  // `threads` is the most threads Run will be given; `path` picks the inner loop.
  BConv2D(const BConv2DShape& shape, const int32_t* filter, const BConv2DOutput& output, int threads, KernelPath path);

  int out_height() const { return out_height_; }
  int out_width() const { return out_width_; }
  // Words or values per output pixel.
  int out_depth() const;

  // input: [batch, in_height, in_width, PackedSize(channels_in)] words; output: float, int8 or
  // words per the output type.
  void Run(const int32_t* input, void* output, ThreadPool* pool);

 private:
  struct Scratch {
    std::vector<const int32_t*> taps;  // [kTilePixels][taps]
    std::vector<const int32_t*> rows;  // [kTilePixels][filter_height]: taps merged per filter row
    std::vector<int32_t> tile;         // [kTilePixels][kBlockChannels], for grouped convolutions
    std::vector<int32_t> accum;        // [kTilePixels][accum_stride_]
    std::vector<int32_t> correction;   // [channels_out]
  };
  void Row(const int32_t* input, void* output, int batch, int out_y, Scratch& scratch) const;
  // Whether each pixel of the tile from column x_first reads whole filter rows inside the image.
  bool RowsContiguous(int x_first, int pixels) const;
  // Scratch::taps, or Scratch::rows, for the tile's pixels at input row y0.
  void PointTaps(const int32_t* image, int y0, int x_first, int pixels, Scratch& scratch) const;
  void PointRows(const int32_t* image, int y0, int x_first, int pixels, Scratch& scratch) const;
  // Every block of the tile: transformed into the output at `fused_out`, or, where null, counted
  // into Scratch::accum.
  void CountTile(int pixels, bool rows_contiguous, char* fused_out, Scratch& scratch) const;
  // Scratch::accum's counts of the tile to the output, corrected where LCE corrects.
  void TransformTile(int out_y, int x_first, int pixels, int64_t first_pixel, Scratch& scratch, void* output) const;
  // Whether LCE applies its zero-padding correction at this output pixel.
  bool Corrected(int out_y, int out_x) const;
  // The transform of one block starting at `first_channel` of the pixel whose output is `pixel_out`.
  TileOutput BlockOutput(int first_channel, char* pixel_out) const;
  // Where output pixel `pixel` (counted over batch, rows and columns) starts.
  char* PixelOutput(void* output, int64_t pixel) const;
  // One pixel's counts ([channels_out] in accum) to its output, with LCE's zero-padding
  // correction where `corrected`.
  void Transform(const int32_t* accum, const int32_t* correction, bool corrected, int64_t pixel, void* output) const;

  BConv2DShape shape_;
  OutputType type_;
  TileFunction tile_;
  int tile_pixels_;  // output pixels per tile call
  int out_height_, out_width_, pad_top_, pad_left_;
  int in_words_, group_words_;  // words per input pixel, per group's slice of it
  int taps_, blocks_per_group_;
  // Counts per pixel in Scratch::accum: with one group, whole blocks, so tiles write there
  // directly; with several, channels_out, filled from Scratch::tile.
  int accum_stride_;
  std::vector<int32_t> weights_;          // [groups][blocks][taps][group_words][kBlockChannels]
  std::vector<int32_t> filter_popcount_;  // [channels_out][taps]: set bits of each tap's weights
  std::vector<int32_t> zero_words_;       // what a tap (or filter row) outside the image reads: +1s
  int32_t clamp_min_ = 0, clamp_max_ = 0;
  // float/int8: out = float(clamp(2 * accum)) * m + b; bitpacked: bit where accum > threshold.
  // Padded with zeros to whole words of channels.
  std::vector<float> multiplier_, bias_;
  std::vector<float> zero_pad_multiplier_;  // SAME zero padding: -post_multiplier
  std::vector<int32_t> thresholds_;
  bool zero_padding_correction_ = false;
  std::vector<Scratch> scratch_;  // one per thread
};

}  // namespace bcn_lce

#endif  // BCN_LCE_KERNELS_H_
