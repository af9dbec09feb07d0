// Times one binary convolution per q1-at-512 encoder scale (3x3, stride 1, SAME, pad 1,
// float output, as LCE converts QuickNet's blocks) on each kernel path this CPU has, at 1
// and 2 threads. One JSON object per line; benchmarks/kernel_limits.py runs and reads it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels.h"

using namespace bcn_lce;

int main() {
  struct Layer {
    int size, channels;
  };
  const Layer layers[] = {{128, 128}, {64, 256}, {32, 324}, {16, 512}};
  std::mt19937 rng(1);
  for (const Layer& layer : layers) {
    BConv2DShape shape;
    shape.batch = 1, shape.in_height = shape.in_width = layer.size;
    shape.channels_in = shape.channels_out = layer.channels;
    shape.filter_height = shape.filter_width = 3;
    shape.padding = Padding::Same, shape.pad_value = 1;
    const int words = PackedSize(layer.channels);
    std::vector<int32_t> input(size_t(layer.size) * layer.size * words), filter(size_t(layer.channels) * 9 * words);
    for (auto& w : input) w = int32_t(rng());
    for (auto& w : filter) w = int32_t(rng());
    BConv2DOutput output;
    output.activation = Activation::Relu;
    output.post_multiplier.assign(layer.channels, 0.5f);
    output.post_bias.assign(layer.channels, 0.1f);
    std::vector<float> out(size_t(layer.size) * layer.size * layer.channels);
    const double macs = double(layer.size) * layer.size * layer.channels * 9.0 * layer.channels;
    for (const KernelPathRow& row : kKernelPaths) {
      const KernelPath path = row.path;
      if (!PathSupported(path)) continue;
      for (int threads : {1, 2}) {
        ThreadPool pool(threads);
        BConv2D conv(shape, filter.data(), output, threads, path);
        conv.Run(input.data(), out.data(), &pool);  // warm-up
        std::vector<double> times;
        const int runs = path == KernelPath::Scalar ? 2 : 15;
        for (int r = 0; r < runs; ++r) {
          const auto start = std::chrono::steady_clock::now();
          conv.Run(input.data(), out.data(), &pool);
          times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        }
        std::sort(times.begin(), times.end());
        std::printf(
            "{\"path\": \"%s\", \"threads\": %d, \"size\": %d, \"channels\": %d, \"macs\": %.0f, "
            "\"median_ms\": %.3f, \"min_ms\": %.3f}\n",
            PathName(path), threads, layer.size, layer.channels, macs, times[times.size() / 2], times[0]);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
