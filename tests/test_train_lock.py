"""One `bcn train` per run folder: a second run into it is refused naming the first's PID; a stale lock is not."""

import os
import signal
import subprocess
import time

import pytest
from bcn_command import bcn_cli
from conftest import TINY_SPEC

import bcn  # noqa: F401
from bcn.errors import BcnError
from bcn.train.run_lock import LOCK_NAME


@pytest.fixture(scope="module")
def eight_images(tmp_path_factory):
    from bcn.data.synth import write_synth

    return write_synth(tmp_path_factory.mktemp("data") / "eight", images=8, size=64)


def _train(data, run_dir, *args):
    return subprocess.Popen(
        bcn_cli("train", "--arch", TINY_SPEC, "--data", data, "--out", run_dir, "--batch-size", "4", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_a_second_run_into_the_same_folder_is_refused_naming_the_first(eight_images, tmp_path):
    run_dir = tmp_path / "run"
    first = _train(eight_images, run_dir, "--epochs", "1000")
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / LOCK_NAME).exists() or not (run_dir / "model.h5").exists():  # the first is training
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0]
            time.sleep(0.05)
        second = _train(eight_images, run_dir, "--epochs", "1")
        output = second.communicate(timeout=300)[0]
        assert second.returncode == 2 and "Traceback" not in output, output
        assert output.strip().splitlines()[-1] == (
            f"Error: {run_dir}: another bcn train (PID {first.pid}) is training into this folder; "
            "wait for it to end or choose another --out"
        )
        assert first.poll() is None  # the first goes on; the second did not call its folder an interrupted run
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=300)
    assert first.returncode == 130 and not (run_dir / LOCK_NAME).exists()


def test_a_lock_left_by_a_killed_run_does_not_block(eight_images, tmp_path):
    from bcn.train.trainer import train

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_NAME).write_text("999999999\n")  # what kill -9 leaves: the file, no lock on it
    with pytest.raises(BcnError, match="nothing to resume"):
        train(None, eight_images, run_dir, resume=True)
    assert os.listdir(run_dir) == []
    with pytest.raises(BcnError, match="nothing to resume"):
        train(None, eight_images, tmp_path / "new", resume=True)
    assert not (tmp_path / "new").exists()  # a refused run leaves no folder behind
