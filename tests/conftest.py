"""Shared fixtures. `bcn` is imported first: it selects the Keras 2 API before TensorFlow loads.

Data sets are generated here, since nothing can be downloaded.
"""

import os
import shutil
import signal

import pytest

import bcn  # noqa: F401

# Tests stop the processes they start with Ctrl-C. A test run launched with SIGINT ignored (a background
# job of a shell script) would hand that on to every child, which then rightly keeps ignoring it.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def synth_voc(tmp_path_factory):
    """Root of a small generated VOC-layout data set: 60 images at 128 px, 40 trainval / 20 test."""
    from bcn.data.synth import write_synth

    return write_synth(tmp_path_factory.mktemp("data") / "synth", images=60, size=128, seed=0, test_fraction=1 / 3)


# A tiny binary detector: QuickNet stem and encoder (binary 3x3 convs), 64 px input.
TINY_SPEC = "qn(64) qn([1x32, 1x64, 1x64, 1x128]) tp(2)([32, 32, 32]) h(16)"


@pytest.fixture(scope="session")
def trained_model(synth_voc, tmp_path_factory):
    """model.h5 of a tiny binary CenterNet trained briefly on `synth_voc` (config.json beside it)."""
    from bcn.train.trainer import train

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    train(TINY_SPEC, synth_voc, run_dir, input_size=64, epochs=10, batch_size=8, eval_every=10, seed=0, verbose=0)
    return run_dir / "model.h5"


@pytest.fixture(scope="session")
def four_image_voc(synth_voc, tmp_path_factory):
    """A VOC root whose training and test splits are the same four images of `synth_voc`
    (for overfitting quickly)."""
    root = tmp_path_factory.mktemp("voc") / "four"
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for folder in ("Annotations", "JPEGImages"):
        os.symlink(synth_voc / folder, root / folder)
    shutil.copy(synth_voc / "classes.txt", root)
    ids = (synth_voc / "ImageSets" / "Main" / "trainval.txt").read_text().split()[:4]
    for split in ("trainval", "test"):
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root
