// Which implementation of the inner loops runs: the best this CPU has, or the one forced by
// the delegate's `kernel` option or the BCN_LCE_KERNEL environment variable (for comparison
// and tests). One build runs on any CPU of its architecture.
//
// kKernelPaths is the one table of instruction sets: adding one is a tile_<isa>.cc and a row.
#ifndef BCN_LCE_KERNEL_PATH_H_
#define BCN_LCE_KERNEL_PATH_H_

#include <string>

#include "tile.h"

namespace bcn_lce {

enum class KernelPath { Scalar, Avx2, Avx512Vpopcnt, Neon };

// One instruction set: its name, whether this CPU runs it (null where this build lacks it),
// its tile and pack functions (null where this build lacks it: the scalar one runs) and the
// pixels its tile takes at once (at most kTilePixels; as many as its registers hold).
struct KernelPathRow {
  KernelPath path;
  const char* name;
  bool (*cpu_has)();
  TileFunction tile;
  int tile_pixels;
  PackFunction pack;
  PackInt8Function pack_int8;
};

constexpr int kPathCount = 4;
// Every path, fastest first; the scalar reference, which every other is tested against, last.
extern const KernelPathRow kKernelPaths[kPathCount];

const char* PathName(KernelPath path);
// Whether this build and this CPU can run `path`.
bool PathSupported(KernelPath path);
// The fastest supported path.
KernelPath BestPath();
// `name` ("" or "auto": BestPath(), else a PathName), or false with `error` set when the name
// is unknown or the path cannot run here.
bool ChoosePath(const std::string& name, KernelPath* path, std::string* error);
// Every path this build and CPU can run, comma-separated.
std::string SupportedPaths();
// Every path of the table, supported or not, comma-separated, fastest first.
std::string AllPaths();

TileFunction TileFor(KernelPath path);
int TilePixelsFor(KernelPath path);
PackFunction PackFor(KernelPath path);
PackInt8Function PackInt8For(KernelPath path);

}  // namespace bcn_lce

#endif  // BCN_LCE_KERNEL_PATH_H_
