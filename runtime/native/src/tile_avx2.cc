// AVX2: 8 output channels per register, popcount by nibble lookup (vpshufb). Byte counts
// are summed for up to 31 words (8 * 31 < 256) before they are widened to 32 bits; the output
// transform runs on the same registers.
// Compiled with -mavx2; only called where the CPU has it.
#include <immintrin.h>

#include "kernels.h"
#include "tile.h"

namespace bcn_lce {
namespace {

inline __m256i ByteCounts(__m256i x, __m256i lookup, __m256i low_nibbles) {
  const __m256i low = _mm256_and_si256(x, low_nibbles);
  const __m256i high = _mm256_and_si256(_mm256_srli_epi16(x, 4), low_nibbles);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lookup, low), _mm256_shuffle_epi8(lookup, high));
}

// Sums the 4 byte counts of each 32-bit lane.
inline __m256i Widen(__m256i bytes) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(bytes, _mm256_set1_epi8(1)), _mm256_set1_epi16(1));
}

// The block's output transform, loaded once per tile; lanes 0-7 and 8-15 in two registers each.
struct Epilogue {
  uint32_t lane_bits = 0;
  __m256i lanes[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};  // all ones where the channel exists
  __m256i clamp_min = _mm256_setzero_si256(), clamp_max = clamp_min;
  __m256i thresholds[2] = {clamp_min, clamp_min};
  __m256 multiplier[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, bias[2] = {multiplier[0], multiplier[0]};

  Epilogue() = default;
  explicit Epilogue(const TileOutput& o) : lane_bits((1u << o.lanes) - 1) {
    const __m256i count = _mm256_set1_epi32(o.lanes);
    lanes[0] = _mm256_cmpgt_epi32(count, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    lanes[1] = _mm256_cmpgt_epi32(count, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
    for (int h = 0; h < 2; ++h) {
      if (o.type == OutputType::Bitpacked) {
        thresholds[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o.thresholds + 8 * h));
      } else {
        multiplier[h] = _mm256_loadu_ps(o.multiplier + 8 * h);
        bias[h] = _mm256_loadu_ps(o.bias + 8 * h);
      }
    }
    clamp_min = _mm256_set1_epi32(o.clamp_min), clamp_max = _mm256_set1_epi32(o.clamp_max);
  }
};

// RoundToInt8 before saturation on 8 lanes: clamp to [-129, 128] (NaN to -129), round half
// away from zero.
inline __m256i RoundHalfAway(__m256 value) {
  const __m256 clamped = _mm256_min_ps(_mm256_max_ps(value, _mm256_set1_ps(-129.0f)), _mm256_set1_ps(128.0f));
  const __m256i whole = _mm256_cvttps_epi32(clamped);
  const __m256 fraction = _mm256_sub_ps(clamped, _mm256_cvtepi32_ps(whole));
  // Compares give -1 where true: subtracting `up` adds one, adding `down` subtracts one.
  const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(fraction, _mm256_set1_ps(0.5f), _CMP_GE_OQ));
  const __m256i down = _mm256_castps_si256(_mm256_cmp_ps(fraction, _mm256_set1_ps(-0.5f), _CMP_LE_OQ));
  return _mm256_sub_epi32(_mm256_add_epi32(whole, down), up);
}

inline __m256 Value(__m256i counts, const Epilogue& e, int h) {
  const __m256i x = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(counts, counts), e.clamp_min), e.clamp_max);
  return _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(x), e.multiplier[h]), e.bias[h]);
}

