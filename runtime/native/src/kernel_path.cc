#include "kernel_path.h"

#include "kernels.h"

namespace bcn_lce {
namespace {

constexpr KernelPath kAll[] = {KernelPath::Avx512Vpopcnt, KernelPath::Avx2, KernelPath::Neon, KernelPath::Scalar};

}  // namespace

const char* PathName(KernelPath path) {
  switch (path) {
    case KernelPath::Scalar: return "scalar";
    case KernelPath::Avx2: return "avx2";
    case KernelPath::Avx512Vpopcnt: return "avx512-vpopcnt";
    case KernelPath::Neon: return "neon";
  }
  return "unknown";
}

bool PathSupported(KernelPath path) {
  switch (path) {
    case KernelPath::Scalar: return true;
#if defined(__x86_64__) || defined(_M_X64)
    case KernelPath::Avx2: return __builtin_cpu_supports("avx2");
    case KernelPath::Avx512Vpopcnt:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
#endif
#if defined(__aarch64__)
    case KernelPath::Neon: return true;
#endif
    default: return false;
  }
}

KernelPath BestPath() {
  for (KernelPath path : kAll)
    if (PathSupported(path)) return path;
  return KernelPath::Scalar;
}

std::string SupportedPaths() {
  std::string names;
  for (KernelPath path : kAll)
    if (PathSupported(path)) names += (names.empty() ? "" : ", ") + std::string(PathName(path));
  return names;
}

bool ChoosePath(const std::string& name, KernelPath* path, std::string* error) {
  if (name.empty() || name == "auto") {
    *path = BestPath();
    return true;
  }
  for (KernelPath candidate : kAll) {
    if (name != PathName(candidate)) continue;
    if (!PathSupported(candidate)) {
      *error = "kernel " + name + " cannot run on this CPU or build (available: " + SupportedPaths() + ")";
      return false;
    }
    *path = candidate;
    return true;
  }
  *error = "unknown kernel " + name + " (auto, scalar, avx2, avx512-vpopcnt, neon)";
  return false;
}

TileFunction TileFor(KernelPath path) {
  switch (path) {
#if defined(__x86_64__) || defined(_M_X64)
    case KernelPath::Avx2: return TileAvx2;
    case KernelPath::Avx512Vpopcnt: return TileAvx512;
#endif
#if defined(__aarch64__)
    case KernelPath::Neon: return TileNeon;
#endif
    default: return TileScalar;
  }
}

PackFunction PackFor(KernelPath path) {
  switch (path) {
#if defined(__x86_64__) || defined(_M_X64)
    case KernelPath::Avx2: return PackFloatAvx2;
    case KernelPath::Avx512Vpopcnt: return PackFloatAvx512;
#endif
#if defined(__aarch64__)
    case KernelPath::Neon: return PackFloatNeon;
#endif
    default: return PackFloat;
  }
}

}  // namespace bcn_lce
