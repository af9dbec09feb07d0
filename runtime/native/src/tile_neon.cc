// NEON (aarch64): 4 output channels per register, vcnt for the byte counts, pairwise
// accumulated into 16-bit lanes (uadalp: at most 16 per word, so 4095 words fit) and
// widened to 32 bits once per tile. Four pixels share each load of weights. The output
// transform runs on NEON registers too.
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

// One (pixel, weights) step of a full tile: XOR, byte counts, pairwise add into accumulator `a`.
// v0-v15 hold acc[pixel][quarter], v16-v19 the block's 16 weights of the current word, v20-v27
// two broadcast words per pixel (pixel p: v(20+2p) the first, v(21+2p) the second), v28-v31
// temporaries.
// clang-format off
#define BCN_NEON_STEP(t, p, w, a) \
  "eor v" t ".16b, v" p ".16b, v" w ".16b\n" \
  "cnt v" t ".16b, v" t ".16b\n" \
  "uadalp v" a ".8h, v" t ".16b\n"
// The 16 steps of one word: P0..P3 are the registers holding each pixel's broadcast of that word.
#define BCN_NEON_PIXELS(P0, P1, P2, P3) \
  BCN_NEON_STEP("28", P0, "16", "0")  BCN_NEON_STEP("29", P0, "17", "1") \
  BCN_NEON_STEP("30", P0, "18", "2")  BCN_NEON_STEP("31", P0, "19", "3") \
  BCN_NEON_STEP("28", P1, "16", "4")  BCN_NEON_STEP("29", P1, "17", "5") \
  BCN_NEON_STEP("30", P1, "18", "6")  BCN_NEON_STEP("31", P1, "19", "7") \
  BCN_NEON_STEP("28", P2, "16", "8")  BCN_NEON_STEP("29", P2, "17", "9") \
  BCN_NEON_STEP("30", P2, "18", "10") BCN_NEON_STEP("31", P2, "19", "11") \
  BCN_NEON_STEP("28", P3, "16", "12") BCN_NEON_STEP("29", P3, "17", "13") \
  BCN_NEON_STEP("30", P3, "18", "14") BCN_NEON_STEP("31", P3, "19", "15")
#define BCN_NEON_WEIGHTS "ld1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[w]], #64\n"
// One word: 1 load of the weights, 1 load-and-broadcast per pixel, 48 steps.
#define BCN_NEON_WORD \
  BCN_NEON_WEIGHTS \
  "ld1r {v20.4s}, [%[x0]], #4\n" \
  "ld1r {v22.4s}, [%[x1]], #4\n" \
  "ld1r {v24.4s}, [%[x2]], #4\n" \
  "ld1r {v26.4s}, [%[x3]], #4\n" \
  BCN_NEON_PIXELS("20", "22", "24", "26")
// Two words: each pixel's two words in one load that broadcasts both (ld2r): 6 loads per 96 steps.
#define BCN_NEON_WORD_PAIR \
  BCN_NEON_WEIGHTS \
  "ld2r {v20.4s, v21.4s}, [%[x0]], #8\n" \
  "ld2r {v22.4s, v23.4s}, [%[x1]], #8\n" \
  "ld2r {v24.4s, v25.4s}, [%[x2]], #8\n" \
  "ld2r {v26.4s, v27.4s}, [%[x3]], #8\n" \
  BCN_NEON_PIXELS("20", "22", "24", "26") \
  BCN_NEON_WEIGHTS \
  BCN_NEON_PIXELS("21", "23", "25", "27")
// clang-format on

