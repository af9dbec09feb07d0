"""Small file systems for tests of outputs on a full or read-only disk: a 64 KiB tmpfs mounted in the test's
temp folder (needs root, or a kernel that lets this user mount; the test is skipped where it cannot)."""

import contextlib
import subprocess
from pathlib import Path

import pytest


def _mount(folder: Path, options: str) -> None:
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=64k,{options}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if done.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")


@contextlib.contextmanager
def small_disk(folder: Path, state: str):
    """`folder` as its own tmpfs, `state` "full" (a filler file took every block) or "read-only"."""
    _mount(folder, "ro" if state == "read-only" else "rw")
    try:
        if state == "full":
            with contextlib.suppress(OSError), open(folder / "filler", "wb") as filler:
                while True:
                    filler.write(b"\0" * 4096)
                    filler.flush()
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def hidden_files(folder: Path) -> list[str]:
    """Names of the hidden (temp) files left in `folder`."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))
