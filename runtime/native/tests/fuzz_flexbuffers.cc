// A bounded, seeded fuzzing loop on the FlexBuffer reader that parses every LCE op's options:
// valid option maps (as flexbuffers.Dumps writes them) mutated byte by byte, cut, grown and
// spliced together, then parsed. Built with the sanitizers in CI: any read outside the buffer,
// overflow or leak fails the run.
//
//   bcn_lce_fuzz_flexbuffers [ITERATIONS] [SEED]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "flexbuffers.h"

using bcn_lce::FlexMap;
using bcn_lce::FlexValue;
using bcn_lce::ParseFlexMap;

namespace {

// conv: flexbuffers.Dumps({'channels_in': 40, 'dilation_height_factor': 1, 'dilation_width_factor': 1, 'fused_activat
const char kConv[] =
    "channels_in\000dilation_height_factor\000dilation_width_factor\000fused_activation_function\000"
    "pad_values\000padding\000stride_height\000stride_width\000"
    "\010\202waL3)\042\025\010\001\010(\001\001\000\001\000"
    "\001\001\004\004\004\004\004\004\004\004\020$\001";
// pool: flexbuffers.Dumps({'filter_height': 2, 'filter_width': 2, 'padding': 0, 'stride_height': 2, 'stride_width': 2
const char kPool[] =
    "filter_height\000filter_width\000padding\000stride_height\000stride_width\000"
    "\005\0772&\037\022\005\001\005\002\002\000\002\002\004\004\004\004\004\012$\001";
// wide: flexbuffers.Dumps({'channels_in': 1099511627776, 'dilation_height_factor': 1, 'dilation_width_factor': 1, 'fu
const char kWide[] =
    "channels_in\000dilation_height_factor\000dilation_width_factor\000fused_activation_function\000"
    "pad_values\000padding\000\004SAME\000stride_height\000stride_width\000\010\210}gR9/\042\025\010\000"
    "\000\000\000\000\000\000\001\000\000\000\000\000\000\000\010\000\000\000\000\000\000\000\000\000"
    "\000\000\000\001\000\000\001\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000\000\000"
    "\000\000\000\000\000\000\000\000\000\000\000\000\370\077i\000\000\000\000\000\000\000\001\000"
    "\000\000\000\000\000\000\001\000\000\000\000\000\000\000\007\007\007\007\017\024\007\007H'\001";
// nested: flexbuffers.Dumps({'a': [1, 2, 3], 'b': {'c': 'xy'}, 'd': -9223372036854775808, 'e': True, 'f': 0.25})
const char kNested[] =
    "a\000\003\001\002\003\004\004\004b\000c\000\002xy\000\001\007\001\001\001\010\024d\000e\000f\000"
    "\005\037\027\011\010\007\000\000\000\000\011\000\000\000\000\000\000\000\001\000\000\000\000\000"
    "\000\000\005\000\000\000\000\000\000\000=\000\000\000\000\000\000\0002\000\000\000\000\000\000\000"
    "\000\000\000\000\000\000\000\200\001\000\000\000\000\000\000\000\000\000\000\000\000\000"
    "\320\077($\007k\017-'\001";

struct Blob {
  const uint8_t* data;
  size_t size;
};
// The options are written as string literals (keys readable); their closing NUL is not part of them.
template <size_t N>
constexpr Blob Bytes(const char (&text)[N]) {
  return {reinterpret_cast<const uint8_t*>(text), N - 1};
}
const Blob kBlobs[] = {Bytes(kConv), Bytes(kPool), Bytes(kWide), Bytes(kNested)};
// Bytes that mean something to the reader: widths, type codes, offsets at the edges.
const uint8_t kInteresting[] = {0x00, 0x01, 0x02, 0x04, 0x08, 0x24, 0x25, 0x26, 0x27, 0x7f, 0x80, 0xfe, 0xff};

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  size_t Below(size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(rng_) : 0; }

  uint8_t Byte() { return Below(2) ? kInteresting[Below(sizeof kInteresting)] : uint8_t(Below(256)); }

  // One to eight edits of a valid blob: overwrite, cut, insert, or splice a part of another.
  std::vector<uint8_t> Mutant() {
    const Blob& blob = kBlobs[Below(sizeof kBlobs / sizeof kBlobs[0])];
    std::vector<uint8_t> data(blob.data, blob.data + blob.size);
    for (size_t edits = 1 + Below(8); edits > 0; --edits) {
      const size_t at = Below(data.size() + 1);
      switch (Below(5)) {
        case 0:
        case 1:
          if (!data.empty()) data[Below(data.size())] = Byte();
          break;
        case 2: data.resize(at); break;
        case 3: data.insert(data.begin() + at, Byte()); break;
        default: {
          const Blob& other = kBlobs[Below(sizeof kBlobs / sizeof kBlobs[0])];
          const size_t from = Below(other.size), count = Below(other.size - from + 1);
          data.insert(data.begin() + at, other.data + from, other.data + from + count);
        }
      }
    }
    return data;
  }

 private:
  std::mt19937 rng_;
};

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 100000;
  const uint32_t seed = argc > 2 ? uint32_t(std::atol(argv[2])) : 1;
  Mutator mutator(seed);
  long parsed = 0;
  for (long i = 0; i < iterations; ++i) {
    // Each input in its own allocation of exactly its size, so a read past it is caught.
    const std::vector<uint8_t> mutant = mutator.Mutant();
    std::unique_ptr<uint8_t[]> copy(mutant.empty() ? nullptr : new uint8_t[mutant.size()]);
    std::copy(mutant.begin(), mutant.end(), copy.get());
    std::string error;
    const std::optional<FlexMap> map = ParseFlexMap(copy.get(), mutant.size(), &error);
    if (!map) continue;
    ++parsed;
    for (const auto& [key, value] : *map) {
      if (value.kind == FlexValue::Kind::String && value.string_value.size() > mutant.size()) {
        std::fprintf(stderr, "iteration %ld: string longer than its buffer\n", i);
        return 1;
      }
    }
  }
  for (const Blob& blob : kBlobs) {
    std::string error;
    if (!ParseFlexMap(blob.data, blob.size, &error)) {
      std::fprintf(stderr, "a valid map did not parse: %s\n", error.c_str());
      return 1;
    }
  }
  std::printf("%ld mutants of seed %u: %ld parsed as maps, the rest refused\n", iterations, seed, parsed);
  return 0;
}
