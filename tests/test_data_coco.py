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
    with pytest.raises(BcnError, match="x.json: image 0: malformed COCO entry"):
        load_coco(path, tmp_path)
