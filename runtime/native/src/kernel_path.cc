#include "kernel_path.h"

#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define BCN_X86(function) function
#else
#define BCN_X86(function) nullptr
#endif
#if defined(__aarch64__)
#define BCN_ARM64(function) function
#else
#define BCN_ARM64(function) nullptr
#endif

namespace bcn_lce {
namespace {

[[maybe_unused]] bool Always() { return true; }

#if defined(__x86_64__) || defined(_M_X64)
bool CpuHasAvx2() { return __builtin_cpu_supports("avx2"); }
bool CpuHasAvx512Vpopcnt() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq"); }
#endif

const KernelPathRow& Row(KernelPath path) {
  for (const KernelPathRow& row : kKernelPaths)
    if (row.path == path) return row;
  return kKernelPaths[kPathCount - 1];
}

std::string Names(bool supported_only) {
  std::string names;
  for (const KernelPathRow& row : kKernelPaths)
    if (!supported_only || PathSupported(row.path)) names += (names.empty() ? "" : ", ") + std::string(row.name);
  return names;
}

}  // namespace

const KernelPathRow kKernelPaths[kPathCount] = {
    // Every AVX-512 CPU has AVX2: its int8 bitpacking is AVX2's.
    {KernelPath::Avx512Vpopcnt, "avx512-vpopcnt", BCN_X86(CpuHasAvx512Vpopcnt), BCN_X86(TileAvx512), 8,
     BCN_X86(PackFloatAvx512), BCN_X86(PackInt8Avx2)},
    {KernelPath::Avx2, "avx2", BCN_X86(CpuHasAvx2), BCN_X86(TileAvx2), 4, BCN_X86(PackFloatAvx2),
     BCN_X86(PackInt8Avx2)},
    {KernelPath::Neon, "neon", BCN_ARM64(Always), BCN_ARM64(TileNeon), 4, BCN_ARM64(PackFloatNeon), nullptr},
    {KernelPath::Scalar, "scalar", Always, TileScalar, 4, PackFloat, PackInt8},
};

const char* PathName(KernelPath path) { return Row(path).name; }

bool PathSupported(KernelPath path) {
  const KernelPathRow& row = Row(path);
  return row.cpu_has && row.cpu_has();
}

KernelPath BestPath() {
  for (const KernelPathRow& row : kKernelPaths)
    if (PathSupported(row.path)) return row.path;
  return KernelPath::Scalar;
}

std::string SupportedPaths() { return Names(true); }

std::string AllPaths() { return Names(false); }

bool ChoosePath(const std::string& name, KernelPath* path, std::string* error) {
  if (name.empty() || name == "auto") {
    *path = BestPath();
    return true;
  }
  for (const KernelPathRow& row : kKernelPaths) {
    if (name != row.name) continue;
    if (!PathSupported(row.path)) {
      *error = "kernel " + name + " cannot run on this CPU or build (available: " + SupportedPaths() + ")";
      return false;
    }
    *path = row.path;
    return true;
  }
  *error = "unknown kernel " + name + " (auto, " + AllPaths() + ")";
  return false;
}

TileFunction TileFor(KernelPath path) {
  const TileFunction tile = Row(path).tile;
  return tile ? tile : TileScalar;
}

int TilePixelsFor(KernelPath path) {
  return Row(path).tile ? Row(path).tile_pixels : Row(KernelPath::Scalar).tile_pixels;
}

PackFunction PackFor(KernelPath path) {
  const PackFunction pack = Row(path).pack;
  return pack ? pack : PackFloat;
}

PackInt8Function PackInt8For(KernelPath path) {
  const PackInt8Function pack = Row(path).pack_int8;
  return pack ? pack : PackInt8;
}

}  // namespace bcn_lce
