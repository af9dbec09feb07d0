// AVX2: 8 output channels per register, popcount by nibble lookup (vpshufb). Byte counts
// are summed for up to 31 words (8 * 31 < 256) before they are widened to 32 bits.
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

}  // namespace

void TileAvx2(const TileArgs& a) {
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
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.accum + p * a.accum_stride), acc0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.accum + p * a.accum_stride + 8), acc1);
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
