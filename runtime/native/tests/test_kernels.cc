// Native tests of bcn's LCE kernels against references written from the ops' definitions
// (a convolution of +1/-1 values), on randomized shapes and options, plus the FlexBuffer
// reader on valid and damaged buffers. Built with sanitizers in CI. The bit-exact oracle
// (LCE's own interpreter) is in the Python suite, tests/test_lce_parity.py.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "flexbuffers.h"
#include "kernels.h"

using namespace bcn_lce;

namespace {

// Every path of the table but the scalar reference they are all checked against.
std::vector<KernelPath> SimdPaths() {
  std::vector<KernelPath> paths;
  for (const KernelPathRow& row : kKernelPaths)
    if (row.path != KernelPath::Scalar) paths.push_back(row.path);
  return paths;
}

int failures = 0;

#define CHECK(condition, ...)                                                            \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      ++failures;                                                                        \
      std::fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #condition); \
      std::fprintf(stderr, __VA_ARGS__);                                                 \
      std::fprintf(stderr, "\n");                                                        \
    }                                                                                    \
  } while (0)

std::mt19937 rng(20261125);

int Uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng); }
template <typename T>
T Pick(const std::vector<T>& values) {
  return values[Uniform(0, int(values.size()) - 1)];
}

std::vector<float> RandomSigns(size_t n) {
  std::vector<float> v(n);
  for (float& x : v) x = Uniform(0, 1) ? 1.0f : -1.0f;
  return v;
}

void TestPacking() {
  for (int trial = 0; trial < 50; ++trial) {
    const int rows = Uniform(1, 5), cols = Uniform(1, 130);
    std::vector<float> values(size_t(rows) * cols);
    for (float& x : values) x = float(Uniform(-3, 3));
    values[0] = -0.0f;  // not < 0: bit clear, as in LCE
    std::vector<int32_t> packed(size_t(rows) * PackedSize(cols), 12345);
    PackFloat(values.data(), rows, cols, packed.data());
    for (int r = 0; r < rows; ++r)
      for (int w = 0; w < PackedSize(cols); ++w) {
        uint32_t expected = 0;
        for (int b = 0; b < 32 && w * 32 + b < cols; ++b) expected |= uint32_t(values[r * cols + w * 32 + b] < 0) << b;
        CHECK(uint32_t(packed[r * PackedSize(cols) + w]) == expected, "float row %d word %d", r, w);
      }
    std::vector<float> unpacked(values.size());
    UnpackFloat(packed.data(), rows, cols, unpacked.data());
    for (size_t i = 0; i < values.size(); ++i) CHECK(unpacked[i] == (values[i] < 0 ? -1.0f : 1.0f), "unpack %zu", i);

    const int zero_point = Uniform(-130, 130);
    std::vector<int8_t> q(values.size());
    for (auto& x : q) x = int8_t(Uniform(-128, 127));
    PackInt8(q.data(), rows, cols, zero_point, packed.data());
    std::vector<int8_t> back(q.size());
    UnpackInt8(packed.data(), rows, cols, 7, -9, back.data());
    for (size_t i = 0; i < q.size(); ++i) CHECK(back[i] == (q[i] < zero_point ? -9 : 7), "int8 %zu", i);
  }
}

void TestPackingPaths() {
  for (int trial = 0; trial < 50; ++trial) {
    const int rows = Uniform(1, 4), cols = Uniform(1, 200);
    std::vector<float> values(size_t(rows) * cols);
    for (float& x : values) x = float(Uniform(-3, 3)) * 0.5f;
    values[Uniform(0, int(values.size()) - 1)] = -0.0f;
    values[Uniform(0, int(values.size()) - 1)] = std::nanf("");
    std::vector<int32_t> scalar(size_t(rows) * PackedSize(cols));
    PackFloat(values.data(), rows, cols, scalar.data());
    for (KernelPath path : SimdPaths()) {
      if (!PathSupported(path)) continue;
      std::vector<int32_t> got(scalar.size(), 7);
      PackFor(path)(values.data(), rows, cols, got.data());
      CHECK(got == scalar, "trial %d: %s packing differs from scalar", trial, PathName(path));
    }
  }
}