// A full tile whose words fit the 16-bit counters, in assembly: compilers index the four
// pixel pointers with a shared register and so broadcast each word with a load and a dup,
// and spill under the 32 live vectors. Here the 16 counters stay in registers across every
// tap. Two words cost 6 loads (the weights of each word, and one ld2r per pixel that broadcasts
// its two words) and 96 XOR/count/accumulate instructions; the loop takes four words per
// iteration, after a single word and a pair for the remainder, so the loop costs 12.875
// instructions per 512 binary MACs against the 12 of the XOR/count/accumulate alone. The counters
// are widened and stored once, `stride` bytes apart per pixel. The tap pointers are used as
// given (callers with a group offset take Tile<4>).
inline void FullTile(const TileArgs& a) {
  const int32_t* const* taps = a.taps;
  const int32_t* w = a.weights;
  int32_t* out = a.accum;
  uint64_t taps_left = uint64_t(a.tap_count);
  const uint64_t words = uint64_t(a.words), pixel1 = uint64_t(a.tap_count) * 8;
  const uint64_t pixel2 = 2 * pixel1, pixel3 = 3 * pixel1;
  const uint64_t stride = uint64_t(a.accum_stride) * 4;
  const int32_t *x0, *x1, *x2, *x3;
  uint64_t n;
  __asm__ volatile(
      "movi v0.16b, #0\n movi v1.16b, #0\n movi v2.16b, #0\n movi v3.16b, #0\n"
      "movi v4.16b, #0\n movi v5.16b, #0\n movi v6.16b, #0\n movi v7.16b, #0\n"
      "movi v8.16b, #0\n movi v9.16b, #0\n movi v10.16b, #0\n movi v11.16b, #0\n"
      "movi v12.16b, #0\n movi v13.16b, #0\n movi v14.16b, #0\n movi v15.16b, #0\n"
      "0:\n"
      "ldr %[x0], [%[taps]]\n"
      "ldr %[x1], [%[taps], %[pixel1]]\n"
      "ldr %[x2], [%[taps], %[pixel2]]\n"
      "ldr %[x3], [%[taps], %[pixel3]]\n"
      "mov %[n], %[words]\n"
      "tbz %[n], #0, 1f\n" BCN_NEON_WORD
      "1:\n"
      "tbz %[n], #1, 2f\n" BCN_NEON_WORD_PAIR
      "2:\n"
      "lsr %[n], %[n], #2\n"
      "cbz %[n], 4f\n"
      "3:\n" BCN_NEON_WORD_PAIR BCN_NEON_WORD_PAIR
      "subs %[n], %[n], #1\n"
      "b.ne 3b\n"
      "4:\n"
      "add %[taps], %[taps], #8\n"
      "subs %[taps_left], %[taps_left], #1\n"
      "b.ne 0b\n"
      "uaddlp v16.4s, v0.8h\n uaddlp v17.4s, v1.8h\n uaddlp v18.4s, v2.8h\n uaddlp v19.4s, v3.8h\n"
      "st1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[out]]\n"
      "add %[out], %[out], %[stride]\n"
      "uaddlp v16.4s, v4.8h\n uaddlp v17.4s, v5.8h\n uaddlp v18.4s, v6.8h\n uaddlp v19.4s, v7.8h\n"
      "st1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[out]]\n"
      "add %[out], %[out], %[stride]\n"
      "uaddlp v16.4s, v8.8h\n uaddlp v17.4s, v9.8h\n uaddlp v18.4s, v10.8h\n uaddlp v19.4s, v11.8h\n"
      "st1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[out]]\n"
      "add %[out], %[out], %[stride]\n"
      "uaddlp v16.4s, v12.8h\n uaddlp v17.4s, v13.8h\n uaddlp v18.4s, v14.8h\n uaddlp v19.4s, v15.8h\n"
      "st1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[out]]\n"
      : [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [n] "=&r"(n), [taps] "+r"(taps),
        [taps_left] "+r"(taps_left), [w] "+r"(w), [out] "+r"(out)
      : [words] "r"(words), [pixel1] "r"(pixel1), [pixel2] "r"(pixel2), [pixel3] "r"(pixel3), [stride] "r"(stride)
      : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16",
        "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31", "cc",
        "memory");
}
#undef BCN_NEON_WORD_PAIR
#undef BCN_NEON_WEIGHTS
#undef BCN_NEON_PIXELS
#undef BCN_NEON_WORD
#undef BCN_NEON_STEP

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
      vst1q_s32(a.accum + p * a.accum_stride + 4 * q, vreinterpretq_s32_u32(vpadalq_u16(total[p][q], acc[p][q])));
}

}  // namespace

namespace {

void Counts(const TileArgs& a) {
  switch (a.pixels) {
    case 4: return a.offset == 0 && a.tap_count * a.words <= kMaxWordsPer16Bits ? FullTile(a) : Tile<4>(a);
    case 3: return Tile<3>(a);
    case 2: return Tile<2>(a);
    default: return Tile<1>(a);
  }
}

}  // namespace

