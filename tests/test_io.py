"""Atomic output: all or nothing, with a normal file mode."""

import os

import pytest

from bcn.errors import BcnError
from bcn.io import atomic_output


def test_written_file_appears_with_the_umask_mode(tmp_path):
    target = tmp_path / "out.json"
    with atomic_output(target) as tmp:
        open(tmp, "w").write("{}")
        assert not target.exists()
    assert target.read_text() == "{}"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "out.bin") as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(BcnError, match="does not exist"):
        with atomic_output(tmp_path / "nope" / "out.bin"):
            pass


def test_leftovers_of_a_dead_process_are_removed_and_a_live_ones_kept(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.json.{dead.pid}.abc123.json"
    running = tmp_path / f".out.json.{os.getppid()}.def456.json"  # another writer still at work
    other = tmp_path / f".out.json.meta.{dead.pid}.json"  # the temp file of out.json.meta, not of out.json
    for path in (stale, running, other):
        path.write_text("half")
    with atomic_output(tmp_path / "out.json") as tmp:
        open(tmp, "w").write("{}")
    assert sorted(os.listdir(tmp_path)) == sorted([running.name, other.name, "out.json"])
