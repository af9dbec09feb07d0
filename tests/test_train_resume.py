"""`bcn train --resume` continues a run killed mid-training from its last finished epoch."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from bcn_command import tiny_train_args
from conftest import TINY_SPEC

import bcn  # noqa: F401


def _bcn(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "bcn", "train", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.slow
def test_resume_continues_a_killed_run(synth_voc, tmp_path):
    run_dir = tmp_path / "run"
    args = tiny_train_args(synth_voc, run_dir, 6)
    first = _bcn(*args)
    deadline = time.monotonic() + 300
    while not [path for path in (run_dir / "backup").rglob("checkpoint")]:
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    output = first.communicate()[0]
    assert "Epoch 1/6" in output and "Epoch 6/6" not in output
    assert (run_dir / "model.h5").is_file() and not (run_dir / "best.h5").exists()

    again = _bcn(*args)
    assert again.wait(timeout=300) == 2 and "--resume" in again.communicate()[0]

    resumed = _bcn("--data", str(synth_voc), "--out", str(run_dir), "--resume")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert "Epoch 1/6" not in output and "Epoch 6/6" in output
    assert (run_dir / "best.h5").is_file()
    assert json.loads((run_dir / "eval.json").read_text())["epoch"] == 6


def _finished_run(synth_voc, run_dir, epochs):
    from bcn.train.trainer import train

    return train(
        TINY_SPEC, synth_voc, run_dir, input_size=64, epochs=epochs, batch_size=8, eval_every=100, seed=0, verbose=0
    )


def _epoch_losses(output):
    return [float(value) for value in re.findall(r"- loss: ([\d.]+)", output)]


@pytest.mark.slow
def test_resume_of_a_finished_run_refuses_or_continues_at_the_next_epoch(synth_voc, tmp_path):
    run_dir = tmp_path / "run"
    first = _finished_run(synth_voc, run_dir, 3)
    model = (run_dir / "model.h5").read_bytes()

    again = _bcn("--data", str(synth_voc), "--out", str(run_dir), "--resume")
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 2, output
    assert (
        output.strip().splitlines()[-1] == f"Error: {run_dir}: run is finished (3 of 3 epochs); to train it longer, "
        "resume with --epochs more than 3"
    ), output
    assert (run_dir / "model.h5").read_bytes() == model

    fresh = _bcn("--arch", TINY_SPEC, "--data", str(synth_voc), "--out", str(run_dir), "--epochs", "4")
    output = fresh.communicate(timeout=300)[0]
    assert fresh.returncode == 2 and "finished after 3 epochs" in output, output

    longer = _bcn("--data", str(synth_voc), "--out", str(run_dir), "--resume", "--epochs", "4")
    output = longer.communicate(timeout=300)[0]
    assert longer.returncode == 0, output
    assert "Epoch 1/4" not in output and "Epoch 4/4" in output, output
    # One epoch of 40 images in batches of 8: the progress counts 5 steps, not the 20 since the start.
    assert "5/5" in output and "20/20" not in output, output
    # The optimizer carries on: the loss goes on from where it was, not from its initial value.
    assert _epoch_losses(output)[-1] < 0.9 * first.history["loss"][0], (output, first.history["loss"])
    assert json.loads((run_dir / "config.json").read_text())["finished_epochs"] == 4
    assert json.loads((run_dir / "eval.json").read_text())["epoch"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_says_what_is_saved_and_how_to_continue(synth_voc, tmp_path, signum):
    run_dir = tmp_path / "run"
    process = _bcn(*tiny_train_args(synth_voc, run_dir, 50))
    deadline = time.monotonic() + 300
    while not (run_dir / "model.h5").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.05)
    process.send_signal(signum)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 130 and "Traceback" not in output, output
    last = output.strip().splitlines()[-1]
    assert last.startswith(f"Error: {run_dir}: training interrupted; {run_dir / 'model.h5'} holds epoch "), last
    assert last.endswith(f"continue with: bcn train --out {run_dir} --data {synth_voc} --resume"), last
    assert not [path for path in run_dir.rglob(".*") if path.is_file()]  # no temp file left


# Library code may run Python under a C call that discards errors, losing a KeyboardInterrupt raised there;
# this run loses the one its SIGINT raises right after model.h5 is saved, as such code would.
LOST_INTERRUPT_RUN = """
import signal, sys
import bcn.train.trainer as trainer
from bcn.cli import main

