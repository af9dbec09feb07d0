"""Two `bcn train` workers on 127.0.0.1 with TF_CONFIG (MultiWorkerMirroredStrategy on CPU).

Both train on their own half of the images, the chief alone writes the run folder; one
worker killed with SIGKILL mid-training stops the other with one line, and both
restarted with --resume continue from the chief's last backup. A malformed TF_CONFIG is
one line; a worker that never starts is named after --worker-timeout, and SIGTERM ends the wait.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from bcn_command import bcn_cli, tiny_train_args
from click.testing import CliRunner
from conftest import TINY_SPEC

import bcn  # noqa: F401
from bcn.cli import main

EPOCHS = 4


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _workers(args, ports, logs):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index, log in enumerate(logs):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "bcn", "train", *args],
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "TF_CONFIG": config, "PYTHONUNBUFFERED": "1"},
            )
        )
    return processes


def _wait_for(condition, processes, logs, seconds: float):
    deadline = time.monotonic() + seconds
    while not condition():
        for process, log in zip(processes, logs):
            assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _epochs_started(log) -> list[int]:
    return [int(line.split()[1].split("/")[0]) for line in log.read_text().splitlines() if line.startswith("Epoch ")]


def _no_partial_files(run_dir):
    names = [path.name for path in run_dir.rglob("*")]
    assert not [name for name in names if name.startswith(".") or "_temp" in name or "workertemp" in name], names


@pytest.mark.slow
def test_two_workers_train_and_resume_after_one_is_killed(synth_voc, tmp_path):
    import tensorflow as tf

    from bcn.arch.model import load_model

    run_dir = tmp_path / "run"
    args = tiny_train_args(synth_voc, run_dir, EPOCHS)
    ports = _free_ports(2)
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    chief, worker = workers = _workers(args, ports, logs)
    try:
        # Both finish the first epoch: 40 training images, 20 per worker, a global batch of 8 -> 5 steps each.
        backup = run_dir / "backup" / "chief"
        _wait_for(
            lambda: (backup / "checkpoint").is_file() and all("5/5 - " in log.read_text() for log in logs),
            workers,
            logs,
            600,
        )
        os.kill(worker.pid, signal.SIGKILL)
        assert chief.wait(timeout=180) == 2
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
    message = [line for line in logs[0].read_text().splitlines() if line.startswith("Error: ")]
    assert len(message) == 1 and "a worker is unreachable" in message[0] and "--resume" in message[0]
    assert "Traceback" not in logs[0].read_text()

    # The chief's run folder holds only whole files: a checkpoint that restores, a model that loads.
    _no_partial_files(run_dir)
    saved = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(backup)))
    assert saved.get_variable_to_shape_map()
    assert load_model(run_dir / "model.h5").outputs[0].shape[1:] == (16, 16, 6)
    finished = logs[0].read_text().count("5/5 - ")  # epochs the chief finished before it stopped

    resumed_logs = [tmp_path / "resumed0.log", tmp_path / "resumed1.log"]
    resumed = _workers(["--data", str(synth_voc), "--out", str(run_dir), "--resume"], ports, resumed_logs)
    try:
        codes = [process.wait(timeout=600) for process in resumed]
    finally:
        for process in resumed:
            if process.poll() is None:
                process.kill()
                process.wait()
    outputs = [log.read_text() for log in resumed_logs]
    assert codes == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    for log in resumed_logs:  # every worker restored the backup: it starts after the last finished epoch
        started = _epochs_started(log)
        assert 2 <= started[0] <= finished + 1 and started[-1] == EPOCHS, (started, finished)
    assert f"wrote {run_dir}" in outputs[0] and "as a worker" in outputs[1]

    config = json.loads((run_dir / "config.json").read_text())
    assert config["workers"] == 2 and config["replicas"] == 2 and config["train_images"] == 20
    assert json.loads((run_dir / "eval.json").read_text())["epoch"] == EPOCHS
    assert (run_dir / "best.h5").is_file() and list((run_dir / "logs" / "train").iterdir())
    # A finished run keeps its backup, so it can train longer with --resume --epochs N.
    assert config["finished_epochs"] == EPOCHS and list((run_dir / "backup").rglob("checkpoint"))
    _no_partial_files(run_dir)


def _tf_config(ports, index=0) -> str:
    return json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]}, "task": {"type": "worker", "index": index}}
    )


@pytest.mark.parametrize(
    "tf_config, message",
    [
        ("{'cluster': 1", "TF_CONFIG: not valid JSON (Expecting property name enclosed in double quotes"),
        (_tf_config([2222, 2223], index=2), "TF_CONFIG: task index 2 is out of range: the cluster has 2 worker"),
        (_tf_config([2222]).replace('"worker", "index"', '"boss", "index"'), "TF_CONFIG: task type 'boss' is not one"),
        (_tf_config(["x"]), "TF_CONFIG: the address of worker 0, '127.0.0.1:x', is not host:port"),
    ],
)
def test_a_malformed_tf_config_is_one_line(tf_config, message, synth_voc, tmp_path):
    result = CliRunner().invoke(
        main, ["train", "-a", TINY_SPEC, "-d", synth_voc, "-o", tmp_path / "run"], env={"TF_CONFIG": tf_config}
    )
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.strip().splitlines()[-1].startswith(f"Error: {message}"), result.output
    assert not (tmp_path / "run").exists()


def test_a_port_in_use_and_a_worker_that_never_starts_are_one_line(synth_voc, tmp_path):
    own, absent = _free_ports(2)  # nothing listens on `absent`: a worker that never started
    args = ["train", "-a", TINY_SPEC, "-d", synth_voc, "-o", tmp_path / "run", "--worker-timeout", "1"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", own))
        taken.listen()
        result = CliRunner().invoke(main, args, env={"TF_CONFIG": _tf_config([own, absent])})
    assert result.exit_code == 2 and result.output.strip().splitlines()[-1] == (
        f"Error: TF_CONFIG: port {own} of this task (worker 0) is in use by another program"
    ), result.output
    result = CliRunner().invoke(main, args, env={"TF_CONFIG": _tf_config([own, absent])})
    assert result.exit_code == 2 and result.output.strip().splitlines()[-1] == (
        f"Error: TF_CONFIG: worker 1 (127.0.0.1:{absent}) did not answer within 1 s; start every worker, "
        "or wait longer with --worker-timeout"
    ), result.output
    assert not (tmp_path / "run").exists()


def test_sigterm_ends_the_wait_for_workers(synth_voc, tmp_path):
    own, absent = _free_ports(2)
    process = subprocess.Popen(
        bcn_cli("train", "-a", TINY_SPEC, "-d", synth_voc, "-o", tmp_path / "run"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CONFIG": _tf_config([own, absent]), "PYTHONUNBUFFERED": "1"},
    )
    watchdog = threading.Timer(300, process.kill)  # a wait that never says so fails the test, not the suite
    watchdog.start()
    try:
        lines = []
        while not any("waiting for workers" in line for line in lines):
            lines.append(process.stderr.readline())
            assert lines[-1], "".join(lines)  # the process ended first
        assert lines[-1].strip() == f"waiting for workers: worker 1 (127.0.0.1:{absent}) (up to 300 s)"
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait() == 130, rest
    finally:
        watchdog.cancel()
    assert "Traceback" not in rest and rest.strip().splitlines()[-1] == (
        f"Error: TF_CONFIG: stopped while waiting for workers: worker 1 (127.0.0.1:{absent})"
    ), rest
    assert not (tmp_path / "run").exists()
