"""The COCO-JSON reader against a hand-written instances file."""

import json

import numpy as np
import pytest
from bcn_log import logged_warnings

from bcn.data.coco import load_coco
from bcn.errors import BcnError


def write_coco(tmp_path, images, annotations):
    (tmp_path / "images").mkdir(exist_ok=True)
    for image in images:
        (tmp_path / "images" / image["file_name"]).write_bytes(b"\xff\xd8")
    path = tmp_path / "instances.json"
    path.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": annotations,
                "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
            }
        )
    )
    return path


def test_boxes_classes_and_crowds(tmp_path):
    path = write_coco(
        tmp_path,
        [
            {"id": 7, "file_name": "a.jpg", "width": 640, "height": 480},
            {"id": 9, "file_name": "b.jpg", "width": 100, "height": 100},
        ],
        [
            {"image_id": 7, "category_id": 18, "bbox": [10.5, 20, 100, 50], "iscrowd": 0},
            {"image_id": 7, "category_id": 1, "bbox": [600, 400, 60, 100], "iscrowd": 1},
        ],
    )
    a, b = load_coco(path, tmp_path / "images")
    assert (a.image_id, a.width, a.height) == ("7", 640, 480)
    np.testing.assert_allclose(a.boxes, [[10.5, 20, 110.5, 70], [600, 400, 640, 480]])  # clipped to the image
    assert a.classes.tolist() == [1, 0]  # categories in id order: person (1), dog (18)
    assert a.difficult.tolist() == [False, True]
    assert b.boxes.shape == (0, 4)


def test_missing_image_and_empty_box_are_warned_and_skipped(tmp_path):
    path = write_coco(
        tmp_path,
        [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        [{"image_id": 1, "category_id": 18, "bbox": [1, 1, 0, 5]}],
    )
    data = json.loads(path.read_text())
    data["images"].append({"id": 2, "file_name": "gone.jpg", "width": 10, "height": 10})
    path.write_text(json.dumps(data))
    with logged_warnings() as caught:
        [sample] = load_coco(path, tmp_path / "images", class_names=["dog"])
    assert len(sample.boxes) == 0
    messages = " ".join(caught)
    assert "gone.jpg" in messages and "1 boxes of no area" in messages


def test_not_a_coco_file_is_one_error_naming_it(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"images": []}')
    with pytest.raises(BcnError, match="x.json: not a COCO instances file"):
        load_coco(path, tmp_path)
    path.write_text('{"images": [{"id": 1}], "annotations": [], "categories": []}')
    with logged_warnings(match=r"x.json: image 0 \(id 1\): malformed COCO entry: no 'file_name'; skipped"):
        assert load_coco(path, tmp_path) == []


@pytest.mark.parametrize("categories", ["missing", {"1": "dog"}, "dog"])
def test_a_file_without_a_list_of_categories_is_one_error_naming_it(tmp_path, categories):
    document = {"images": [], "annotations": []} | ({} if categories == "missing" else {"categories": categories})
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(document))
    with pytest.raises(BcnError, match=f"^{path}: (not a COCO instances file|.*categories must be lists)"):
        load_coco(path, tmp_path)


def test_a_category_with_a_list_id_is_one_error_naming_it(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": [1], "name": "dog"}]}))
    with pytest.raises(BcnError, match=r"instances.json: malformed COCO category: category 0: id \[1\] is not an"):
        load_coco(path, tmp_path)


@pytest.mark.parametrize(
    "field, text, reason",
    [
        ("width", "Infinity", "width inf is not a finite number"),
        ("height", "NaN", "height nan is not a finite number"),
        ("width", "-5", "width -5 is not a positive whole number"),
        ("height", "0", "height 0 is not a positive whole number"),
        ("width", '"ten"', "width 'ten' is not a finite number"),
        ("id", "[7]", r"id \[7\] is not an integer or a string"),
        ("id", "true", "id True is not an integer or a string"),
    ],
)
def test_an_image_entry_with_an_unusable_id_or_size_is_skipped_and_named(tmp_path, field, text, reason):
    path = write_coco(
        tmp_path,
        [
            {"id": 7, "file_name": "a.jpg", "width": 10, "height": 10},
            {"id": 8, "file_name": "b.jpg", "width": 10, "height": 10},
        ],
        [{"image_id": 7, "category_id": 18, "bbox": [1, 1, 2, 2]}],
    )
    document = json.loads(path.read_text())
    document["images"][0][field] = "@"
    path.write_text(json.dumps(document).replace('"@"', text))  # json.dumps cannot write Infinity in place
    with logged_warnings(match=f"instances.json: image 0 .*: malformed COCO entry: {reason}; skipped"):
        samples = load_coco(path, tmp_path / "images")
    assert [sample.image_id for sample in samples] == ["8"]


def test_a_list_valued_category_id_skips_its_image(tmp_path):
    path = write_coco(
        tmp_path,
        [{"id": 7, "file_name": "a.jpg", "width": 10, "height": 10}],
        [{"id": 3, "image_id": 7, "category_id": [18], "bbox": [1, 1, 2, 2]}],
    )
    with logged_warnings(match=r"annotation 0 \(id 3\): category_id \[18\] is not among the categories; image 7 skip"):
        assert load_coco(path, tmp_path / "images") == []


def test_boxes_outside_the_image_or_not_finite_are_skipped_and_counted(tmp_path):
    boxes = [
        "[20, 1, 5, 5]",
        "[-9, 1, 5, 5]",
        "[1, 1, 2, 2]",
        "[NaN, 1, 2, 2]",
        "[1, 1, Infinity, 2]",
        "[1, -Infinity, 2, 2]",
    ]
    path = write_coco(
        tmp_path,
        [{"id": 7, "file_name": "a.jpg", "width": 10, "height": 10}],
        [{"image_id": 7, "category_id": 18, "bbox": f"@{index}"} for index in range(len(boxes))],
    )
    text = path.read_text()
    for index, box in enumerate(boxes):
        text = text.replace(f'"@{index}"', box)
    path.write_text(text)
    with logged_warnings() as caught:
        [sample] = load_coco(path, tmp_path / "images")
    np.testing.assert_allclose(sample.boxes, [[1, 1, 3, 3]])
    assert f"{path}: 2 boxes wholly outside their image skipped" in caught
    assert f"{path}: 3 boxes with a NaN or infinite number skipped" in caught


def test_an_image_listed_twice_is_warned_about_once_and_the_first_kept(tmp_path):
    first = {"id": 7, "file_name": "a.jpg", "width": 10, "height": 10}
    path = write_coco(tmp_path, [first, first | {"width": 20}, first | {"width": 30}], [])
    with logged_warnings() as caught:
        [sample] = load_coco(path, tmp_path / "images")
    assert sample.width == 10
    assert caught == [f"{path}: image id 7 is listed more than once; the first kept"]


def test_json_nested_too_deeply_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BcnError, match=f"^{path}: not valid JSON \\(nested too deeply\\)$"):
        load_coco(path, tmp_path)
