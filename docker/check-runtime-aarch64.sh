#!/usr/bin/env bash
# Run the Raspberry Pi runtime (bcn[runtime] on aarch64, Python 3.11) under QEMU user-mode
# emulation of a Cortex-A72 (or a Cortex-A76: BCN_QEMU_CPU), on an x86_64 Debian machine without
# Docker or a Pi.
#
#   apt-get install -y --no-install-recommends qemu-user-static debootstrap g++-aarch64-linux-gnu cmake
#   docker/check-runtime-aarch64.sh WORKDIR [BCN ARGS...]
#   docker/check-runtime-aarch64.sh ~/.cache/bcn-aarch64 detect q1.tflite --engine tflite --source images/
#   docker/check-runtime-aarch64.sh ~/.cache/bcn-aarch64 python SCRIPT [ARGS...]   # any script, same setup
#   docker/check-runtime-aarch64.sh ~/.cache/bcn-aarch64 python tests/lce_crafted.py --check tests/delegate_regressions.json
#
# WORKDIR keeps what the first run makes, so later runs start in seconds:
#   root/            Debian Bookworm arm64 with Python 3.11: `debootstrap --foreign` fetches the
#                    packages, `dpkg -x` unpacks them (nothing is configured or booted)
#   deps-HASH/       the runtime extra's dependencies as pip resolves them on aarch64 (pip itself
#                    runs under emulation), one folder per requirement list
#   delegate-build/  bcn's LCE delegate (runtime/native), cross-compiled by g++-aarch64-linux-gnu
# Every run copies this checkout's Python source in as the `bcn` package, laid out as the wheel
# lays it out (converters/ -> bcn/converters, runtime/ -> bcn/runtime), and installs the
# delegate library where the wheel puts it.
#
# Environment:
#   AI_EDGE_LITERT_VERSION  pin the ai-edge-litert wheel (replaces the runtime extra's
#                           requirement); unset: whatever pyproject.toml's runtime extra resolves to
#   BCN_DEBIAN_MIRROR       Debian mirror for the arm64 root; default: the first Debian source in
#                           this machine's apt configuration (/etc/apt/sources.list{,.d/})
#   BCN_BUILD_JOBS          parallel compile jobs for the delegate (default 2)
#   BCN_QEMU_CPU            the emulated CPU: cortex-a72 (default; a Raspberry Pi 4) or cortex-a76
#                           (a Raspberry Pi 5); /proc/cpuinfo shows the matching Pi's
#   BCN_QEMU_PLUGIN         a QEMU TCG plugin and its arguments, as `-plugin` takes them
#                           (e.g. benchmarks/qemu_plugin/count_insns.so,out=FILE): the emulated
#                           process then runs under Debian's dynamic qemu-aarch64 (package
#                           qemu-user), since qemu-aarch64-static cannot load plugins
# BCN_LCE_DELEGATE is not passed on: what runs is the delegate installed in the package.
#
# QEMU shows the host's x86 /proc/cpuinfo, on which ai-edge-litert 2.2+ crash in cpuinfo's ARM
# initialisation; the emulated process therefore runs in its own mount namespace with the
# /proc/cpuinfo of a Raspberry Pi 4 (Cortex-A72; a Pi 5 with BCN_QEMU_CPU=cortex-a76)
# bind-mounted over the host's.
# Timings under emulation mean nothing: this checks that the runtime installs and runs on
# aarch64 and gives the same results. Needs root (debootstrap, mount namespace), a python3 with
# pip on the host, PyPI and a Debian mirror on the first run.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export PATH="$PATH:/usr/sbin:/sbin"  # debootstrap, for a root shell without sbin on its PATH

die() { echo "check-runtime-aarch64: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: $0 WORKDIR [BCN ARGS...] | WORKDIR python SCRIPT [ARGS...]"
work=$(realpath -m "$1")
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
root="$work/root"
log="$work/setup.log"
jobs="${BCN_BUILD_JOBS:-2}"
cpu="${BCN_QEMU_CPU:-cortex-a72}"
case "$cpu" in
    cortex-a72) cpuinfo="$work/cpuinfo" ;;
    cortex-a76) cpuinfo="$work/cpuinfo-$cpu" ;;
    *) die "BCN_QEMU_CPU=$cpu: choose cortex-a72 (Raspberry Pi 4) or cortex-a76 (Raspberry Pi 5)" ;;
esac
qemu=(qemu-aarch64-static)
if [ -n "${BCN_QEMU_PLUGIN:-}" ]; then
    command -v qemu-aarch64 >/dev/null || die "BCN_QEMU_PLUGIN needs the dynamic qemu-aarch64: apt-get install -y --no-install-recommends qemu-user"
    [ -f "${BCN_QEMU_PLUGIN%%,*}" ] || die "BCN_QEMU_PLUGIN=$BCN_QEMU_PLUGIN: no such plugin file ${BCN_QEMU_PLUGIN%%,*}"
    qemu=(qemu-aarch64 -plugin "$BCN_QEMU_PLUGIN")
