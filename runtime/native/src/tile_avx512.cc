// AVX-512 with VPOPCNTDQ: 16 output channels per register, a vector popcount per word.
// Compiled with -mavx512f -mavx512vpopcntdq; only called where the CPU has both.
#include <immintrin.h>

#include "tile.h"

namespace bcn_lce {

void TileAvx512(const TileArgs& a) {
  if (a.pixels == kTilePixels) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int t = 0; t < a.tap_count; ++t) {
      const int32_t* in0 = a.taps[0 * a.tap_count + t] + a.offset;
      const int32_t* in1 = a.taps[1 * a.tap_count + t] + a.offset;
      const int32_t* in2 = a.taps[2 * a.tap_count + t] + a.offset;
      const int32_t* in3 = a.taps[3 * a.tap_count + t] + a.offset;
      const int32_t* w = a.weights + t * a.words * kBlockChannels;
      for (int i = 0; i < a.words; ++i, w += kBlockChannels) {
        const __m512i weights = _mm512_loadu_si512(w);
        acc0 = _mm512_add_epi32(acc0, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(in0[i]), weights)));
        acc1 = _mm512_add_epi32(acc1, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(in1[i]), weights)));
        acc2 = _mm512_add_epi32(acc2, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(in2[i]), weights)));
        acc3 = _mm512_add_epi32(acc3, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(in3[i]), weights)));
      }
    }
    _mm512_storeu_si512(a.accum + 0 * a.accum_stride, acc0);
    _mm512_storeu_si512(a.accum + 1 * a.accum_stride, acc1);
    _mm512_storeu_si512(a.accum + 2 * a.accum_stride, acc2);
    _mm512_storeu_si512(a.accum + 3 * a.accum_stride, acc3);
    return;
  }
  for (int p = 0; p < a.pixels; ++p) {
    __m512i acc = _mm512_setzero_si512();
    for (int t = 0; t < a.tap_count; ++t) {
      const int32_t* in = a.taps[p * a.tap_count + t] + a.offset;
      const int32_t* w = a.weights + t * a.words * kBlockChannels;
      for (int i = 0; i < a.words; ++i, w += kBlockChannels)
        acc = _mm512_add_epi32(acc,
                               _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(in[i]), _mm512_loadu_si512(w))));
    }
    _mm512_storeu_si512(a.accum + p * a.accum_stride, acc);
  }
}

// 16 floats per compare: bit set where value < 0 (so -0.0 and NaN give 0, as in LCE).
void PackFloatAvx512(const float* in, int64_t rows, int cols, int32_t* out) {
  const int words = (cols + 31) / 32;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t r = 0; r < rows; ++r, in += cols, out += words) {
    int c = 0;
    for (; c + 32 <= cols; c += 32) {
      const uint32_t low = _mm512_cmp_ps_mask(_mm512_loadu_ps(in + c), zero, _CMP_LT_OQ);
      const uint32_t high = _mm512_cmp_ps_mask(_mm512_loadu_ps(in + c + 16), zero, _CMP_LT_OQ);
      out[c / 32] = static_cast<int32_t>(low | (high << 16));
    }
    if (c < cols) out[c / 32] = PackWord(in + c, cols - c);
  }
}

}  // namespace bcn_lce