void TestInt8PackingPaths() {
  for (int trial = 0; trial < 50; ++trial) {
    const int rows = Uniform(1, 4), cols = Uniform(1, 200), zero_point = Uniform(-128, 127);
    std::vector<int8_t> values(size_t(rows) * cols);
    for (auto& x : values) x = int8_t(Uniform(-128, 127));
    values[Uniform(0, int(values.size()) - 1)] = int8_t(zero_point);  // equal: bit clear
    std::vector<int32_t> scalar(size_t(rows) * PackedSize(cols));
    PackInt8(values.data(), rows, cols, zero_point, scalar.data());
    for (KernelPath path : SimdPaths()) {
      if (!PathSupported(path)) continue;
      std::vector<int32_t> got(scalar.size(), 7);
      PackInt8For(path)(values.data(), rows, cols, zero_point, got.data());
      CHECK(got == scalar, "trial %d: %s int8 packing differs from scalar", trial, PathName(path));
    }
  }
}

// RoundToInt8 against its definition, std::round saturated in float, on halves, values next to
// halves, the saturation edges and non-finite values.
void TestRoundToInt8() {
  auto reference = [](float x) { return int8_t(std::min(127.0f, std::max(-128.0f, std::round(x)))); };
  std::vector<float> values = {0.0f,    -0.0f,   0.5f,    -0.5f, 1.5f,  -1.5f,    126.5f,    127.5f,       -127.5f,
                               -128.5f, -129.5f, 128.49f, 1e9f,  -1e9f, INFINITY, -INFINITY, std::nanf("")};
  for (int n = -140; n <= 140; ++n)
    for (float base : {float(n), n + 0.5f})
      values.insert(values.end(), {base, std::nextafter(base, -1e9f), std::nextafter(base, 1e9f)});
  std::uniform_real_distribution<float> wide(-300.0f, 300.0f);
  for (int i = 0; i < 100000; ++i) values.push_back(wide(rng));
  for (float x : values) CHECK(RoundToInt8(x) == reference(x), "RoundToInt8(%.9g) = %d", x, RoundToInt8(x));
}

void TestBMaxPool() {
  for (int trial = 0; trial < 40; ++trial) {
    BMaxPoolShape s{};
    s.batch = Uniform(1, 2), s.in_height = Uniform(1, 9), s.in_width = Uniform(1, 9);
    const int channels = Uniform(1, 70);
    s.words = PackedSize(channels);
    s.filter_height = Uniform(1, 3), s.filter_width = Uniform(1, 3);
    s.stride_height = Uniform(1, 3), s.stride_width = Uniform(1, 3);
    s.padding = Uniform(0, 1) ? Padding::Same : Padding::Valid;
    const AxisPadding py = ComputeAxisPadding(s.padding, s.in_height, s.filter_height, s.stride_height, 1);
    const AxisPadding px = ComputeAxisPadding(s.padding, s.in_width, s.filter_width, s.stride_width, 1);
    if (py.out_size < 1 || px.out_size < 1) continue;
    const std::vector<float> x = RandomSigns(size_t(s.batch) * s.in_height * s.in_width * channels);
    std::vector<int32_t> packed(size_t(s.batch) * s.in_height * s.in_width * s.words);
    PackFloat(x.data(), int64_t(s.batch) * s.in_height * s.in_width, channels, packed.data());
    std::vector<int32_t> out(size_t(s.batch) * py.out_size * px.out_size * s.words);
    BMaxPool2D(s, packed.data(), out.data());
    std::vector<float> got(size_t(s.batch) * py.out_size * px.out_size * channels);
    UnpackFloat(out.data(), int64_t(s.batch) * py.out_size * px.out_size, channels, got.data());
    for (int b = 0; b < s.batch; ++b)
      for (int oy = 0; oy < py.out_size; ++oy)
        for (int ox = 0; ox < px.out_size; ++ox)
          for (int c = 0; c < channels; ++c) {
            float best = -2;
            for (int ky = 0; ky < s.filter_height; ++ky)
              for (int kx = 0; kx < s.filter_width; ++kx) {
                const int y = oy * s.stride_height - py.pad_before + ky, xx = ox * s.stride_width - px.pad_before + kx;
                if (y < 0 || y >= s.in_height || xx < 0 || xx >= s.in_width) continue;
                best = std::max(best, x[((size_t(b) * s.in_height + y) * s.in_width + xx) * channels + c]);
              }
            const float g = got[((size_t(b) * py.out_size + oy) * px.out_size + ox) * channels + c];
            CHECK(g == best, "bmaxpool trial %d at %d,%d,%d,%d: %g vs %g", trial, b, oy, ox, c, g, best);
          }
  }
}

