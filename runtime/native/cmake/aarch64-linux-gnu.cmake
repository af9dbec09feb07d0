# Cross-compile for 64-bit ARM Linux (Raspberry Pi 4/5 with a 64-bit OS) on an x86_64 Debian
# or Ubuntu machine with the distribution's cross compiler:
#   apt-get install g++-aarch64-linux-gnu
#   cmake -S runtime/native -B build-aarch64 -G Ninja \
#         -DCMAKE_TOOLCHAIN_FILE=runtime/native/cmake/aarch64-linux-gnu.cmake
# Set BCN_CROSS_PREFIX for another triplet's tools (default aarch64-linux-gnu-).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

if(DEFINED ENV{BCN_CROSS_PREFIX})
  set(BCN_CROSS_PREFIX "$ENV{BCN_CROSS_PREFIX}")
else()
  set(BCN_CROSS_PREFIX aarch64-linux-gnu-)
endif()
set(CMAKE_C_COMPILER ${BCN_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${BCN_CROSS_PREFIX}g++)

# Headers and libraries come from the cross toolchain's sysroot, programs from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
