"""The PascalVOC reader against hand-written annotation files."""

import warnings

import numpy as np
import pytest
from bcn_log import logged_warnings

from bcn.data.voc import CLASSES, load_voc, read_class_names
from bcn.errors import BcnError


def annotation(filename, width, height, objects):
    parts = [
        f"<annotation><filename>{filename}</filename>",
        f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>",
    ]
    for name, (xmin, ymin, xmax, ymax), difficult in objects:
        parts.append(
            f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>"
            f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
        )
    return "".join(parts) + "</annotation>"


def make_root(path, files, split="trainval", ids=None):
    """A VOC root: files maps image id -> XML text (None: no XML); every id gets an image file."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for image_id, xml in files.items():
        if xml is not None:
            (path / "Annotations" / f"{image_id}.xml").write_text(xml)
        (path / "JPEGImages" / f"{image_id}.jpg").write_bytes(b"\xff\xd8")
    ids = list(files) if ids is None else ids
    (path / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return path


def test_one_based_corners_become_zero_based_and_difficult_is_kept(tmp_path):
    xml = annotation("000001.jpg", 500, 375, [("dog", (1, 1, 500, 375), 0), ("person", (48, 240, 195, 371), 1)])
    root = make_root(tmp_path / "VOC2007", {"000001": xml})
    [sample] = load_voc(root, "trainval")
    assert sample.image_id == "000001"
    assert (sample.width, sample.height) == (500, 375)
    assert sample.image_path == root / "JPEGImages" / "000001.jpg"
    np.testing.assert_array_equal(sample.boxes, [[0, 0, 500, 375], [47, 239, 195, 371]])
    assert sample.boxes.dtype == np.float32
    # The whole image, 1..500 inclusive in the XML, is 500 pixels wide here too.
    assert sample.boxes[0, 2] - sample.boxes[0, 0] == 500
    np.testing.assert_array_equal(sample.classes, [CLASSES.index("dog"), CLASSES.index("person")])
    np.testing.assert_array_equal(sample.difficult, [False, True])


def test_roots_are_merged_in_order(tmp_path):
    a = make_root(tmp_path / "VOC2007", {"000005": annotation("000005.jpg", 10, 10, [("cat", (2, 2, 5, 5), 0)])})
    b = make_root(
        tmp_path / "VOC2012",
        {
            "2008_000001": annotation("2008_000001.jpg", 20, 20, [("car", (1, 1, 20, 20), 0)]),
            "2008_000002": annotation("2008_000002.jpg", 20, 20, []),
        },
    )
    samples = load_voc([a, b], "trainval")
    assert [s.image_id for s in samples] == ["000005", "2008_000001", "2008_000002"]
    assert samples[2].boxes.shape == (0, 4) and samples[2].classes.shape == (0,)


def test_malformed_empty_and_missing_files_are_warned_by_name_and_skipped(tmp_path):
    good = annotation("a.jpg", 10, 10, [("cat", (2, 2, 5, 5), 0)])
    root = make_root(
        tmp_path / "voc",
        {
            "a": good,
            "broken": "<annotation><size><width>10</width>",
            "empty": "",
            "nosize": "<annotation><object><name>cat</name></object></annotation>",
            "badbox": annotation("badbox.jpg", 10, 10, [("cat", (5, 5, 4, 9), 0)]),
            "noxml": None,
        },
    )
    (root / "JPEGImages" / "noimage.jpg").unlink(missing_ok=True)
    (root / "Annotations" / "noimage.xml").write_text(annotation("noimage.jpg", 10, 10, []))
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("a\nbroken\nempty\nnosize\nbadbox\nnoxml\nnoimage\n")
    with logged_warnings() as messages:
        samples = load_voc(root, "trainval")
    assert [s.image_id for s in samples] == ["a"]
    for name in ("broken.xml", "empty.xml", "nosize.xml", "badbox.xml", "noxml.xml", "noimage.xml"):
        assert any(name in m for m in messages), (name, messages)
    assert len(messages) == 6


def test_unknown_classes_are_counted_in_one_warning(tmp_path):
    xml = annotation(
        "a.jpg", 10, 10, [("cat", (2, 2, 5, 5), 0), ("unicorn", (1, 1, 3, 3), 0), ("unicorn", (1, 1, 3, 3), 0)]
    )
    root = make_root(tmp_path / "voc", {"a": xml})
    with logged_warnings(match="unicorn x2"):
        [sample] = load_voc(root, "trainval")
    assert len(sample.boxes) == 1


def test_classes_txt_names_the_classes(tmp_path):
    root = make_root(tmp_path / "voc", {"a": annotation("a.jpg", 10, 10, [("ring", (2, 2, 5, 5), 0)])})
    (root / "classes.txt").write_text("disc\nring\n")
    assert read_class_names(root) == ("disc", "ring")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [sample] = load_voc(root, "trainval")
    assert sample.classes.tolist() == [1]


def test_missing_split_file_is_one_error_naming_it(tmp_path):
    root = make_root(tmp_path / "voc", {"a": annotation("a.jpg", 10, 10, [])})
    with pytest.raises(BcnError, match="test.txt"):
        load_voc(root, "test")
    with pytest.raises(BcnError, match="nowhere"):
        load_voc(tmp_path / "nowhere", "test")


def test_an_id_in_two_roots_is_read_once_and_warned(tmp_path):
    xml = annotation("000001.jpg", 10, 10, [("cat", (2, 2, 5, 5), 0)])
    a = make_root(tmp_path / "a", {"000001": xml})
    b = make_root(tmp_path / "b", {"000001": xml})
    with logged_warnings(match="000001 already read"):
        samples = load_voc([a, b], "trainval")
    assert [s.image_path for s in samples] == [a / "JPEGImages" / "000001.jpg"]


def test_a_missing_annotations_folder_is_one_warning(tmp_path):
    root = make_root(tmp_path / "voc", {f"{i:03d}": annotation(f"{i:03d}.jpg", 10, 10, []) for i in range(48)})
    for path in (root / "Annotations").iterdir():
        path.unlink()
    (root / "Annotations").rmdir()
    with logged_warnings() as messages:
        assert load_voc(root, "trainval") == []
    assert messages == [f"{root / 'Annotations'}: no such folder; the 48 images of split 'trainval' are skipped"]