struct ConvCase {
  BConv2DShape shape;
  BConv2DOutput output;
  std::vector<float> input, weights;  // +1/-1, NHWC and OHWI (per group)
};

// The convolution's integer value at each output, from the definition: a sum of +1/-1
// products, padding with +1 (pad_values 1) or 0 (pad_values 0).
std::vector<int> ReferenceValues(const ConvCase& c, int out_h, int out_w, int pad_top, int pad_left) {
  const BConv2DShape& s = c.shape;
  const int cg = s.channels_in / s.groups, og = s.channels_out / s.groups;
  std::vector<int> values(size_t(s.batch) * out_h * out_w * s.channels_out);
  size_t i = 0;
  for (int b = 0; b < s.batch; ++b)
    for (int oy = 0; oy < out_h; ++oy)
      for (int ox = 0; ox < out_w; ++ox)
        for (int o = 0; o < s.channels_out; ++o, ++i) {
          int sum = 0;
          for (int ky = 0; ky < s.filter_height; ++ky)
            for (int kx = 0; kx < s.filter_width; ++kx) {
              const int y = oy * s.stride_height - pad_top + ky * s.dilation_height;
              const int x = ox * s.stride_width - pad_left + kx * s.dilation_width;
              const bool inside = y >= 0 && y < s.in_height && x >= 0 && x < s.in_width;
              for (int ci = 0; ci < cg; ++ci) {
                const float w = c.weights[((size_t(o) * s.filter_height + ky) * s.filter_width + kx) * cg + ci];
                const float v =
                    inside
                        ? c.input[((size_t(b) * s.in_height + y) * s.in_width + x) * s.channels_in + (o / og) * cg + ci]
                        : float(s.pad_value);
                sum += int(v * w);
              }
            }
          values[i] = sum;
        }
  return values;
}

int paths_tested[4] = {0, 0, 0, 0};

