# syntax=docker/dockerfile:1
#
# bcn runtime image for a Raspberry Pi 4/5 on a 64-bit OS (linux/arm64): `bcn detect`,
# `bcn bench` and `bcn eval` on converted .tflite files, no TensorFlow.
#
# Every model runs in process in LiteRT (ai-edge-litert): float32 and int8 on its built-in
# ops, binary (LCE) models through bcn's LCE delegate, which pip compiles from
# runtime/native when it builds the bcn wheel. That needs a C++17 compiler and CMake, so the
# wheels are built in a `wheels` stage and the final image installs them without either.
#
# Build on an x86_64 workstation (QEMU emulation through buildx) or natively on the Pi,
# from the repository root (docker/runtime-aarch64.Dockerfile.dockerignore applies):
#   docker buildx build --platform linux/arm64 -f docker/runtime-aarch64.Dockerfile \
#       -t bcn-runtime:arm64 --load .
#
# LCE's own benchmark binary, `lce_benchmark_model`, is an optional cross-check of the
# delegate's binary-model latency (`bcn bench --lce-benchmark-binary`); it goes to
# /usr/local/bin, from LCE's GitHub release by default (LCE_BENCHMARK=release). To compile
# it from source instead, following LCE's CMake build guide, add
#   --build-arg LCE_BENCHMARK=source
# (a native TensorFlow Lite + LCE build: long on a Pi, far longer under emulation).
#
# Run on the Pi (models mounted read-only at /models, outputs written to /out):
#   docker run --rm -v "$PWD/models:/models:ro" bcn-runtime:arm64 \
#       bench /models/q1.tflite /models/q1_float32.tflite /models/q1_int8.tflite --threads 1,4
#   docker run --rm --device /dev/video0 --group-add video \
#       -v "$PWD/models:/models:ro" -v "$PWD/out:/out" bcn-runtime:arm64 \
#       detect /models/q1.tflite --source 0 --out /out --duration 60
#
# Not built in this repository's CI (no Docker engine there); hadolint checks it
# (tests/test_docker_lint.py).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG LCE_VERSION=0.16.0
ARG LCE_BENCHMARK=release
# The ai-edge-litert release the image pins (at least 1.2, the runtime extra's floor).
ARG AI_EDGE_LITERT_VERSION=2.3.0

# Compilers for the stages that build native code; none of this reaches the final image.
FROM ${PYTHON_IMAGE} AS build-tools
# Not pinned: throw-away build stages, and bookworm's security updates replace pinned
# versions on the mirrors (g++ 12.2, cmake 3.25.1, git 2.39 at the time of writing).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# bcn's wheel, with the LCE delegate compiled into it (scikit-build-core runs CMake on
# CMakeLists.txt and runtime/native), and the wheels of the runtime extra's dependencies:
# the final stage installs from this folder alone.
FROM build-tools AS wheels
ARG AI_EDGE_LITERT_VERSION
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN --mount=type=bind,source=.,target=/src,rw \
    python3 -m pip wheel --no-cache-dir --wheel-dir /wheels \
        '/src[runtime]' "ai-edge-litert==${AI_EDGE_LITERT_VERSION}"

# lce_benchmark_model as released: the asset LCE's release workflow uploads for AArch64.
FROM scratch AS lce-benchmark-release
ARG LCE_VERSION
ADD --chmod=755 \
    https://github.com/larq/compute-engine/releases/download/v${LCE_VERSION}/lce_benchmark_model_aarch64 \
    /lce_benchmark_model

# lce_benchmark_model built from source with CMake, natively for the target platform,
# as in LCE's "Build LCE for ARM" guide (cmake -S . -B build; cmake --build build).
FROM build-tools AS lce-benchmark-source
ARG LCE_VERSION
RUN git clone --depth 1 --branch "v${LCE_VERSION}" --recurse-submodules --shallow-submodules \
        https://github.com/larq/compute-engine.git /lce \
    && cmake -S /lce -B /lce/build -DCMAKE_BUILD_TYPE=Release -DCOMPILE_EXAMPLE=OFF \
    && cmake --build /lce/build --target lce_benchmark_model -j "$(nproc)" \
    && install -m 755 /lce/build/lce_benchmark_model /lce_benchmark_model \
    && rm -rf /lce

# The stage chosen by LCE_BENCHMARK (BuildKit builds only the stages the image needs).
# hadolint ignore=DL3006
FROM lce-benchmark-${LCE_BENCHMARK} AS lce-benchmark

FROM ${PYTHON_IMAGE}
ARG AI_EDGE_LITERT_VERSION

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# bcn and the runtime extra (numpy, OpenCV headless, flatbuffers, psutil, ai-edge-litert)
# from the wheels stage, mounted for this step only: no compiler, no wheel files and no pip
# cache remain. --no-index: nothing is fetched from PyPI here, so what runs is what was built.
# The last check loads the delegate library, so an image whose delegate cannot load fails here.
# DL3013 (pin versions): /wheels holds one bcn, the one just built from this checkout.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    python3 -m pip install --no-cache-dir --no-index --find-links /wheels \
        'bcn[runtime]' "ai-edge-litert==${AI_EDGE_LITERT_VERSION}" \
    && bcn --version \
    && python3 -c "from bcn.runtime.delegate import delegate_version; print(delegate_version())"

COPY --from=lce-benchmark /lce_benchmark_model /usr/local/bin/lce_benchmark_model

# A non-root user; `video` lets it open cameras passed in with --device.
RUN useradd --create-home --uid 1000 --groups video --shell /bin/bash bcn \
    && mkdir -p /models /out \
    && chown bcn:bcn /out

USER 1000:1000
WORKDIR /out
VOLUME ["/models", "/out"]

ENTRYPOINT ["bcn"]
CMD ["--help"]
