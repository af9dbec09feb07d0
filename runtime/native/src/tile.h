// The inner loop of the binary convolution, one implementation per instruction set: for a
// tile of up to kTilePixels output pixels (the path's own tile size: its row in kKernelPaths) and one block of
// kBlockChannels output channels, count the -1 products (set bits of input XOR weight) over every filter tap and word,
// then either store the counts or turn them into the layer's output in registers (TileOutput). Every path computes the
// same bits; the scalar one is the reference the others are tested against.
#ifndef BCN_LCE_TILE_H_
#define BCN_LCE_TILE_H_

#include <cstdint>

namespace bcn_lce {

constexpr int kTilePixels = 8;  // the most pixels any path's tile takes
constexpr int kBlockChannels = 16;

enum class OutputType { Float32, Int8, Bitpacked };

// The output transform of one block, as LCE computes it. Float and int8: the doubled count
// clamped to [clamp_min, clamp_max], converted to float, multiplied, then added (two roundings,
// no fused multiply-add); int8 rounds half away from zero and saturates. Bitpacked: bit set where
// count > threshold, the block's 16 channels one half of a 32-channel word.
struct TileOutput {
  OutputType type;
  int32_t clamp_min, clamp_max;
  const float* multiplier;    // [kBlockChannels]: this block's channels, zero past `lanes`
  const float* bias;          // [kBlockChannels]
  const int32_t* thresholds;  // [kBlockChannels]
  char* out;                  // the tile's first pixel at the block's first channel (bitpacked: its word)
  int64_t pixel_bytes;        // from one pixel's output to the next
  int lanes;                  // channels of the block that exist, 1..kBlockChannels
  bool high_half;             // bitpacked: the block is bits 16-31 of its word; otherwise it writes
                              // the whole word, bits 16-31 clear
};

struct TileArgs {
  const int32_t* const* taps;  // [pixels][tap_count]: each pixel's input words at each tap
  int pixels;                  // 1..the path's tile pixels
  int tap_count;
  int words;               // words per tap, read from taps[.][.] + offset
  int offset;              // first word of this group in each pixel
  const int32_t* weights;  // [tap_count][words][kBlockChannels]
  int32_t* accum;          // out where `output` is null: [pixels][kBlockChannels], pixels accum_stride apart
  int accum_stride;
  const TileOutput* output;  // null: store the counts to accum
};

// The reference output transform of one pixel's counts ([kBlockChannels]); the scalar and NEON
// tiles use it, the x86 tiles compute the same bits in registers.
void StoreOutputScalar(const int32_t* counts, const TileOutput& output, int pixel);
// A bitpacked block's 16 bits to its pixel's word at `dst`: bits 16-31 where high_half, else the whole word.
void StoreBits(uint32_t bits, const TileOutput& output, char* dst);

using TileFunction = void (*)(const TileArgs&);

void TileScalar(const TileArgs& args);
#if defined(__x86_64__) || defined(_M_X64)
void TileAvx2(const TileArgs& args);
void TileAvx512(const TileArgs& args);
#endif
#if defined(__aarch64__)
void TileNeon(const TileArgs& args);
#endif

// One word of LceQuantize's bitpacking from `count` (at most 32) floats: bit i set where
// in[i] < 0, so -0.0 and NaN give 0 as in LCE. The SIMD packers use it for a row's tail.
inline int32_t PackWord(const float* in, int count) {
  uint32_t bits = 0;
  for (int i = 0; i < count; ++i) bits |= uint32_t(in[i] < 0.0f) << i;
  return static_cast<int32_t>(bits);
}

// The bitpacking of LceQuantize for one instruction set: rows of `cols` floats to words.
using PackFunction = void (*)(const float* in, int64_t rows, int cols, int32_t* out);
#if defined(__x86_64__) || defined(_M_X64)
void PackFloatAvx2(const float* in, int64_t rows, int cols, int32_t* out);
void PackFloatAvx512(const float* in, int64_t rows, int cols, int32_t* out);
#endif
#if defined(__aarch64__)
void PackFloatNeon(const float* in, int64_t rows, int cols, int32_t* out);
#endif

// The same for int8 rows: bit set where value < zero_point (a zero point within int8).
using PackInt8Function = void (*)(const int8_t* in, int64_t rows, int cols, int32_t zero_point, int32_t* out);
#if defined(__x86_64__) || defined(_M_X64)
void PackInt8Avx2(const int8_t* in, int64_t rows, int cols, int32_t zero_point, int32_t* out);
#endif

}  // namespace bcn_lce

#endif  // BCN_LCE_TILE_H_
