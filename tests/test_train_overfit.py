"""Overfitting four images drives their mAP to ~1: targets, losses and decoding agree."""

import pytest

import bcn  # noqa: F401

SPEC = "qn(128) qn([1x32, 1x64, 1x64, 1x128]) tp(2)([32, 32, 32]) h(16)"


@pytest.mark.slow
def test_binary_model_overfits_four_images(four_image_voc, tmp_path):
    from bcn.train.augment import NO_AUGMENTATION
    from bcn.train.trainer import Recipe, train

    result = train(SPEC, four_image_voc, tmp_path / "run", input_size=128, epochs=30, steps_per_epoch=15, batch_size=4,
                   lr=2e-3, eval_every=30, recipe=Recipe(augment=NO_AUGMENTATION), seed=0, verbose=0)
    assert result.evaluation["map50_voc07"] >= 0.9, result.evaluation