save_h5 = trainer.save_h5

def save_then_lose_an_interrupt(model, path):
    save_h5(model, path)
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        pass

trainer.save_h5 = save_then_lose_an_interrupt
main(sys.argv[1:], prog_name="bcn")
"""


@pytest.mark.slow
def test_an_interrupt_whose_exception_was_swallowed_still_stops_the_run(synth_voc, tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-c", LOST_INTERRUPT_RUN, "train", *tiny_train_args(synth_voc, run_dir, 50)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 130, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: {run_dir}: training interrupted; {run_dir / 'model.h5'} holds epoch 1;"), last
    assert "Epoch 3/50" not in result.stdout


@pytest.mark.slow
def test_a_corrupt_run_folder_is_a_one_line_error_on_resume(synth_voc, tmp_path):
    run_dir = tmp_path / "run"
    _finished_run(synth_voc, run_dir, 1)
    for path in (run_dir / "backup").rglob("*"):
        if path.is_file():
            path.write_bytes(b"\0garbage" * 10)
    config = (run_dir / "config.json").read_text()
    unfinished = json.dumps({key: value for key, value in json.loads(config).items() if key != "finished_epochs"})
    for content, message in [
        (config, f"Error: {run_dir / 'backup'}: the run's saved training state cannot be restored"),
        ("{", f"Error: {run_dir / 'config.json'}: not valid JSON"),
        ("{}", f"Error: {run_dir / 'config.json'}: not a bcn run's config"),
    ]:
        (run_dir / "config.json").write_text(content)
        process = _bcn("--data", str(synth_voc), "--out", str(run_dir), "--resume", "--epochs", "2")
        output = process.communicate(timeout=300)[0]
        assert process.returncode == 2 and "Traceback" not in output, output
        assert output.strip().splitlines()[-1].startswith(message), output
    shutil.rmtree(run_dir / "backup")  # a run finished by a bcn that deleted its backup
    (run_dir / "config.json").write_text(unfinished)
    process = _bcn("--data", str(synth_voc), "--out", str(run_dir), "--resume")
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 2 and "would start again from epoch 1" in output.strip().splitlines()[-1], output


@pytest.mark.slow
def test_a_resume_on_data_the_run_was_not_trained_on_is_refused_before_anything_is_written(tmp_path):
    """Other classes, the same classes in another order, another layout, another input size: one line each,
    and the run folder keeps every byte (config.json's classes and finished epochs)."""
    from click.testing import CliRunner
    from data_layouts import write_yolo

    from bcn.cli import main
    from bcn.data.synth import write_synth
    from bcn.train.trainer import train

    data, run_dir = write_synth(tmp_path / "data", images=8, size=64), tmp_path / "run"
    train(TINY_SPEC, data, run_dir, input_size=64, epochs=1, batch_size=4, seed=0, verbose=0)
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    classes = (data / "classes.txt").read_text().split()
    other = shutil.copytree(data, tmp_path / "other")
    (other / "classes.txt").write_text("\n".join(["hoop" if name == "ring" else name for name in classes]))
    reordered = shutil.copytree(data, tmp_path / "reordered")
    (reordered / "classes.txt").write_text("\n".join([classes[1], classes[0], *classes[2:]]))
    cases = [
        (other, [], "the data set has 1 classes the run does not have (hoop) and not 1 of the run's classes (ring)"),
        (
            reordered,
            [],
            f"the data set lists the run's classes in another order (class 0 is '{classes[1]}', in the run "
            f"'{classes[0]}'), so training on would relabel the model",
        ),
        (write_yolo(data, tmp_path / "yolo"), [], "the run was trained on PascalVOC data, not YOLO"),
        (data, ["--input-size", "96"], "the run was started at input size 64, not 96"),
    ]
    for root, args, message in cases:
        result = CliRunner().invoke(main, ["train", "-d", root, "-o", run_dir, "--resume", "-e", "2", *args])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        last = result.output.strip().splitlines()[-1]
        assert last.startswith(f"Error: {run_dir / 'config.json'}: ") and last.endswith(message), last
        if root != data:
            assert f"cannot resume on {root}: " in last
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before
