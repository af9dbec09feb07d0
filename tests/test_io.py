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
