# syntax=docker/dockerfile:1
#
# bcn runtime image for a Raspberry Pi 4/5 on a 64-bit OS (linux/arm64): `bcn detect` and
# `bcn bench` on converted .tflite files, no TensorFlow.
#
# What runs what (LCE publishes no Python wheel for aarch64 Linux):
#   - float32 / int8 baselines: in process, through ai-edge-litert (the `runtime` extra; its
#     environment marker skips larq-compute-engine on aarch64).
#   - binary (LCE) models: benchmarked with LCE's `lce_benchmark_model` aarch64 binary,
#     which `bcn bench` finds on PATH. In-process `bcn detect` of binary models needs LCE's
#     Python interpreter, which this image does not have: see docs/raspberry-pi.md.
#
# Build on an x86_64 workstation (QEMU emulation through buildx) or natively on the Pi,
# from the repository root:
#   docker buildx build --platform linux/arm64 -f docker/runtime-aarch64.Dockerfile \
#       -t bcn-runtime:arm64 --load .
# lce_benchmark_model comes from LCE's GitHub release by default (LCE_BENCHMARK=release).
# To compile it from source instead, following LCE's CMake build guide, add
#   --build-arg LCE_BENCHMARK=source
# (a native TensorFlow Lite + LCE build: long on a Pi, far longer under emulation).
#
# Run on the Pi (models mounted read-only at /models, outputs written to /out):
#   docker run --rm -v "$PWD/models:/models:ro" bcn-runtime:arm64 \
#       bench /models/q1.tflite /models/q1_float32.tflite /models/q1_int8.tflite --threads 1,4
#   docker run --rm --device /dev/video0 --group-add video \
#       -v "$PWD/models:/models:ro" -v "$PWD/out:/out" bcn-runtime:arm64 \
#       detect /models/q1_int8.tflite --source 0 --out /out --duration 60
#
# Not built in this repository's CI (no Docker engine there); hadolint checks it
# (tests/test_docker_lint.py).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG LCE_VERSION=0.16.0
ARG LCE_BENCHMARK=release

# lce_benchmark_model as released: the asset LCE's release workflow uploads for AArch64.
FROM scratch AS lce-benchmark-release
ARG LCE_VERSION
ADD --chmod=755 \
    https://github.com/larq/compute-engine/releases/download/v${LCE_VERSION}/lce_benchmark_model_aarch64 \
    /lce_benchmark_model

# lce_benchmark_model built from source with CMake, natively for the target platform,
# as in LCE's "Build LCE for ARM" guide (cmake -S . -B build; cmake --build build).
FROM ${PYTHON_IMAGE} AS lce-benchmark-source
ARG LCE_VERSION
# Not pinned: a throw-away build stage, and bookworm's security updates replace pinned
# versions on the mirrors (cmake 3.25.1, build-essential 12.9, git 2.39 at the time of writing).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
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

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The package and its runtime extra (numpy, OpenCV headless, flatbuffers, ai-edge-litert),
# installed from a bind mount of the build context: no source layer or pip cache remains.
# ai-edge-litert is pinned to the newest release seen running our float32/int8 models on an
# emulated Cortex-A72 (QEMU 7.2): 2.2.0 and 2.3.0 crashed there at the first inference. Real
# Pi hardware was not tried; --build-arg AI_EDGE_LITERT_VERSION=2.3.0 to take the newest.
ARG AI_EDGE_LITERT_VERSION=2.1.6
RUN --mount=type=bind,source=.,target=/src,rw \
    python3 -m pip install --no-cache-dir '/src[runtime]' "ai-edge-litert==${AI_EDGE_LITERT_VERSION}" \
    && bcn --version

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