void TestBConv2D() {
  const std::vector<int> channel_choices = {1, 3, 31, 32, 33, 40, 64, 70, 100, 128, 324};
  int tested = 0;
  for (int trial = 0; trial < 160; ++trial) {
    ConvCase c;
    BConv2DShape& s = c.shape;
    s.groups = Uniform(0, 3) == 0 ? Pick<int>({2, 3}) : 1;
    s.channels_in = s.groups > 1 ? s.groups * 32 * Uniform(1, 2) : Pick(channel_choices);
    s.channels_out = s.groups * Uniform(1, 40 / s.groups + 1);
    s.filter_height = Uniform(1, 3), s.filter_width = Uniform(1, 3);
    s.stride_height = Uniform(1, 2), s.stride_width = Uniform(1, 2);
    s.dilation_height = Uniform(0, 3) == 0 ? 2 : 1, s.dilation_width = Uniform(0, 3) == 0 ? 2 : 1;
    s.padding = Uniform(0, 1) ? Padding::Same : Padding::Valid;
    s.pad_value = Uniform(0, 1);
    s.batch = Uniform(1, 2);
    const int eff_h = (s.filter_height - 1) * s.dilation_height + 1,
              eff_w = (s.filter_width - 1) * s.dilation_width + 1;
    s.in_height = Uniform(eff_h, eff_h + 6), s.in_width = Uniform(eff_w, eff_w + 6);
    BConv2DOutput& out = c.output;
    const int type = Uniform(0, 2);
    out.type = type == 0 ? OutputType::Float32 : type == 1 ? OutputType::Int8 : OutputType::Bitpacked;
    const bool zero_padding = s.padding == Padding::Same && s.pad_value == 0;
    if (zero_padding) out.type = OutputType::Float32;  // LCE supports zero padding only there
    out.activation =
        zero_padding ? Activation::None
                     : Pick<Activation>({Activation::None, Activation::Relu, Activation::Relu6, Activation::ReluN1To1});
    const int cg = s.channels_in / s.groups, taps = s.filter_height * s.filter_width, k = taps * cg;
    std::uniform_real_distribution<float> real(-2.0f, 2.0f);
    for (int o = 0; o < s.channels_out; ++o) {
      out.post_multiplier.push_back(real(rng));
      out.post_bias.push_back(real(rng) * 10);
      out.thresholds.push_back(Uniform(-1, k));
    }
    out.int8_scale = 0.05f + float(Uniform(0, 100)) / 100.0f;
    out.int8_zero_point = Uniform(-20, 20);

    c.input = RandomSigns(size_t(s.batch) * s.in_height * s.in_width * s.channels_in);
    c.weights = RandomSigns(size_t(s.channels_out) * taps * cg);
    std::vector<int32_t> input(size_t(s.batch) * s.in_height * s.in_width * PackedSize(s.channels_in));
    PackFloat(c.input.data(), int64_t(s.batch) * s.in_height * s.in_width, s.channels_in, input.data());
    std::vector<int32_t> filter(size_t(s.channels_out) * taps * PackedSize(cg));
    PackFloat(c.weights.data(), int64_t(s.channels_out) * taps, cg, filter.data());

    const int threads = Uniform(1, 3);
    ThreadPool pool(threads);
    BConv2D conv(s, filter.data(), out, threads, KernelPath::Scalar);
    const AxisPadding py =
        ComputeAxisPadding(s.padding, s.in_height, s.filter_height, s.stride_height, s.dilation_height);
    const AxisPadding px = ComputeAxisPadding(s.padding, s.in_width, s.filter_width, s.stride_width, s.dilation_width);
    CHECK(conv.out_height() == py.out_size && conv.out_width() == px.out_size, "output size");
    const size_t pixels = size_t(s.batch) * py.out_size * px.out_size;
    const std::vector<int> values = ReferenceValues(c, py.out_size, px.out_size, py.pad_before, px.pad_before);

    int low = INT32_MIN, high = INT32_MAX;
    if (out.activation == Activation::Relu) low = 0;
    if (out.activation == Activation::Relu6) low = 0, high = 6;
    if (out.activation == Activation::ReluN1To1) low = -1, high = 1;

    if (out.type == OutputType::Bitpacked) {
      std::vector<int32_t> got(pixels * PackedSize(s.channels_out), 0x5a5a5a5a);
      conv.Run(input.data(), got.data(), &pool);
      for (size_t p = 0; p < pixels; ++p)
        for (int o = 0; o < s.channels_out; ++o) {
          // accum counts the -1 products when padding is +1: (k - value) / 2.
          const int accum = (k - values[p * s.channels_out + o]) / 2;
          const bool bit = (uint32_t(got[p * PackedSize(s.channels_out) + o / 32]) >> (o % 32)) & 1u;
          CHECK(bit == (accum > out.thresholds[o]), "trial %d bitpacked pixel %zu channel %d", trial, p, o);
        }
      for (size_t p = 0; p < pixels && s.channels_out % 32; ++p)
        CHECK((uint32_t(got[p * PackedSize(s.channels_out) + PackedSize(s.channels_out) - 1]) >>
               (s.channels_out % 32)) == 0,
              "trial %d: unused output bits set", trial);
    } else if (out.type == OutputType::Float32) {
      std::vector<float> got(pixels * s.channels_out);
      conv.Run(input.data(), got.data(), &pool);
      for (size_t i = 0; i < got.size(); ++i) {
        const int o = int(i % s.channels_out);
        const double v = std::min(high, std::max(low, values[i]));
        const double expected = v * out.post_multiplier[o] + out.post_bias[o];
        // LCE folds k into the bias: rounding error scales with k * |multiplier|.
        const double tolerance = 1e-6 * (k * std::fabs(out.post_multiplier[o]) + std::fabs(out.post_bias[o]) + 1);
        CHECK(std::fabs(got[i] - expected) <= tolerance, "trial %d float %zu: %.9g vs %.9g", trial, i, got[i],
              expected);
      }
    } else {
      std::vector<int8_t> got(pixels * s.channels_out);
      conv.Run(input.data(), got.data(), &pool);
      for (size_t i = 0; i < got.size(); ++i) {
        const int o = int(i % s.channels_out);
        const double v = std::min(high, std::max(low, values[i]));
        const double real_value =
            (v * out.post_multiplier[o] + out.post_bias[o]) / out.int8_scale + out.int8_zero_point;
        const double expected = std::min(127.0, std::max(-128.0, std::round(real_value)));
        CHECK(std::fabs(got[i] - expected) <= 1, "trial %d int8 %zu: %d vs %g", trial, i, got[i], expected);
      }
    }

    // Every SIMD path this CPU has, and any thread count, must give the scalar path's bits.
    const size_t bytes = pixels * (out.type == OutputType::Bitpacked ? PackedSize(s.channels_out) * 4
                                   : out.type == OutputType::Int8    ? s.channels_out
                                                                     : s.channels_out * 4);
    std::vector<char> scalar(bytes);
    ThreadPool single(1);
    BConv2D(s, filter.data(), out, 1, KernelPath::Scalar).Run(input.data(), scalar.data(), &single);
    for (KernelPath path : SimdPaths()) {
      if (!PathSupported(path)) continue;
      std::vector<char> got(bytes);
      BConv2D(s, filter.data(), out, 3, path).Run(input.data(), got.data(), &pool);
      CHECK(got == scalar, "trial %d: %s differs from scalar", trial, PathName(path));
      ++paths_tested[int(path)];
    }
    ++tested;
  }
  CHECK(tested > 100, "only %d convolutions tested", tested);
  for (KernelPath path : SimdPaths())
    if (PathSupported(path))
      std::printf("%s: %d convolutions equal to scalar\n", PathName(path), paths_tested[int(path)]);
}

