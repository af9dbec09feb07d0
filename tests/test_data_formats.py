"""`--data` in the YOLO and COCO layouts: detected, read like the VOC original, checked, trained on and evaluated.

The data sets are the generated VOC set written again in each layout (tests/data_layouts.py),
so every reader must give back the same images and boxes.
"""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from data_layouts import write_coco, write_yolo

from bcn.cli import main
from bcn.data import formats
from bcn.data.voc import load_voc, read_class_names
from bcn.errors import BcnError

LAYOUTS = {
    "yolo": write_yolo,
    "roboflow-yolo": lambda voc, out: write_yolo(voc, out, roboflow=True),
    "coco": write_coco,
    "roboflow-coco": lambda voc, out: write_coco(voc, out, roboflow=True),
}


@pytest.fixture(scope="module")
def layouts(synth_voc, tmp_path_factory):
    """{layout name: root} of the generated set in every layout."""
    folder = tmp_path_factory.mktemp("layouts")
    return {name: write(synth_voc, folder / name) for name, write in LAYOUTS.items()}


@pytest.mark.parametrize(
    "name, kind", [("yolo", "yolo"), ("roboflow-yolo", "yolo"), ("coco", "coco"), ("roboflow-coco", "coco")]
)
def test_each_layout_reads_back_the_voc_objects(layouts, synth_voc, name, kind):
    root = layouts[name]
    assert formats.detect_format(root) == kind
    assert formats.read_class_names(root) == read_class_names(synth_voc)  # Roboflow's category 0 is no class
    for split in ("train", "val", "test"):
        expected = {s.image_path.name: s for s in load_voc(synth_voc, split)}
        samples = formats.load(root, split)
        assert sorted(s.image_path.name for s in samples) == sorted(expected)
        for sample in samples:
            original = expected[sample.image_path.name]
            assert (sample.width, sample.height) == (original.width, original.height)
            assert sample.classes.tolist() == original.classes.tolist()
            np.testing.assert_allclose(sample.boxes, original.boxes, atol=0.01)
    assert formats.train_split(root) == "train"


@pytest.mark.parametrize("name", ["yolo", "coco"])
def test_worker_shares_read_disjoint_images_that_make_the_whole_split(layouts, name, monkeypatch):
    """A multi-worker run's share: each worker's images, and for YOLO only its images' headers, are read."""
    import bcn.data.yolo

    root = layouts[name]
    whole = {s.image_path for s in formats.load(root, "train")}
    opened = []
    real = bcn.data.yolo.image_size
    monkeypatch.setattr(bcn.data.yolo, "image_size", lambda path: opened.append(path) or real(path))  # a spy
    shares = [{s.image_path for s in formats.load(root, "train", share=(index, 3))} for index in range(3)]
    assert set().union(*shares) == whole and sum(map(len, shares)) == len(whole)
    if name == "yolo":
        assert sorted(opened) == sorted(whole)


def test_val_finds_valid_and_val2017_and_a_missing_split_is_named(layouts):
    assert formats.find_split(layouts["roboflow-coco"], "val") == "valid"
    assert formats.find_split(layouts["coco"], "val") == "val2017"
    assert formats.splits(layouts["coco"]) == ["train2017", "val2017", "test2017"]
    (layouts["yolo"] / "data.yaml").write_text((layouts["yolo"] / "data.yaml").read_text())  # untouched
    with pytest.raises(BcnError, match=r"no split 'trainval' in this YOLO data set \(it has: train, val, test\)"):
        formats.load(layouts["yolo"], "trainval")


def test_a_folder_of_no_known_layout_is_one_error(tmp_path):
    with pytest.raises(BcnError, match="not a data set bcn reads: PascalVOC needs"):
        formats.detect_format(tmp_path)


@pytest.mark.parametrize("name", ["yolo", "coco"])
def test_data_check_reports_the_layout_and_the_same_counts(layouts, synth_voc, name):
    result = CliRunner().invoke(main, ["data", "check", str(layouts[name])])
    assert result.exit_code == 0, result.output
    assert f"{'YOLO' if name == 'yolo' else 'COCO JSON'}: {layouts[name]}" in result.output
    voc = CliRunner().invoke(main, ["data", "check", str(synth_voc)]).output
    row = lambda output, label: next(line for line in output.splitlines() if line.startswith(label)).split()  # noqa: E731
    assert row(result.output, "images")[1:] == [row(voc, "images")[i] for i in (1, 2, 4)]  # train, val, test
    objects = row(result.output, "objects")
    assert [objects[i] for i in (1, 3, 5)] == [row(voc, "objects")[i] for i in (1, 3, 7)]  # YOLO has no difficult flag


