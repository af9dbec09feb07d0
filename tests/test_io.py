"""Atomic output: all or nothing, with a normal file mode; JSON files read or refused in one line."""

import os

import pytest

from bcn.errors import BcnError
from bcn.io import atomic_output, read_json, write_json


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


def test_several_outputs_appear_together_or_not_at_all(tmp_path):
    from bcn.io import atomic_outputs

    with pytest.raises(RuntimeError):
        with atomic_outputs({"a": tmp_path / "a.json", "b": tmp_path / "b.json"}) as temps:
            open(temps["a"], "w").write("{}")
            raise RuntimeError("crash before b")
    assert list(tmp_path.iterdir()) == []
    with atomic_outputs({"a": tmp_path / "a.json", "b": tmp_path / "b.json"}) as temps:
        for tmp in temps.values():
            open(tmp, "w").write("{}")
        assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json"]


def test_a_missing_folder_for_one_output_writes_none(tmp_path):
    from bcn.io import atomic_outputs

    with pytest.raises(BcnError, match="does not exist"):
        with atomic_outputs({"a": tmp_path / "a.json", "b": tmp_path / "nope" / "b.json"}):
            pytest.fail("the block must not run")
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_is_refused_not_renamed_over(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(BcnError, match=f"^{fifo}: is a FIFO, not a regular file"):
        with atomic_output(fifo):
            pytest.fail("the block must not run")
    link = tmp_path / "link.json"
    link.symlink_to(fifo)
    with pytest.raises(BcnError, match="via the link .*link.json.: is a FIFO"):
        write_json(link, {})
    assert fifo.is_fifo() and link.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["link.json", "pipe"]


def test_a_symlink_stays_and_its_target_is_replaced(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_json(link, {"new": 1})
    assert link.is_symlink() and read_json(link) == {"new": 1} and read_json(target) == {"new": 1}
    assert sorted(os.listdir(tmp_path)) == ["link.json", "real.json"]


def test_an_atomic_folder_appears_whole_or_not_at_all(tmp_path):
    from bcn.io import atomic_folder

    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "set") as folder:
            (folder / "half").write_text("x")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "set").mkdir()  # an empty folder is taken over
    with atomic_folder(tmp_path / "set") as folder:
        (folder / "whole").write_text("x")
    assert os.listdir(tmp_path) == ["set"] and os.listdir(tmp_path / "set") == ["whole"]
    with pytest.raises(BcnError, match="already exists and is not an empty folder"):
        with atomic_folder(tmp_path / "set"):
            pytest.fail("the block must not run")


@pytest.mark.parametrize(
    "content, reason",
    [("[" * 100_000, "nested too deeply"), ("{", "Expecting property name"), (b"\xff{}", "codec can't decode")],
)
def test_read_json_of_a_bad_file_is_one_line_naming_it(tmp_path, content, reason):
    path = tmp_path / "config.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(BcnError, match=f"^{path}: not valid JSON \\(.*{reason}"):
        read_json(path)
