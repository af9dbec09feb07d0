#!/usr/bin/env bash
# Run the Raspberry Pi runtime (bcn[runtime] on aarch64, Python 3.11) under QEMU user-mode
# emulation of a Cortex-A72, on a Debian/Ubuntu x86_64 machine without Docker or a Pi.
#
#   sudo apt-get install -y qemu-user debootstrap     # once
#   docker/check-runtime-aarch64.sh WORKDIR [BCN ARGS...]
#   docker/check-runtime-aarch64.sh /tmp/a64 detect q1_int8.tflite --source images/ --json-out dets.jsonl
#
# WORKDIR gets a Debian Bookworm arm64 root with Python 3.11 (extracted, not booted) and the
# aarch64 wheels of the runtime extra as pip resolves them on aarch64 (larq-compute-engine
# is left out by its environment marker). Set AI_EDGE_LITERT_VERSION to choose that wheel
# (default 2.1.6, as in runtime-aarch64.Dockerfile). Timings under emulation mean nothing;
# this checks that the runtime installs and runs on aarch64 and gives the same detections.
# Needs root (debootstrap), a python3 with pip on the host, PyPI and a Debian mirror.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

work=$(realpath -m "${1:?usage: $0 WORKDIR [BCN ARGS...]}")
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
root="$work/root"
site="$work/site-packages"
litert="${AI_EDGE_LITERT_VERSION:-2.1.6}"
emulate=(qemu-aarch64 -cpu cortex-a72 -L "$root" "$root/usr/bin/python3.11")

if [ ! -x "$root/usr/bin/python3.11" ]; then
    debootstrap --foreign --arch=arm64 --variant=minbase --include=python3.11 bookworm "$root" \
        http://deb.debian.org/debian
    for deb in "$root"/var/cache/apt/archives/*.deb; do dpkg -x "$deb" "$root"; done
fi

if [ ! -d "$site/bcn" ]; then
    # The package as a wheel (pure Python), then pip itself run on aarch64 to resolve the extra.
    build="$work/build"
    rm -rf "$build" && mkdir -p "$build/src" "$work/pip"
    cp -r "$repo/pyproject.toml" "$repo/bcn" "$repo/converters" "$repo/runtime" "$build/src/"
    cp "$repo/README.md" "$build/src/" 2>/dev/null || echo "# bcn" > "$build/src/README.md"
    python3 -m pip wheel --quiet --no-deps "$build/src" -w "$build/wheels"
    python3 -c "import pip, shutil, os, sys; shutil.copytree(os.path.dirname(pip.__file__), sys.argv[1] + '/pip', dirs_exist_ok=True)" "$work/pip"
    PYTHONPATH="$work/pip" "${emulate[@]}" -m pip install --quiet --only-binary=:all: --target "$site" \
        "$(ls "$build"/wheels/bcn-*.whl)[runtime]" "ai-edge-litert==$litert"
fi

PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 exec "${emulate[@]}" -c \
    "import platform, sys; print('bcn on', platform.machine(), platform.python_version(), file=sys.stderr); \
sys.argv[0] = 'bcn'; from bcn.cli import main; main()" "$@"