fi

missing=()
for tool in qemu-aarch64-static:qemu-user-static debootstrap:debootstrap aarch64-linux-gnu-g++:g++-aarch64-linux-gnu \
            cmake:cmake unshare:util-linux; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
[ ${#missing[@]} -eq 0 ] || die "missing tools; install them with: apt-get install -y --no-install-recommends ${missing[*]}"
[ "$(id -u)" = 0 ] || die "needs root (debootstrap and a private mount for /proc/cpuinfo)"
python3 -m pip --version >/dev/null 2>&1 || die "needs a python3 with pip on the host (pip is copied into the arm64 root)"

mkdir -p "$work"
# A step's output goes to the log; on failure its end is shown.
logged() {
    "$@" >>"$log" 2>&1 || { echo "check-runtime-aarch64: failed: $*" >&2; tail -n 40 "$log" >&2; exit 1; }
}

debian_mirror() {
    # The first enabled `deb` source that serves a Debian release itself (not -security or
    # -updates); a source listing bookworm wins. One-line (.list) and deb822 (.sources) formats.
    python3 - /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources <<'PY'
import re, sys
from pathlib import Path

release = re.compile(r"(buster|bullseye|bookworm|trixie|forky|sid|oldstable|stable|testing|unstable)$")
sources = []  # (uri, suites)
for name in sys.argv[1:]:
    path = Path(name)
    if not path.is_file():
        continue
    text = path.read_text(errors="replace")
    if path.suffix == ".sources":
        for stanza in re.split(r"\n\s*\n", text):
            fields, key = {}, None
            for line in stanza.splitlines():
                if line.startswith("#"):
                    continue
                if line[:1] in " \t" and key:
                    fields[key] += " " + line.strip()
                elif ":" in line:
                    key, value = line.split(":", 1)
                    key = key.strip().lower()
                    fields[key] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                sources += [(uri, fields.get("suites", "").split()) for uri in fields.get("uris", "").split()]
    else:
        for line in text.splitlines():
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                sources.append((words[1], [words[2]]))
usable = [(uri, suites) for uri, suites in sources
          if re.match(r"(https?|ftp)://|file:/", uri) and any(release.match(suite) for suite in suites)]
usable.sort(key=lambda source: "bookworm" not in source[1])
if usable:
    print(usable[0][0].rstrip("/"))
PY
}

cpuinfo_file() {
    # What a Raspberry Pi 4's 64-bit kernel prints, one Cortex-A72 (r0p3) per host CPU; for
    # cortex-a76, what a Raspberry Pi 5's prints, one Cortex-A76 (r4p1) per host CPU.
    local cpus i
    cpus=$(grep -c '^processor' /proc/cpuinfo || true)
    [ "${cpus:-0}" -gt 0 ] || cpus=1
    if [ "$1" = cortex-a76 ]; then
        for ((i = 0; i < cpus; i++)); do
            printf 'processor\t: %d\nBogoMIPS\t: 108.00\n' "$i"
            printf 'Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n'
            printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n'
        done
        printf 'Revision\t: d04170\nSerial\t\t: 10000000b1c2d3e4\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n'
        return
    fi
    for ((i = 0; i < cpus; i++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
        printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    done
    printf 'Hardware\t: BCM2835\nRevision\t: c03111\nSerial\t\t: 10000000b1c2d3e4\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n'
}

# Runs the arm64 Python 3.11 with the given arguments (PYTHONPATH from the caller).
emulate() {
    # -s and the empty dist-packages folders below keep the host's x86 packages out of sys.path:
    # QEMU resolves absolute paths inside root/ first and falls back to the host's.
    # BCN_LCE_DELEGATE would name a library of this machine: the check is of the one installed.
    env -u PYTHONHOME -u PYTHONSTARTUP -u BCN_LCE_DELEGATE PYTHONNOUSERSITE=1 \
        unshare --mount --propagation private -- \
        sh -c 'mount --bind "$0" /proc/cpuinfo && exec "$@"' "$cpuinfo" \
        "${qemu[@]}" -cpu "$cpu" -L "$root" "$root/usr/bin/python3.11" -s "$@"
}

# Everything below that writes to WORKDIR holds its lock, so parallel runs share one setup.
exec 9>"$work/.lock"
flock 9
: >"$log"

# 1. The arm64 root, from scratch when it is missing or unfinished.
if [ ! -f "$root/.complete" ]; then
    mirror="${BCN_DEBIAN_MIRROR:-$(debian_mirror)}"
    [ -n "$mirror" ] || die "no Debian source in /etc/apt/sources.list{,.d/}: set BCN_DEBIAN_MIRROR (e.g. http://deb.debian.org/debian)"
    echo "check-runtime-aarch64: making the arm64 root from $mirror (log: $log)" >&2
    rm -rf "$root"
    logged debootstrap --foreign --arch=arm64 --variant=minbase --include=python3.11 bookworm "$root" "$mirror"
    for deb in "$root"/var/cache/apt/archives/*.deb; do logged dpkg -x "$deb" "$root"; done
    rm -f "$root"/var/cache/apt/archives/*.deb
    mkdir -p "$root/usr/local/lib/python3.11/dist-packages" "$root/usr/lib/python3/dist-packages" \
             "$root/usr/lib/python3.11/dist-packages"
    touch "$root/.complete"
fi
cpuinfo_file "$cpu" >"$cpuinfo"

# 2. pip for the emulated Python: the host's, which is pure Python.
if [ ! -f "$work/pip/pip/__init__.py" ]; then
    rm -rf "$work/pip"
    python3 -c "import pip, shutil, os, sys; shutil.copytree(os.path.dirname(pip.__file__), sys.argv[1] + '/pip')" "$work/pip"
fi

# 3. The runtime extra's dependencies, resolved by pip on aarch64. The requirement list is read
#    from pyproject.toml (on the host), so the package itself is never built (pip would compile
#    its native part for x86_64); pip then evaluates the environment markers on aarch64.
requirements=$(python3 - "$repo/pyproject.toml" "${AI_EDGE_LITERT_VERSION:-}" <<'PY'
import sys
try:
    import tomllib
except ImportError:  # Python < 3.11
    from pip._vendor import tomli as tomllib
from pip._vendor.packaging.requirements import Requirement

project = tomllib.load(open(sys.argv[1], "rb"))["project"]
name, litert = project["name"], sys.argv[2]

def expand(requirements):
    for text in requirements:
        requirement = Requirement(text)
        if requirement.name == name:  # bcn[extra] inside an extra
            for extra in requirement.extras:
                yield from expand(project["optional-dependencies"][extra])
        elif not (litert and requirement.name == "ai-edge-litert"):
            yield text

wanted = list(expand(project["dependencies"] + ["%s[runtime]" % name]))
if litert:
    wanted.append("ai-edge-litert==" + litert)
print("\n".join(dict.fromkeys(wanted)))
PY
)
deps="$work/deps-$(printf '%s\n' "$requirements" | sha256sum | cut -c1-12)"
if [ ! -d "$deps" ]; then
    echo "check-runtime-aarch64: pip on aarch64 installs ${requirements//$'\n'/, } (log: $log)" >&2
    rm -rf "$deps.partial"
    mapfile -t requirement_args <<<"$requirements"
    PIP_CACHE_DIR="$work/pip-cache" PYTHONPATH="$work/pip" logged emulate -m pip install --only-binary=:all: \
        --target "$deps.partial" "${requirement_args[@]}"
    mv "$deps.partial" "$deps"
fi

# 4. The delegate library for aarch64, from the CMake project pip builds (incremental after the
#    first build; from scratch when the cached build belongs to another checkout).
build="$work/delegate-build"
source_dir="$repo"
[ -f "$source_dir/CMakeLists.txt" ] || source_dir="$repo/runtime/native"
if ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$source_dir" "$build/CMakeCache.txt" 2>/dev/null; then rm -rf "$build"; fi
configure=(cmake -S "$source_dir" -B "$build" -DCMAKE_BUILD_TYPE=Release
           -DCMAKE_TOOLCHAIN_FILE="$repo/runtime/native/cmake/aarch64-linux-gnu.cmake")
if [ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null; then configure+=(-G Ninja); fi
logged "${configure[@]}"
logged cmake --build "$build" --parallel "$jobs"
flock -u 9

# 5. This checkout as the installed package, with the delegate where the wheel puts it.
run=$(mktemp -d "$work/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
cp -r "$repo/bcn" "$run/bcn"
cp -r "$repo/converters" "$run/bcn/converters"
cp -r "$repo/runtime" "$run/bcn/runtime"
rm -rf "$run/bcn/runtime/native"
find "$run" -name __pycache__ -prune -exec rm -rf {} +
logged cmake --install "$build" --prefix "$run"

export PYTHONPATH="$run:$deps" PYTHONDONTWRITEBYTECODE=1
if [ "${1:-}" = python ]; then
    shift
    emulate "$@"
else
    # -P: the current folder stays off sys.path, where a checkout's bcn/ would shadow the package.
    emulate -P -c "import sys, platform
from importlib import metadata
try:
    litert = 'ai-edge-litert ' + metadata.version('ai-edge-litert')
except metadata.PackageNotFoundError:
    litert = 'no ai-edge-litert'
print('bcn on', platform.machine(), 'Python', platform.python_version() + ',', litert, file=sys.stderr)
sys.argv[0] = 'bcn'
from bcn.cli import main
main()" "$@"
fi
