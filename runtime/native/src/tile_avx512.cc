// AVX-512 with VPOPCNTDQ: 16 output channels per register, a vector popcount per word, up to 8
// pixels per tile.
// Compiled with -mavx512f -mavx512vpopcntdq; only called where the CPU has both.
// GCC 12 takes the undefined pass-through operand of AVX-512's unmasked intrinsics for an
// uninitialized variable; the warning lands in its header, hence before the include.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "tile.h"

namespace bcn_lce {
namespace {

// The block's output transform, loaded once per tile.
struct Epilogue {
  __mmask16 lanes = 0;
  __m512i clamp_min = _mm512_setzero_si512(), clamp_max = clamp_min, thresholds = clamp_min;
  __m512 multiplier = _mm512_setzero_ps(), bias = multiplier;

  Epilogue() = default;
  explicit Epilogue(const TileOutput& o) : lanes(__mmask16((1u << o.lanes) - 1)) {
    if (o.type == OutputType::Bitpacked) {
      thresholds = _mm512_loadu_si512(o.thresholds);
      return;
    }
    clamp_min = _mm512_set1_epi32(o.clamp_min), clamp_max = _mm512_set1_epi32(o.clamp_max);
    multiplier = _mm512_loadu_ps(o.multiplier), bias = _mm512_loadu_ps(o.bias);
  }
};

// RoundToInt8 on 16 lanes: clamp to [-129, 128] (NaN to -129), round half away from zero,
// saturate to int8 in the store.
inline __m512i RoundHalfAway(__m512 value) {
  const __m512 clamped = _mm512_min_ps(_mm512_max_ps(value, _mm512_set1_ps(-129.0f)), _mm512_set1_ps(128.0f));
  const __m512i whole = _mm512_cvttps_epi32(clamped);
  const __m512 fraction = _mm512_sub_ps(clamped, _mm512_cvtepi32_ps(whole));
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i up =
      _mm512_mask_add_epi32(whole, _mm512_cmp_ps_mask(fraction, _mm512_set1_ps(0.5f), _CMP_GE_OQ), whole, one);
  return _mm512_mask_sub_epi32(up, _mm512_cmp_ps_mask(fraction, _mm512_set1_ps(-0.5f), _CMP_LE_OQ), up, one);
}

// One pixel's counts to its output: StoreOutputScalar's bits.
inline void Store(__m512i counts, const TileArgs& a, const Epilogue& e, int pixel) {
  const TileOutput& o = *a.output;
  char* dst = o.out + pixel * o.pixel_bytes;
  if (o.type == OutputType::Bitpacked) {
    const uint32_t bits = _mm512_mask_cmpgt_epi32_mask(e.lanes, counts, e.thresholds);
    StoreBits(bits, o, dst);
    return;
  }
  const __m512i x = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(counts, counts), e.clamp_min), e.clamp_max);
  const __m512 value = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(x), e.multiplier), e.bias);
  if (o.type == OutputType::Float32)
    _mm512_mask_storeu_ps(dst, e.lanes, value);
  else
    _mm512_mask_cvtsepi32_storeu_epi8(dst, e.lanes, RoundHalfAway(value));
}

inline void Finish(__m512i counts, const TileArgs& a, const Epilogue* e, int pixel) {
  if (e)
    Store(counts, a, *e, pixel);
  else
    _mm512_storeu_si512(a.accum + pixel * a.accum_stride, counts);
}

// `Pixels` pixels from `first` on: one load of weights per word for all of them, a broadcast
// and XOR, popcount, add per pixel; the counts stay in registers until the transform.
template <int Pixels>
inline void Tile(const TileArgs& a, const Epilogue* e, int first) {
  __m512i acc[Pixels];
  for (int p = 0; p < Pixels; ++p) acc[p] = _mm512_setzero_si512();
  for (int t = 0; t < a.tap_count; ++t) {
    const int32_t* in[Pixels];
    for (int p = 0; p < Pixels; ++p) in[p] = a.taps[(first + p) * a.tap_count + t] + a.offset;
    const int32_t* w = a.weights + t * a.words * kBlockChannels;
#pragma GCC unroll 2
    for (int i = 0; i < a.words; ++i, w += kBlockChannels) {
      const __m512i weights = _mm512_loadu_si512(w);
      for (int p = 0; p < Pixels; ++p)
        acc[p] = _mm512_add_epi32(acc[p], _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(in[p][i]), weights)));
    }
  }
  for (int p = 0; p < Pixels; ++p) Finish(acc[p], a, e, first + p);
}

}  // namespace

// 8 pixels take 8 of the 32 vector registers as counters.
void TileAvx512(const TileArgs& a) {
  Epilogue epilogue;
  if (a.output) epilogue = Epilogue(*a.output);
  const Epilogue* e = a.output ? &epilogue : nullptr;
  int p = 0;
  for (; p + 8 <= a.pixels; p += 8) Tile<8>(a, e, p);
  for (; p + 4 <= a.pixels; p += 4) Tile<4>(a, e, p);
  for (; p < a.pixels; ++p) Tile<1>(a, e, p);
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
