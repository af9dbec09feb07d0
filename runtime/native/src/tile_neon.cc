// NEON (aarch64): 4 output channels per register, vcnt for the byte counts, summed for up to
// 31 words (8 * 31 < 256) before they are widened to 32 bits.
#include <arm_neon.h>

#include "tile.h"

namespace bcn_lce {
namespace {

inline uint32x4_t Widen(uint8x16_t bytes) { return vpaddlq_u16(vpaddlq_u8(bytes)); }

}  // namespace

void TileNeon(const TileArgs& a) {
  for (int p = 0; p < a.pixels; ++p) {
    uint32x4_t acc[4] = {vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0)};
    uint8x16_t bytes[4] = {vdupq_n_u8(0), vdupq_n_u8(0), vdupq_n_u8(0), vdupq_n_u8(0)};
    int pending = 0;
    for (int t = 0; t < a.tap_count; ++t) {
      const int32_t* in = a.taps[p * a.tap_count + t] + a.offset;
      const int32_t* w = a.weights + t * a.words * kBlockChannels;
      for (int i = 0; i < a.words; ++i, w += kBlockChannels) {
        const uint32x4_t x = vdupq_n_u32(static_cast<uint32_t>(in[i]));
        for (int q = 0; q < 4; ++q) {
          const uint32x4_t weights = vreinterpretq_u32_s32(vld1q_s32(w + 4 * q));
          bytes[q] = vaddq_u8(bytes[q], vcntq_u8(vreinterpretq_u8_u32(veorq_u32(x, weights))));
        }
        if (++pending == 31) {
          for (int q = 0; q < 4; ++q) acc[q] = vaddq_u32(acc[q], Widen(bytes[q])), bytes[q] = vdupq_n_u8(0);
          pending = 0;
        }
      }
    }
    for (int q = 0; q < 4; ++q)
      vst1q_s32(a.accum + p * kBlockChannels + 4 * q, vreinterpretq_s32_u32(vaddq_u32(acc[q], Widen(bytes[q]))));
  }
}

// 4 floats per compare: bit set where value < 0 (so -0.0 and NaN give 0, as in LCE).
void PackFloatNeon(const float* in, int64_t rows, int cols, int32_t* out) {
  const int words = (cols + 31) / 32;
  const uint32x4_t weights = {1u, 2u, 4u, 8u};
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (int64_t r = 0; r < rows; ++r, in += cols, out += words) {
    int c = 0;
    for (; c + 32 <= cols; c += 32) {
      uint32_t bits = 0;
      for (int k = 0; k < 8; ++k)
        bits |= vaddvq_u32(vandq_u32(vcltq_f32(vld1q_f32(in + c + 4 * k), zero), weights)) << (4 * k);
      out[c / 32] = static_cast<int32_t>(bits);
    }
    if (c < cols) out[c / 32] = PackWord(in + c, cols - c);
  }
}

}  // namespace bcn_lce
