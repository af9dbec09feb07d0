#include <algorithm>
#include <cstring>

#include "kernels.h"
#include "tile.h"

namespace bcn_lce {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "bits 16-31 of a word are its bytes 2-3");

void TileScalar(const TileArgs& a) {
  for (int p = 0; p < a.pixels; ++p) {
    int32_t block[kBlockChannels];
    int32_t* counts = a.output ? block : a.accum + p * a.accum_stride;
    for (int l = 0; l < kBlockChannels; ++l) counts[l] = 0;
    for (int t = 0; t < a.tap_count; ++t) {
      const int32_t* in = a.taps[p * a.tap_count + t] + a.offset;
      const int32_t* w = a.weights + t * a.words * kBlockChannels;
      for (int i = 0; i < a.words; ++i, w += kBlockChannels) {
        const uint32_t x = static_cast<uint32_t>(in[i]);
        for (int l = 0; l < kBlockChannels; ++l) counts[l] += __builtin_popcount(x ^ static_cast<uint32_t>(w[l]));
      }
    }
    if (a.output) StoreOutputScalar(counts, *a.output, p);
  }
}

void StoreBits(uint32_t bits, const TileOutput& o, char* dst) {
  if (o.high_half) {
    const uint16_t half = static_cast<uint16_t>(bits);
    std::memcpy(dst + 2, &half, sizeof(half));
  } else {
    std::memcpy(dst, &bits, sizeof(bits));
  }
}

void StoreOutputScalar(const int32_t* counts, const TileOutput& o, int pixel) {
  char* dst = o.out + pixel * o.pixel_bytes;
  if (o.type == OutputType::Bitpacked) {
    uint32_t bits = 0;
    for (int l = 0; l < o.lanes; ++l) bits |= uint32_t(counts[l] > o.thresholds[l]) << l;
    StoreBits(bits, o, dst);
    return;
  }
  for (int l = 0; l < o.lanes; ++l) {
    const int32_t x = std::min(o.clamp_max, std::max(o.clamp_min, counts[l] * 2));
    const float value = static_cast<float>(x) * o.multiplier[l] + o.bias[l];
    if (o.type == OutputType::Float32) {
      std::memcpy(dst + sizeof(float) * l, &value, sizeof(value));
    } else {
      const int8_t rounded = RoundToInt8(value);
      std::memcpy(dst + l, &rounded, 1);
    }
  }
}

}  // namespace bcn_lce
