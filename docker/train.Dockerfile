# syntax=docker/dockerfile:1
#
# bcn training image: design, train, evaluate and convert on NVIDIA GPUs.
# TensorFlow 2.16.2 with CUDA comes from TensorFlow's own image; bcn adds tf-keras, larq,
# larq-zoo and the LCE converter (the `convert` extra, which includes `train`). bcn's wheel,
# with its LCE delegate compiled from runtime/native (C++17, CMake), is built in a `wheel`
# stage; the final image installs it and holds no compiler.
#
# Build from the repository root (BuildKit; docker/train.Dockerfile.dockerignore applies):
#   docker build -f docker/train.Dockerfile -t bcn-train .
#
# Run (needs the NVIDIA Container Toolkit on the host). Data is mounted read-only at /data,
# runs are written to /runs (the working directory), as the non-root user `bcn` (uid 1000):
#   docker run --rm --gpus all --shm-size 1g \
#       -v "$PWD/VOCdevkit:/data:ro" -v "$PWD/runs:/runs" bcn-train \
#       train --arch q1 --data /data/VOC2007 --data /data/VOC2012 --out /runs/q1
#
# Several GPUs: `--gpus all` (or `--gpus '"device=0,1"'`) is all it takes. When TensorFlow
# sees more than one GPU, `bcn train` trains under tf.distribute.MirroredStrategy, and
# --batch-size is the global batch split over the GPUs (the paper's 32 on 2 GPUs = 16 each).
# Several machines: set TF_CONFIG in each container (-e TF_CONFIG=...) and `bcn train`
# uses MultiWorkerMirroredStrategy; /runs must be storage every machine sees
# (docs/multi-worker.md).
#
# Afterwards, convert for the device (LCE flatbuffer plus float32/int8 baselines):
#   docker run --rm -v "$PWD/VOCdevkit:/data:ro" -v "$PWD/runs:/runs" bcn-train \
#       convert /runs/q1/best.h5 -o /runs/q1/q1.tflite --baselines float32,int8 \
#       --float-model /runs/q1e/best.h5 --data /data/VOC2007
# which writes q1.tflite (LCE), q1_float32.tflite, q1_int8.tflite and q1_report.json.
#
# Not built in this repository's CI (no Docker engine there); hadolint checks it
# (tests/test_docker_lint.py).

ARG TF_IMAGE=tensorflow/tensorflow:2.16.2-gpu

# bcn's wheel alone (no dependencies), built from a bind mount of the build context:
# scikit-build-core runs CMake on CMakeLists.txt and runtime/native with Ubuntu's g++. Where
# Ubuntu's cmake is older than the CMakeLists' minimum (3.18), pip fetches one from PyPI.
FROM ${TF_IMAGE} AS wheel
# Not pinned: a throw-away build stage, and Ubuntu's updates replace pinned versions on the
# mirrors; any C++17 g++ does.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ make cmake \
    && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,source=.,target=/src,rw \
    python3 -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src

FROM ${TF_IMAGE}

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The wheel is installed from a bind mount of the wheel stage, with the convert extra from
# PyPI: no source layer, no wheel file and no pip cache stay in the image. TensorFlow 2.16.2
# is already there and satisfies the pin. `set --` names the one wheel the stage built.
# DL3013 (pin versions): what is installed is that wheel file, built from this checkout.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    set -- /wheels/bcn-*.whl \
    && python3 -m pip install --no-cache-dir "${1}[convert]" \
    && bcn --version \
    && python3 -c "from bcn.runtime.delegate import delegate_version; print(delegate_version())"

# A non-root user owning the two mount points.
RUN useradd --create-home --uid 1000 --shell /bin/bash bcn \
    && mkdir -p /data /runs \
    && chown bcn:bcn /data /runs

USER 1000:1000
WORKDIR /runs
VOLUME ["/data", "/runs"]

ENTRYPOINT ["bcn"]
CMD ["--help"]
