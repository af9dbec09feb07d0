"""Several data roots merged into one split: each image once, however the roots number their images."""

from data_layouts import write_coco

from bcn.data import formats
from bcn.data.voc import load_voc


def test_coco_roots_whose_image_ids_collide_are_both_read(synth_voc, tmp_path):
    first, second = write_coco(synth_voc, tmp_path / "first"), write_coco(synth_voc, tmp_path / "second")
    expected = len(load_voc(synth_voc, "test"))
    samples = formats.load([first, second], "test")
    assert len(samples) == 2 * expected
    assert len({sample.image_id for sample in samples}) == 2 * expected  # evaluation tells them apart
    assert {sample.image_path.parents[1] for sample in samples} == {first, second}
    assert all(sample.image_id.startswith(f"{second}/") for sample in samples[expected:])


def test_a_root_given_twice_is_read_once(synth_voc, tmp_path):
    root = write_coco(synth_voc, tmp_path / "coco")
    assert len(formats.load([root, root], "test")) == len(load_voc(synth_voc, "test"))
