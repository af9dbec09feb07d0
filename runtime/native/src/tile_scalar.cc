#include "tile.h"

namespace bcn_lce {

void TileScalar(const TileArgs& a) {
  for (int p = 0; p < a.pixels; ++p) {
    int32_t* accum = a.accum + p * a.accum_stride;
    for (int l = 0; l < kBlockChannels; ++l) accum[l] = 0;
    for (int t = 0; t < a.tap_count; ++t) {
      const int32_t* in = a.taps[p * a.tap_count + t] + a.offset;
      const int32_t* w = a.weights + t * a.words * kBlockChannels;
      for (int i = 0; i < a.words; ++i, w += kBlockChannels) {
        const uint32_t x = static_cast<uint32_t>(in[i]);
        for (int l = 0; l < kBlockChannels; ++l) accum[l] += __builtin_popcount(x ^ static_cast<uint32_t>(w[l]));
      }
    }
  }
}

}  // namespace bcn_lce