// One pixel's counts (lanes 0-7 and 8-15) to its output: StoreOutputScalar's bits.
inline void Store(__m256i counts0, __m256i counts1, const TileOutput& o, const Epilogue& e, int pixel) {
  char* dst = o.out + pixel * o.pixel_bytes;
  if (o.type == OutputType::Bitpacked) {
    const uint32_t low = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(counts0, e.thresholds[0])));
    const uint32_t high = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(counts1, e.thresholds[1])));
    const uint32_t bits = (low | high << 8) & e.lane_bits;
    StoreBits(bits, o, dst);
    return;
  }
  const __m256 value0 = Value(counts0, e, 0), value1 = Value(counts1, e, 1);
  if (o.type == OutputType::Float32) {
    float* out = reinterpret_cast<float*>(dst);
    _mm256_maskstore_ps(out, e.lanes[0], value0);
    _mm256_maskstore_ps(out + 8, e.lanes[1], value1);
    return;
  }
  // int32 -> int16 (saturating, lanes interleaved by 128-bit halves, put back in order) -> int8.
  const __m256i words =
      _mm256_permute4x64_epi64(_mm256_packs_epi32(RoundHalfAway(value0), RoundHalfAway(value1)), 0xd8);
  const __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
  if (o.lanes == kBlockChannels) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), bytes);
  } else {
    alignas(16) int8_t all[kBlockChannels];
    _mm_store_si128(reinterpret_cast<__m128i*>(all), bytes);
    __builtin_memcpy(dst, all, o.lanes);
  }
}

}  // namespace

void TileAvx2(const TileArgs& a) {
  Epilogue epilogue;
  if (a.output) epilogue = Epilogue(*a.output);
  const __m256i lookup =
      _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low_nibbles = _mm256_set1_epi8(0x0f);
  for (int p = 0; p < a.pixels; ++p) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, bytes0 = acc0, bytes1 = acc0;
    int pending = 0;
    for (int t = 0; t < a.tap_count; ++t) {
      const int32_t* in = a.taps[p * a.tap_count + t] + a.offset;
      const int32_t* w = a.weights + t * a.words * kBlockChannels;
      for (int i = 0; i < a.words; ++i, w += kBlockChannels) {
        const __m256i x = _mm256_set1_epi32(in[i]);
        const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
        const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 8));
        bytes0 = _mm256_add_epi8(bytes0, ByteCounts(_mm256_xor_si256(x, w0), lookup, low_nibbles));
        bytes1 = _mm256_add_epi8(bytes1, ByteCounts(_mm256_xor_si256(x, w1), lookup, low_nibbles));
        if (++pending == 31) {
          acc0 = _mm256_add_epi32(acc0, Widen(bytes0));
          acc1 = _mm256_add_epi32(acc1, Widen(bytes1));
          bytes0 = bytes1 = _mm256_setzero_si256();
          pending = 0;
        }
      }
    }
    acc0 = _mm256_add_epi32(acc0, Widen(bytes0));
    acc1 = _mm256_add_epi32(acc1, Widen(bytes1));
    if (a.output) {
      Store(acc0, acc1, *a.output, epilogue, p);
    } else {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.accum + p * a.accum_stride), acc0);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.accum + p * a.accum_stride + 8), acc1);
    }
  }
}

// 8 floats per compare: bit set where value < 0 (so -0.0 and NaN give 0, as in LCE).
void PackFloatAvx2(const float* in, int64_t rows, int cols, int32_t* out) {
  const int words = (cols + 31) / 32;
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t r = 0; r < rows; ++r, in += cols, out += words) {
    int c = 0;
    for (; c + 32 <= cols; c += 32) {
      uint32_t bits = 0;
      for (int k = 0; k < 4; ++k)
        bits |= uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(in + c + 8 * k), zero, _CMP_LT_OQ)))
                << (8 * k);
      out[c / 32] = static_cast<int32_t>(bits);
    }
    if (c < cols) out[c / 32] = PackWord(in + c, cols - c);
  }
}

// 32 int8 values per compare: bit set where value < zero_point, in the order of the bytes.
void PackInt8Avx2(const int8_t* in, int64_t rows, int cols, int32_t zero_point, int32_t* out) {
  const int words = (cols + 31) / 32;
  const __m256i zero = _mm256_set1_epi8(static_cast<char>(zero_point));
  for (int64_t r = 0; r < rows; ++r, in += cols, out += words) {
    int c = 0;
    for (; c + 32 <= cols; c += 32) {
      const __m256i values = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + c));
      out[c / 32] = _mm256_movemask_epi8(_mm256_cmpgt_epi8(zero, values));
    }
    if (c < cols) PackInt8(in + c, 1, cols - c, zero_point, out + c / 32);
  }
}

}  // namespace bcn_lce