def data_check(root):
    """`bcn data check ROOT`, in this process."""
    return CliRunner().invoke(main, ["data", "check", str(root)])


def test_a_malformed_yolo_line_is_named_with_file_and_line(layouts, tmp_path):
    root = shutil.copytree(layouts["yolo"], tmp_path / "yolo")
    (root / "data.yaml").write_text((root / "data.yaml").read_text().replace(str(layouts["yolo"]), str(root)))
    label = sorted((root / "labels" / "test").iterdir())[0]
    lines = label.read_text().splitlines()
    label.write_text("\n".join(lines[:1] + ["2 0.5 0.5 oops"] + lines[1:]) + "\n")
    result = data_check(root)
    assert (
        result.exit_code == 1
        and (
            f"problem: {label}: line 2: expected 'class cx cy w h' (or a polygon 'class x1 y1 x2 y2 x3 y3 ...'), "
            f"got '2 0.5 0.5 oops'; image {label.stem}.jpg skipped"
        )
        in result.output.splitlines()
    )
    assert "Traceback" not in result.output and "1 problems found" in result.output
    other = sorted((root / "labels" / "train").iterdir())[0]
    other.write_text("9 0.5 0.5 0.1 0.1\n")
    result = data_check(root)
    assert f"{other}: line 1: class 9 is not in data.yaml's 6 classes" in result.output


def test_a_polygon_label_line_gives_its_bounding_box(tmp_path):
    from bcn.data.yolo import parse_labels

    label = tmp_path / "a.txt"
    label.write_text("1 0.5 0.25 0.25 0.5\n0 0.1 0.2 0.3 0.2 0.2 0.6\n")
    boxes, classes = parse_labels(label, 200, 100, 2)
    assert classes.tolist() == [1, 0]
    np.testing.assert_allclose(boxes, [[75, 0, 125, 50], [20, 20, 60, 60]], atol=1e-4)


def test_a_malformed_coco_annotation_is_named_with_its_index_and_id(layouts, tmp_path):
    root = shutil.copytree(layouts["coco"], tmp_path / "coco")
    path = root / "annotations" / "instances_test2017.json"
    document = json.loads(path.read_text())
    document["annotations"][2]["bbox"] = [1, 2, 3]
    document["annotations"][3]["category_id"] = 99
    path.write_text(json.dumps(document))
    first, second = document["annotations"][2], document["annotations"][3]
    result = data_check(root)
    assert (
        result.exit_code == 1
        and (
            f"problem: {path}: annotation 2 (id {first['id']}): bbox [1, 2, 3] is not [x, y, width, height] numbers; "
            f"image {first['image_id']} skipped"
        )
        in result.output.splitlines()
    )
    assert f"annotation 3 (id {second['id']}): category_id 99 is not among the categories" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolo", "roboflow-coco"])