namespace {

// Where LCE compares, selects as std::max does: NaN gives the bound (vmaxq_f32 would give NaN).
inline float32x4_t AtLeast(float32x4_t x, float32x4_t low) { return vbslq_f32(vcgtq_f32(x, low), x, low); }

// RoundToInt8 before saturation on 4 lanes. Its clamp to [-129, 128] only matters below (NaN
// gives -129 there); above, the conversion and the narrowing saturate to the same 127. FCVTAS
// rounds half away from zero, as RoundToInt8 does.
inline int32x4_t RoundHalfAway(float32x4_t value) { return vcvtaq_s32_f32(AtLeast(value, vdupq_n_f32(-129.0f))); }

// The block's 16 channels of one pixel's counts, doubled and clamped as LCE does, then scaled and shifted.
inline void Scale(const int32_t* counts, int32x4_t low, int32x4_t high, const float32x4_t (&multiplier)[4],
                  const float32x4_t (&bias)[4], float32x4_t (&value)[4]) {
  for (int q = 0; q < 4; ++q) {
    const int32x4_t c = vld1q_s32(counts + 4 * q);
    const int32x4_t x = vminq_s32(vmaxq_s32(vaddq_s32(c, c), low), high);
    value[q] = vaddq_f32(vmulq_f32(vcvtq_f32_s32(x), multiplier[q]), bias[q]);
  }
}

// `pixels` pixels' counts ([pixel][kBlockChannels]) of a block of 16 channels to float or int8
// output, the block's parameters held in registers and no call inside the loop.
void StoreScaled(const int32_t* counts, const TileOutput& o, int pixels) {
  const int32x4_t low = vdupq_n_s32(o.clamp_min), high = vdupq_n_s32(o.clamp_max);
  float32x4_t multiplier[4], bias[4], value[4];
  for (int q = 0; q < 4; ++q) multiplier[q] = vld1q_f32(o.multiplier + 4 * q), bias[q] = vld1q_f32(o.bias + 4 * q);
  char* dst = o.out;
  for (int p = 0; p < pixels; ++p, counts += kBlockChannels, dst += o.pixel_bytes) {
    Scale(counts, low, high, multiplier, bias, value);
    if (o.type == OutputType::Float32) {
      for (int q = 0; q < 4; ++q) vst1q_f32(reinterpret_cast<float*>(dst) + 4 * q, value[q]);
      continue;
    }
    const int16x8_t first = vcombine_s16(vqmovn_s32(RoundHalfAway(value[0])), vqmovn_s32(RoundHalfAway(value[1])));
    const int16x8_t second = vcombine_s16(vqmovn_s32(RoundHalfAway(value[2])), vqmovn_s32(RoundHalfAway(value[3])));
    vst1q_s8(reinterpret_cast<int8_t*>(dst), vcombine_s8(vqmovn_s16(first), vqmovn_s16(second)));
  }
}

// `pixels` pixels' counts to bitpacked output: bit set where the count exceeds the channel's threshold.
void StorePacked(const int32_t* counts, const TileOutput& o, int pixels) {
  const uint32x4_t weights = {1, 2, 4, 8};
  int32x4_t thresholds[4];
  for (int q = 0; q < 4; ++q) thresholds[q] = vld1q_s32(o.thresholds + 4 * q);
  for (int p = 0; p < pixels; ++p, counts += kBlockChannels) {
    uint32_t bits = 0;
    for (int q = 0; q < 4; ++q) {
      const uint32x4_t above = vcgtq_s32(vld1q_s32(counts + 4 * q), thresholds[q]);
      bits |= vaddvq_u32(vandq_u32(above, weights)) << (4 * q);
    }
    StoreBits(bits & ((1u << o.lanes) - 1), o, o.out + p * o.pixel_bytes);
  }
}

}  // namespace

// The counts go through 256 bytes on the stack (the assembly tile stores them there), then the
// transform runs on NEON registers; a block with fewer than 16 channels (a layer's last, at most
// one per tile) takes the reference transform.
void TileNeon(const TileArgs& a) {
  if (!a.output) return Counts(a);
  int32_t counts[kTilePixels * kBlockChannels];
  TileArgs to_counts = a;
  to_counts.accum = counts, to_counts.accum_stride = kBlockChannels, to_counts.output = nullptr;
  Counts(to_counts);
  const TileOutput& o = *a.output;
  if (o.type == OutputType::Bitpacked) return StorePacked(counts, o, a.pixels);
  if (o.lanes == kBlockChannels) return StoreScaled(counts, o, a.pixels);
  for (int p = 0; p < a.pixels; ++p) StoreOutputScalar(counts + p * kBlockChannels, o, p);
}

// 32 floats per word: 8 compares (bit set where value < 0, so -0.0 and NaN give 0, as in
// LCE), the masks narrowed to one byte per float in order, each byte kept to its bit's weight,
// and three pairwise adds sum 8 bytes into each of the word's 4 bytes.
void PackFloatNeon(const float* in, int64_t rows, int cols, int32_t* out) {
  const int words = (cols + 31) / 32;
  const uint8x16_t weights = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (int64_t r = 0; r < rows; ++r, in += cols, out += words) {
    int c = 0;
    for (; c + 32 <= cols; c += 32) {
      const float* x = in + c;
      uint16x8_t half[4];
      for (int k = 0; k < 4; ++k)
        half[k] = vuzp1q_u16(vreinterpretq_u16_u32(vcltq_f32(vld1q_f32(x + 8 * k), zero)),
                             vreinterpretq_u16_u32(vcltq_f32(vld1q_f32(x + 8 * k + 4), zero)));
      const uint8x16_t low = vandq_u8(vuzp1q_u8(vreinterpretq_u8_u16(half[0]), vreinterpretq_u8_u16(half[1])), weights);
      const uint8x16_t high =
          vandq_u8(vuzp1q_u8(vreinterpretq_u8_u16(half[2]), vreinterpretq_u8_u16(half[3])), weights);
      uint8x16_t sum = vpaddq_u8(low, high);
      sum = vpaddq_u8(sum, sum);
      sum = vpaddq_u8(sum, sum);
      out[c / 32] = static_cast<int32_t>(vgetq_lane_u32(vreinterpretq_u32_u8(sum), 0));
    }
    if (c < cols) out[c / 32] = PackWord(in + c, cols - c);
  }
}

}  // namespace bcn_lce
