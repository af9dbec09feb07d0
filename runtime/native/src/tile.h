// The inner loop of the binary convolution, one implementation per instruction set: for a
// tile of up to kTilePixels output pixels and one block of kBlockChannels output channels,
// count the -1 products (set bits of input XOR weight) over every filter tap and word.
// Every path computes the same integers; the scalar one is the reference the others are
// tested against.
#ifndef BCN_LCE_TILE_H_
#define BCN_LCE_TILE_H_

#include <cstdint>

namespace bcn_lce {

constexpr int kTilePixels = 4;
constexpr int kBlockChannels = 16;

struct TileArgs {
  const int32_t* const* taps;  // [pixels][tap_count]: each pixel's input words at each tap
  int pixels;                  // 1..kTilePixels
  int tap_count;
  int words;               // words per tap, read from taps[.][.] + offset
  int offset;              // first word of this group in each pixel
  const int32_t* weights;  // [tap_count][words][kBlockChannels]
  int32_t* accum;          // out: [pixels][kBlockChannels], pixels accum_stride apart
  int accum_stride;
};

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