def test_train_and_eval_end_to_end(layouts, name, tmp_path):
    """A tiny model trains for one epoch on the layout and `bcn eval` scores it on its val split."""
    root, run = layouts[name], tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "train",
            "--arch",
            "qn(64) qn([1x16, 1x16, 1x32, 1x32]) tp(2)([16, 16, 16]) h(8)",
            "--data",
            str(root),
            "--out",
            str(run),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--eval-split",
            "val",
            "--seed",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["classes"] == list(formats.read_class_names(root)) and config["train_images"] == 32
    result = runner.invoke(main, ["eval", str(run / "model.h5"), "--data", str(root), "--split", "val", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output[result.output.index("{") :])
    assert metrics["num_images"] == 8 and 0.0 <= metrics["map50_voc07"] <= 1.0
    assert set(metrics["per_class"]) == set(config["classes"])


def _yolo_copy(layouts, tmp_path, drop_split=None):
    """A copy of the YOLO layout whose data.yaml points at the copy (and names no `drop_split`)."""
    root = shutil.copytree(layouts["yolo"], tmp_path / "yolo")
    lines = (root / "data.yaml").read_text().replace(str(layouts["yolo"]), str(root)).splitlines()
    (root / "data.yaml").write_text("".join(f"{line}\n" for line in lines if not line.startswith(f"{drop_split}:")))
    return root


def test_the_held_out_split_is_test_else_val_else_none_in_every_layout(layouts, synth_voc, tmp_path):
    for name in LAYOUTS:
        assert formats.evaluation_split(layouts[name]) == "test"
    assert formats.train_split(synth_voc, "test") == "trainval"
    assert formats.train_split(synth_voc, "val") == "train"  # trainval holds val
    only_val = _yolo_copy(layouts, tmp_path, drop_split="test")
    assert formats.evaluation_split(only_val) == "val" and formats.train_split(only_val, "val") == "train"
    voc = shutil.copytree(synth_voc, tmp_path / "voc", ignore=shutil.ignore_patterns("test.txt", "val.txt"))
    assert formats.evaluation_split(voc) is None and formats.train_split(voc) == "trainval"
    assert formats.evaluation_split([synth_voc, voc]) == "test"  # read from the roots that have it


def test_an_unknown_split_name_is_refused_naming_the_splits_found(layouts):
    assert formats.evaluation_split(layouts["roboflow-coco"], "val") == "val"
    assert formats.find_split(layouts["coco"], "valid") == "val2017"
    for root, found in [(layouts["roboflow-coco"], "train, valid, test"), (layouts["yolo"], "train, val, test")]:
        with pytest.raises(BcnError, match=rf"no split 'valid2' in this .* data set \(it has: {found}\)"):
            formats.evaluation_split(root, "valid2")
    result = CliRunner().invoke(main, ["eval", "--detections", "x.json", "--data", layouts["yolo"], "--split", "val2"])
    assert result.exit_code == 2 and "no split 'val2' in this YOLO data set (it has: train, val, test)" in result.output


@pytest.mark.slow
def test_a_yolo_export_with_only_train_and_val_trains_and_evaluates_on_val(layouts, tmp_path):
    """Ultralytics and Roboflow export train and val only: check, train and eval all take val as held out."""
    root, run = _yolo_copy(layouts, tmp_path, drop_split="test"), tmp_path / "run"
    runner = CliRunner()
    checked = runner.invoke(main, ["data", "check", str(root)])
    assert checked.exit_code == 0, checked.output
    assert "splits: train, val\nbcn train: trains on train, evaluates on val\nbcn eval: scores val\n" in checked.output
    spec = "qn(64) qn([1x16, 1x16, 1x32, 1x32]) tp(2)([16, 16, 16]) h(8)"
    trained = runner.invoke(main, ["train", "-a", spec, "-d", str(root), "-o", str(run), "-e", "1", "-b", "8"])
    assert trained.exit_code == 0, trained.output
    config = json.loads((run / "config.json").read_text())
    assert config["eval_split"] == "val" and config["train_images"] == 32 and config["eval_images"] == 8
    scored = runner.invoke(main, ["eval", str(run / "model.h5"), "--data", str(root)])
    assert scored.exit_code == 0 and f"{run / 'model.h5'} on val (8 images)" in scored.output, scored.output


def test_a_yolo_set_without_labels_is_refused_by_check_and_train(layouts, tmp_path):
    root = _yolo_copy(layouts, tmp_path)
    shutil.rmtree(root / "labels")
    runner = CliRunner()
    checked = runner.invoke(main, ["data", "check", str(root)])
    assert checked.exit_code == 1
    assert (
        f"problem: {root}: split 'train' has 32 images but no objects "
        f"(YOLO labels are read from {root / 'labels' / 'train'}, which does not exist)"
    ) in checked.output.splitlines()
    run = tmp_path / "run"
    spec = "qn(64) qn([1x16, 1x16, 1x32, 1x32]) tp(2)([16, 16, 16]) h(8)"
    trained = runner.invoke(main, ["train", "-a", spec, "-d", str(root), "-o", str(run), "-e", "1"])
    assert trained.exit_code == 2 and "Traceback" not in trained.output, trained.output
    assert trained.output.strip().splitlines()[-1] == (
        f"Error: {root}: split 'train' has 32 images but no objects (YOLO labels are read from "
        f"{root / 'labels' / 'train'}, which does not exist); there is nothing to learn from"
    )
    assert not (run / "model.h5").exists()
