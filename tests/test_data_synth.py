"""The generated data set: deterministic, valid boxes, readable by the VOC reader."""

import filecmp
import warnings

import numpy as np
import pytest

from bcn.data.synth import SHAPES, synth_image, write_synth
from bcn.data.voc import load_voc, read_class_names
from bcn.errors import BcnError


def test_fixture_is_a_voc_data_set_with_its_own_classes(synth_voc):
    assert read_class_names(synth_voc) == SHAPES
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = {name: load_voc(synth_voc, name) for name in ("train", "val", "trainval", "test")}
    assert (len(splits["trainval"]), len(splits["test"])) == (40, 20)
    ids = {name: {s.image_id for s in samples} for name, samples in splits.items()}
    assert ids["train"] | ids["val"] == ids["trainval"] and not ids["train"] & ids["val"]
    assert not ids["trainval"] & ids["test"]
    classes = np.concatenate([s.classes for s in splits["trainval"]])
    assert set(classes.tolist()) == set(range(len(SHAPES)))  # every class appears


def test_boxes_are_inside_the_image_and_tight_on_the_drawn_shape():
    for index in range(40):
        image, boxes, classes, difficult = synth_image(7, index, 128)
        height, width = image.shape[:2]
        assert max(width, height) == 128 and min(width, height) >= 0.6 * 128 - 1
        assert len(boxes) >= 1 or index  # an image may rarely end up empty, never the first
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= width) and np.all(boxes[:, 3] <= height)
        assert np.all(boxes[:, 2:] > boxes[:, :2])
        short = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        np.testing.assert_array_equal(difficult, short < 8)
        assert np.all((classes >= 0) & (classes < len(SHAPES)))


def test_same_seed_same_files_other_seed_other_images(tmp_path):
    a = write_synth(tmp_path / "a", images=6, size=64, seed=3)
    b = write_synth(tmp_path / "b", images=6, size=64, seed=3)
    c = write_synth(tmp_path / "c", images=6, size=64, seed=4)
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        match, mismatch, errors = filecmp.cmpfiles(
            a / sub, b / sub, [p.name for p in (a / sub).iterdir()], shallow=False
        )
        assert not mismatch and not errors
    assert (a / "JPEGImages" / "000001.jpg").read_bytes() != (c / "JPEGImages" / "000001.jpg").read_bytes()


def test_refuses_a_non_empty_output_and_leaves_nothing_half_written(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(BcnError, match="taken"):
        write_synth(tmp_path / "taken", images=2)
    with pytest.raises(BcnError, match="images"):
        write_synth(tmp_path / "new", images=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_killed_synth_leaves_nothing_the_next_run_keeps(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "set"
    process = subprocess.Popen(
        [sys.executable, "-m", "bcn", "data", "synth", str(out), "--images", "100000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not any((tmp_path / name / "Annotations").is_dir() for name in os.listdir(tmp_path)):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert [name for name in os.listdir(tmp_path) if name.startswith(".set.")]  # kill -9: the partial set stays...
    write_synth(out, images=2, size=64)
    assert os.listdir(tmp_path) == ["set"]  # ...until the next run to the same folder removes it


@pytest.mark.parametrize("state, reason", [("full", "No space left on device"), ("read-only", "Read-only file system")])
def test_synth_on_a_full_or_read_only_disk_names_the_users_folder(tmp_path, state, reason):
    from click.testing import CliRunner
    from disks import small_disk

    from bcn.cli import main

    with small_disk(tmp_path / "disk", state) as disk:
        result = CliRunner().invoke(main, ["data", "synth", str(disk / "set"), "--images", "4", "--size", "64"])
        assert result.exit_code == 2 and "Traceback" not in result.output
        line = result.output.strip().splitlines()[-1]
        assert line.startswith(f"Error: {disk / 'set'}: ") and line.endswith(f"({reason})")  # never the temp folder
        assert not [path.name for path in disk.iterdir() if path.name != "filler"]  # no hidden temp folder stays
