"""The tf.data input pipeline: batches and targets, and corrupt images skipped with a warning."""

import shutil

import numpy as np
import pytest
from bcn_log import logged_warnings

import bcn  # noqa: F401
from bcn.data.voc import load_voc
from bcn.train.pipeline import drop_unreadable, training_dataset


def test_batches_hold_letterboxed_images_and_targets(synth_voc):
    samples = load_voc(synth_voc, "trainval")[:10]
    images, targets = next(iter(training_dataset(samples, 64, 6, batch_size=4, shuffle=False, augment=None)))
    assert images.shape == (4, 64, 64, 3) and images.dtype.name == "float32"
    assert 0.0 <= float(np.min(images)) and float(np.max(images)) <= 1.0
    assert targets["heatmap"].shape == (4, 16, 16, 6)
    assert targets["size"].shape == (4, 100, 2) and targets["indices"].shape == (4, 100)
    counts = targets["mask"].numpy().sum(axis=1)
    assert counts.tolist() == [len(sample.classes) for sample in samples[:4]]
    peaks = (targets["heatmap"].numpy() == 1.0).sum(axis=(1, 2, 3))
    assert (peaks <= counts).all() and (peaks >= 1).all()


@pytest.fixture
def corrupt_copy(synth_voc, tmp_path):
    root = tmp_path / "corrupt"
    shutil.copytree(synth_voc, root)
    samples = load_voc(root, "trainval")
    samples[0].image_path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    samples[3].image_path.write_bytes(samples[3].image_path.read_bytes()[:200])  # truncated
    return root, samples


def test_corrupt_images_are_counted_named_and_skipped(corrupt_copy):
    root, samples = corrupt_copy
    with logged_warnings(match=r"skipped 2 of 40 images") as caught:
        good = drop_unreadable(samples)
    assert samples[0].image_path.name in caught[0]
    assert len(good) == 38 and samples[0] not in good and samples[3] not in good


def test_an_image_breaking_during_training_does_not_stop_the_epoch(synth_voc, tmp_path):
    root = tmp_path / "late"
    shutil.copytree(synth_voc, root)
    samples = drop_unreadable(load_voc(root, "trainval"))[:8]
    samples[2].image_path.write_bytes(b"garbage")  # breaks after the check
    seen = sum(int(images.shape[0]) for images, _ in training_dataset(samples, 64, 6, batch_size=4))
    assert seen == 7


def _epochs(samples, seed, count=2):
    dataset = training_dataset(samples, 64, 6, batch_size=4, seed=seed)
    return [[(images.numpy(), targets["heatmap"].numpy()) for images, targets in dataset] for _ in range(count)]


def test_a_seed_gives_the_same_augmented_batches_and_each_epoch_its_own(synth_voc):
    samples = load_voc(synth_voc, "trainval")[:12]
    first, again, other = _epochs(samples, 5), _epochs(samples, 5), _epochs(samples, 6)
    for epoch, repeat in zip(first, again):
        assert len(epoch) == 3
        for (images, heatmaps), (images_again, heatmaps_again) in zip(epoch, repeat):
            assert np.array_equal(images, images_again) and np.array_equal(heatmaps, heatmaps_again)
    assert not np.array_equal(first[0][0][0], first[1][0][0])  # the next epoch shuffles and augments anew
    assert not np.array_equal(first[0][0][0], other[0][0][0])
