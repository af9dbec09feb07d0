"""The tf.distribute path on CPU: MirroredStrategy over two logical devices."""

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import TINY_SPEC

import bcn  # noqa: F401

pytestmark = pytest.mark.slow  # minutes of training or several runtimes: out of the fast lane

# Logical devices must be configured before TensorFlow initialises: run in a fresh process.
SCRIPT = textwrap.dedent("""
    import json, sys
    import bcn
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from bcn.train.trainer import train

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    result = train(sys.argv[1], sys.argv[2], sys.argv[3], input_size=64, epochs=2, batch_size=8, eval_every=2,
                   strategy=strategy, seed=0, verbose=0)
    print("RESULT " + json.dumps({"replicas": strategy.num_replicas_in_sync, "history": result.history}))
""")


def test_mirrored_strategy_on_two_cpu_devices_trains_and_saves(synth_voc, tmp_path):
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, TINY_SPEC, str(synth_voc), str(run_dir)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result["replicas"] == 2
    losses = result["history"]["loss"]
    assert len(losses) == 2 and all(0 < value < 100 for value in losses)
    assert json.loads((run_dir / "config.json").read_text())["replicas"] == 2

    from bcn.arch.model import load_model

    model = load_model(run_dir / "model.h5")
    assert model.outputs[0].shape[1:] == (16, 16, 6)
    assert (run_dir / "best.h5").is_file()
