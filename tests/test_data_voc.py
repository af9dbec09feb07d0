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


def test_class_and_split_files_that_are_not_utf8_are_one_error_naming_them(tmp_path):
    from click.testing import CliRunner

    from bcn.cli import main

    root = make_root(tmp_path / "voc", {"000001": annotation("000001.jpg", 10, 10, [("cat", (2, 2, 5, 5), 0)])})
    split = root / "ImageSets" / "Main" / "trainval.txt"
    split.write_bytes("000001\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(BcnError, match=f"^{split}: not UTF-8 text \\(byte 0xe9 at offset 10\\)$"):
        load_voc(root, "trainval")
    split.write_text("000001\n")
    (root / "classes.txt").write_bytes("cat\ncaf\xe9\n".encode("latin-1"))
    result = CliRunner().invoke(main, ["data", "check", str(root)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (
        result.output.strip().splitlines()[-1]
        == f"Error: {root / 'classes.txt'}: not UTF-8 text (byte 0xe9 at offset 7)"
    )


def test_latin1_xml_reads_by_its_declaration_and_is_named_without_one(tmp_path):
    xml = annotation("00000\xe9.jpg", 10, 10, [("cat", (2, 2, 5, 5), 0)])
    root = make_root(tmp_path / "voc", {"declared": None, "undeclared": None})
    declaration = '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
    (root / "Annotations" / "declared.xml").write_bytes((declaration + xml).encode("latin-1"))
    (root / "Annotations" / "undeclared.xml").write_bytes(xml.encode("latin-1"))
    with logged_warnings() as caught:
        [sample] = load_voc(root, "trainval")
    assert sample.image_id == "declared" and sample.classes.tolist() == [CLASSES.index("cat")]
    assert caught == [
        f"{root / 'Annotations' / 'undeclared.xml'}: not UTF-8 (byte 0xe9 at offset 27) and no XML declaration "
        "names its encoding; skipped"
    ]


@pytest.mark.parametrize(
    "size, box, reason",
    [
        (("inf", 10), (2, 2, 5, 5), "<width> is 'inf', not a finite number"),
        ((10, "nan"), (2, 2, 5, 5), "<height> is 'nan', not a finite number"),
        ((10, 10), ("nan", 2, 5, 5), "<xmin> is 'nan', not a finite number"),
        ((10, 10), (2, 2, "inf", 5), "<xmax> is 'inf', not a finite number"),
        ((10, 10), (2, "-inf", 5, 5), "<ymin> is '-inf', not a finite number"),
    ],
)
def test_infinite_or_nan_sizes_and_coordinates_skip_the_file_naming_the_tag(tmp_path, size, box, reason):
    bad = annotation("bad.jpg", *size, [("cat", box, 0)])
    root = make_root(tmp_path / "voc", {"good": annotation("good.jpg", 10, 10, []), "bad": bad})
    with logged_warnings() as caught:
        [sample] = load_voc(root, "trainval")
    assert sample.image_id == "good"
    assert caught == [f"{root / 'Annotations' / 'bad.xml'}: {reason}; skipped"]