// Filters longer than the NEON path's 16-bit counters hold in one pass (4095 words per tile),
// with merged filter rows (dilation 1) and separate taps (dilation 2), on random signs and on
// nearly all products -1 (the counters' worst case): every SIMD path against the scalar one,
// and the scalar one against the definition.
void TestLongFilters() {
  for (int trial = 0; trial < 4; ++trial) {
    ConvCase c;
    BConv2DShape& s = c.shape;
    s.batch = 1, s.in_height = 1, s.filter_height = 1, s.filter_width = 3;
    s.dilation_width = 1 + trial % 2;
    s.in_width = (s.filter_width - 1) * s.dilation_width + 1 + Uniform(3, 6);
    s.channels_in = 32 * Uniform(1400, 1500) - Uniform(0, 31);
    s.channels_out = Uniform(1, 20);
    c.output.post_multiplier.assign(s.channels_out, 1.0f);
    c.output.post_bias.assign(s.channels_out, 0.0f);
    c.input = RandomSigns(size_t(s.in_width) * s.channels_in);
    c.weights = RandomSigns(size_t(s.channels_out) * 3 * s.channels_in);
    if (trial >= 2) {
      for (float& x : c.input) x = -1.0f;
      for (float& w : c.weights) w = Uniform(0, 99) ? 1.0f : -1.0f;
    }
    std::vector<int32_t> input(size_t(s.in_width) * PackedSize(s.channels_in));
    PackFloat(c.input.data(), s.in_width, s.channels_in, input.data());
    std::vector<int32_t> filter(size_t(s.channels_out) * 3 * PackedSize(s.channels_in));
    PackFloat(c.weights.data(), int64_t(s.channels_out) * 3, s.channels_in, filter.data());
    ThreadPool single(1);
    BConv2D scalar_conv(s, filter.data(), c.output, 1, KernelPath::Scalar);
    std::vector<float> scalar(size_t(scalar_conv.out_width()) * s.channels_out);
    scalar_conv.Run(input.data(), scalar.data(), &single);
    const std::vector<int> values = ReferenceValues(c, 1, scalar_conv.out_width(), 0, 0);
    for (size_t i = 0; i < scalar.size(); ++i)
      CHECK(scalar[i] == float(values[i]), "long filter trial %d output %zu: %g vs %d", trial, i, scalar[i], values[i]);
    for (KernelPath path : SimdPaths()) {
      if (!PathSupported(path)) continue;
      std::vector<float> got(scalar.size());
      BConv2D(s, filter.data(), c.output, 1, path).Run(input.data(), got.data(), &single);
      CHECK(got == scalar, "long filter trial %d: %s differs from scalar", trial, PathName(path));
    }
  }
}

