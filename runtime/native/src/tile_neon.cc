// NEON (aarch64): 4 output channels per register, vcnt for the byte counts, pairwise
// accumulated into 16-bit lanes (uadalp: at most 16 per word, so 4095 words fit) and
// widened to 32 bits once per tile. Four pixels share each load of weights.
#include <arm_neon.h>

#include "tile.h"

namespace bcn_lce {
namespace {

constexpr int kMaxWordsPer16Bits = 4095;  // 16 per word per 16-bit lane

inline uint16x8_t CountInto(uint16x8_t acc, uint32x4_t x, uint32x4_t weights) {
  return vpadalq_u8(acc, vcntq_u8(vreinterpretq_u8_u32(veorq_u32(x, weights))));
}

// Adds the counts of `Pixels` pixels over `count` words (the pointers advance past them).
template <int Pixels>
inline void Accumulate(const int32_t** in, const int32_t* w, int count, uint16x8_t (&acc)[kTilePixels][4]) {
  const uint32_t* x0 = reinterpret_cast<const uint32_t*>(in[0]);
  const uint32_t* x1 = reinterpret_cast<const uint32_t*>(in[Pixels > 1 ? 1 : 0]);
  const uint32_t* x2 = reinterpret_cast<const uint32_t*>(in[Pixels > 2 ? 2 : 0]);
  const uint32_t* x3 = reinterpret_cast<const uint32_t*>(in[Pixels > 3 ? 3 : 0]);
  for (int i = 0; i < count; ++i, w += kBlockChannels) {
    const uint32x4_t w0 = vreinterpretq_u32_s32(vld1q_s32(w)), w1 = vreinterpretq_u32_s32(vld1q_s32(w + 4));
    const uint32x4_t w2 = vreinterpretq_u32_s32(vld1q_s32(w + 8)), w3 = vreinterpretq_u32_s32(vld1q_s32(w + 12));
    // Post-incremented pointers let the compiler use ld1r (load and broadcast) per word.
    const uint32x4_t p0 = vld1q_dup_u32(x0++);
    acc[0][0] = CountInto(acc[0][0], p0, w0), acc[0][1] = CountInto(acc[0][1], p0, w1);
    acc[0][2] = CountInto(acc[0][2], p0, w2), acc[0][3] = CountInto(acc[0][3], p0, w3);
    if (Pixels > 1) {
      const uint32x4_t p1 = vld1q_dup_u32(x1++);
      acc[1][0] = CountInto(acc[1][0], p1, w0), acc[1][1] = CountInto(acc[1][1], p1, w1);
      acc[1][2] = CountInto(acc[1][2], p1, w2), acc[1][3] = CountInto(acc[1][3], p1, w3);
    }
    if (Pixels > 2) {
      const uint32x4_t p2 = vld1q_dup_u32(x2++);
      acc[2][0] = CountInto(acc[2][0], p2, w0), acc[2][1] = CountInto(acc[2][1], p2, w1);
      acc[2][2] = CountInto(acc[2][2], p2, w2), acc[2][3] = CountInto(acc[2][3], p2, w3);
    }
    if (Pixels > 3) {
      const uint32x4_t p3 = vld1q_dup_u32(x3++);
      acc[3][0] = CountInto(acc[3][0], p3, w0), acc[3][1] = CountInto(acc[3][1], p3, w1);
      acc[3][2] = CountInto(acc[3][2], p3, w2), acc[3][3] = CountInto(acc[3][3], p3, w3);
    }
  }
  in[0] = reinterpret_cast<const int32_t*>(x0);
  if (Pixels > 1) in[1] = reinterpret_cast<const int32_t*>(x1);
  if (Pixels > 2) in[2] = reinterpret_cast<const int32_t*>(x2);
  if (Pixels > 3) in[3] = reinterpret_cast<const int32_t*>(x3);
}

template <int Pixels>
void Tile(const TileArgs& a) {
  uint16x8_t acc[kTilePixels][4];
  uint32x4_t total[kTilePixels][4];
  for (int p = 0; p < Pixels; ++p)
    for (int q = 0; q < 4; ++q) acc[p][q] = vdupq_n_u16(0), total[p][q] = vdupq_n_u32(0);
  int pending = 0;
  for (int t = 0; t < a.tap_count; ++t) {
    const int32_t* in[kTilePixels];
    for (int p = 0; p < Pixels; ++p) in[p] = a.taps[p * a.tap_count + t] + a.offset;
    const int32_t* w = a.weights + t * a.words * kBlockChannels;
    for (int first = 0; first < a.words;) {
      const int count = a.words - first < kMaxWordsPer16Bits - pending ? a.words - first : kMaxWordsPer16Bits - pending;
      Accumulate<Pixels>(in, w + first * kBlockChannels, count, acc);
      first += count;
      pending += count;
      if (pending == kMaxWordsPer16Bits) {
        for (int p = 0; p < Pixels; ++p)
          for (int q = 0; q < 4; ++q) total[p][q] = vpadalq_u16(total[p][q], acc[p][q]), acc[p][q] = vdupq_n_u16(0);
        pending = 0;
      }
    }
  }
  for (int p = 0; p < Pixels; ++p)
    for (int q = 0; q < 4; ++q)
      vst1q_s32(a.accum + p * kBlockChannels + 4 * q, vreinterpretq_s32_u32(vpadalq_u16(total[p][q], acc[p][q])));
}

}  // namespace

void TileNeon(const TileArgs& a) {
  switch (a.pixels) {
    case 4: return Tile<4>(a);
    case 3: return Tile<3>(a);
    case 2: return Tile<2>(a);
    default: return Tile<1>(a);
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
