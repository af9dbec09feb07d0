// Times one binary convolution per q1-at-512 encoder scale (3x3, stride 1, SAME, pad 1, as LCE
// converts QuickNet's blocks) on each kernel path this CPU has, with float output (float rest)
// and int8 output (int8 rest), at 1 and 2 threads, each beside the clock measured just before it.
// One JSON object per line; benchmarks/kernel_limits.py runs and reads it.
//
//   bcn_lce_bench                       time every layer, path, output and thread count
//   bcn_lce_bench count LAYER OUTPUT N  run layer LAYER (0-3) with OUTPUT (float32 or int8) N times
//                                       on the first SIMD path, 1 thread, untimed: under an
//                                       instruction counter, the difference of two N is one run's
//                                       instructions (benchmarks/neon_insns.py)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
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

struct Layer {
  int size, channels;
};
constexpr Layer kLayers[] = {{128, 128}, {64, 256}, {32, 324}, {16, 512}};

// One q1 layer's shape, random input and filter, and output buffer.
struct LayerCase {
  BConv2DShape shape;
  std::vector<int32_t> input, filter;
  std::vector<char> out;
  double macs;
};

LayerCase MakeLayer(const Layer& layer, std::mt19937& rng) {
  LayerCase c;
  BConv2DShape& shape = c.shape;
  shape.batch = 1, shape.in_height = shape.in_width = layer.size;
  shape.channels_in = shape.channels_out = layer.channels;
  shape.filter_height = shape.filter_width = 3;
  shape.padding = Padding::Same, shape.pad_value = 1;
  const int words = PackedSize(layer.channels);
  c.input.resize(size_t(layer.size) * layer.size * words), c.filter.resize(size_t(layer.channels) * 9 * words);
  for (auto& w : c.input) w = int32_t(rng());
  for (auto& w : c.filter) w = int32_t(rng());
  c.out.resize(size_t(layer.size) * layer.size * layer.channels * sizeof(float));
  c.macs = double(layer.size) * layer.size * layer.channels * 9.0 * layer.channels;
  return c;
}

BConv2DOutput MakeOutput(OutputType type, int channels) {
  BConv2DOutput output;
  output.type = type;
  output.activation = Activation::Relu;
  output.post_multiplier.assign(channels, 0.5f);
  output.post_bias.assign(channels, 0.1f);
  output.int8_scale = 0.25f;
  return output;
}

void TimeAll() {
  std::mt19937 rng(1);
  for (const Layer& layer : kLayers) {
    LayerCase c = MakeLayer(layer, rng);
    for (const OutputType type : {OutputType::Float32, OutputType::Int8}) {
      const BConv2DOutput output = MakeOutput(type, layer.channels);
      for (const KernelPathRow& row : kKernelPaths) {
        const KernelPath path = row.path;
        if (!PathSupported(path)) continue;
        for (int threads : {1, 2}) {
          ThreadPool pool(threads);
          BConv2D conv(c.shape, c.filter.data(), output, threads, path);
          const double mhz = MeasureMhz();
          conv.Run(c.input.data(), c.out.data(), &pool);  // warm-up
          std::vector<double> times;
          const int runs = path == KernelPath::Scalar ? 2 : 15;
          for (int r = 0; r < runs; ++r) {
            const auto start = std::chrono::steady_clock::now();
            conv.Run(c.input.data(), c.out.data(), &pool);
            times.push_back(Seconds(start) * 1e3);
          }
          std::sort(times.begin(), times.end());
          std::printf(
              "{\"path\": \"%s\", \"output\": \"%s\", \"threads\": %d, \"size\": %d, \"channels\": %d, "
              "\"macs\": %.0f, \"median_ms\": %.3f, \"min_ms\": %.3f, \"clock_mhz\": %.0f}\n",
              PathName(path), type == OutputType::Int8 ? "int8" : "float32", threads, layer.size, layer.channels,
              c.macs, times[times.size() / 2], times[0], mhz);
          std::fflush(stdout);
        }
      }
    }
  }
}

int Count(const char* layer_arg, const char* output_arg, const char* runs_arg) {
  const int layer = std::atoi(layer_arg), runs = std::atoi(runs_arg);
  const std::string type_name = output_arg;
  if (layer < 0 || layer > 3 || runs < 0 || (type_name != "float32" && type_name != "int8")) {
    std::fprintf(stderr, "usage: bcn_lce_bench count LAYER(0-3) float32|int8 RUNS\n");
    return 2;
  }
  KernelPath path = KernelPath::Scalar;
  for (const KernelPathRow& row : kKernelPaths) {
    if (row.path != KernelPath::Scalar && PathSupported(row.path)) {
      path = row.path;
      break;
    }
  }
  std::mt19937 rng(1);
  LayerCase c = MakeLayer(kLayers[layer], rng);
  const OutputType type = type_name == "int8" ? OutputType::Int8 : OutputType::Float32;
  ThreadPool pool(1);
  BConv2D conv(c.shape, c.filter.data(), MakeOutput(type, kLayers[layer].channels), 1, path);
  for (int r = 0; r < runs; ++r) conv.Run(c.input.data(), c.out.data(), &pool);
  std::printf("{\"path\": \"%s\", \"output\": \"%s\", \"size\": %d, \"channels\": %d, \"macs\": %.0f, \"runs\": %d}\n",
              PathName(path), type_name.c_str(), kLayers[layer].size, kLayers[layer].channels, c.macs, runs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "count") return Count(argv[2], argv[3], argv[4]);
  if (argc != 1) {
    std::fprintf(stderr, "usage: bcn_lce_bench [count LAYER float32|int8 RUNS]\n");
    return 2;
  }
  TimeAll();
  return 0;
}