const char kOptions[] =
    "channels_in\000dilation_height_factor\000dilation_width_factor\000fused_activation_function\000"
    "pad_values\000padding\000stride_height\000stride_width\000name\000\003abc\000scale\000big\000"
    "\013\005\227\214va\032I\077\0239,\000\000\000\016\000\000\000\001\000\000\000\013\000\000\000"
    "\240\206\001\000F\000\000\000\001\000\000\000\002\000\000\000\003\000\000\000=\000\000\000\000\000"
    "\000\000\001\000\000\000\000\000\000\077\002\000\000\000\001\000\000\000"
    "\006\006\006\006\006\024\006\006\016\006\0067&\001";

void TestFlexBuffers() {
  // Written by the flatbuffers Python package: flexbuffers.Dumps({...}); the literal's closing NUL
  // is not part of it.
  const uint8_t* options = reinterpret_cast<const uint8_t*>(kOptions);
  const size_t options_size = sizeof kOptions - 1;
  std::string error;
  const auto map = ParseFlexMap(options, options_size, &error);
  CHECK(map.has_value(), "parse: %s", error.c_str());
  if (map) {
    auto get = [&](const char* key) { return map->count(key) ? map->at(key).int_value : -999; };
    CHECK(get("channels_in") == 70 && get("dilation_width_factor") == 2 && get("fused_activation_function") == 3 &&
              get("padding") == 1 && get("stride_height") == 2 && get("big") == 100000 && get("pad_values") == 0,
          "integer values");
    CHECK(map->count("name") && map->at("name").string_value == "abc", "string value");
    CHECK(map->count("scale") && map->at("scale").float_value == 0.5, "float value");
  }
  // Every truncation and many random corruptions: an error or a map, never a bad read.
  for (size_t size = 0; size < options_size; ++size) (void)ParseFlexMap(options, size, &error);
  std::vector<uint8_t> damaged(options, options + options_size);
  for (int trial = 0; trial < 5000; ++trial) {
    std::vector<uint8_t> copy = damaged;
    for (int flips = Uniform(1, 4); flips > 0; --flips)
      copy[Uniform(0, int(copy.size()) - 1)] = uint8_t(Uniform(0, 255));
    (void)ParseFlexMap(copy.data(), copy.size(), &error);
  }
  CHECK(!ParseFlexMap(nullptr, 0, &error), "empty options parse");
}

}  // namespace

int main() {
  std::printf("kernel paths on this CPU: %s\n", SupportedPaths().c_str());
  TestPacking();
  TestPackingPaths();
  TestInt8PackingPaths();
  TestRoundToInt8();
  TestBMaxPool();
  TestBConv2D();
  TestLongFilters();
  TestFlexBuffers();
  if (failures) {
    std::fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  std::printf("bcn-lce kernel tests passed\n");
  return 0;
}
