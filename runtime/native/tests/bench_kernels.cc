// Times one binary convolution per q1-at-512 encoder scale (3x3, stride 1, SAME, pad 1, as LCE
// converts QuickNet's blocks) on each kernel path this CPU has, with float output (float rest)
// and int8 output (int8 rest), at 1 and 2 threads, each beside the clock measured just before it.
// One JSON object per line; benchmarks/kernel_limits.py runs and reads it.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels.h"

using namespace bcn_lce;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// The core's clock in MHz: the best of 5 timings of a chain of dependent one-cycle integer adds
// of two registers (recent cores fold additions of an immediate in the renamer).
double MeasureMhz() {
  constexpr int64_t kLoops = 20'000'000, kAddsPerLoop = 8;
  double best = 1e9;
  for (int repeat = 0; repeat < 5; ++repeat) {
    uint64_t x = 0, one = 1;
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < kLoops; ++i) {
#if defined(__x86_64__)
      __asm__ volatile(
          "add %1, %0\n add %1, %0\n add %1, %0\n add %1, %0\n"
          "add %1, %0\n add %1, %0\n add %1, %0\n add %1, %0\n"
          : "+r"(x)
          : "r"(one));
#elif defined(__aarch64__)
      __asm__ volatile(
          "add %0, %0, %1\n add %0, %0, %1\n add %0, %0, %1\n add %0, %0, %1\n"
          "add %0, %0, %1\n add %0, %0, %1\n add %0, %0, %1\n add %0, %0, %1\n"
          : "+r"(x)
          : "r"(one));
#else
      return 0.0;
#endif
    }
    best = std::min(best, Seconds(start));
  }
  return double(kLoops * kAddsPerLoop) / best / 1e6;
}

}  // namespace

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
    std::vector<char> out(size_t(layer.size) * layer.size * layer.channels * sizeof(float));
    const double macs = double(layer.size) * layer.size * layer.channels * 9.0 * layer.channels;
    for (const OutputType type : {OutputType::Float32, OutputType::Int8}) {
      BConv2DOutput output;
      output.type = type;
      output.activation = Activation::Relu;
      output.post_multiplier.assign(layer.channels, 0.5f);
      output.post_bias.assign(layer.channels, 0.1f);
      output.int8_scale = 0.25f;
      for (const KernelPathRow& row : kKernelPaths) {
        const KernelPath path = row.path;
        if (!PathSupported(path)) continue;
        for (int threads : {1, 2}) {
          ThreadPool pool(threads);
          BConv2D conv(shape, filter.data(), output, threads, path);
          const double mhz = MeasureMhz();
          conv.Run(input.data(), out.data(), &pool);  // warm-up
          std::vector<double> times;
          const int runs = path == KernelPath::Scalar ? 2 : 15;
          for (int r = 0; r < runs; ++r) {
            const auto start = std::chrono::steady_clock::now();
            conv.Run(input.data(), out.data(), &pool);
            times.push_back(Seconds(start) * 1e3);
          }
          std::sort(times.begin(), times.end());
          std::printf(
              "{\"path\": \"%s\", \"output\": \"%s\", \"threads\": %d, \"size\": %d, \"channels\": %d, "
              "\"macs\": %.0f, \"median_ms\": %.3f, \"min_ms\": %.3f, \"clock_mhz\": %.0f}\n",
              PathName(path), type == OutputType::Int8 ? "int8" : "float32", threads, layer.size, layer.channels, macs,
              times[times.size() / 2], times[0], mhz);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
