"""`bcn data synth` and `bcn data check` through the CLI, on good and broken data sets."""

import shutil

import pytest
from click.testing import CliRunner

from bcn.cli import main


def test_check_counts_objects_per_class_and_split(synth_voc):
    result = CliRunner().invoke(main, ["data", "check", str(synth_voc)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("class "))
    assert header.split()[1:] == ["train", "val", "trainval", "test"]
    images = next(line for line in lines if line.startswith("images")).split()
    assert int(images[3]) == 40 and int(images[4]) == 20
    assert any(line.startswith("stripes") for line in lines)
    assert "no problems found" in result.output


def test_check_names_a_corrupt_image_and_a_malformed_xml(synth_voc, tmp_path):
    root = shutil.copytree(synth_voc, tmp_path / "broken")
    test_ids = (root / "ImageSets/Main/test.txt").read_text().split()
    (root / "JPEGImages" / f"{test_ids[0]}.jpg").write_bytes(b"not a jpeg")
    (root / "Annotations" / f"{test_ids[1]}.xml").write_text("<annotation><size>")
    (root / "Annotations" / f"{test_ids[2]}.xml").write_text("")
    result = CliRunner().invoke(main, ["data", "check", str(root)])
    assert result.exit_code == 1
    assert f"{test_ids[0]}.jpg: not an image OpenCV can read" in result.output
    assert f"{test_ids[1]}.xml: malformed XML" in result.output
    assert f"{test_ids[2]}.xml: malformed XML" in result.output
    assert "3 problems found" in result.output
    images = next(line for line in result.output.splitlines() if line.startswith("images")).split()
    assert int(images[4]) == 17  # the three broken test images are skipped, not fatal


def test_check_refuses_a_folder_that_is_not_a_data_set(tmp_path):
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path}: not a data set bcn reads" in result.output
    assert "Traceback" not in result.output


def test_synth_writes_a_data_set_that_checks_clean(tmp_path):
    runner = CliRunner()
    out = tmp_path / "set"
    result = runner.invoke(main, ["data", "synth", str(out), "--images", "8", "--size", "64", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert (out / "classes.txt").read_text().split() == ["disc", "square", "triangle", "ring", "cross", "stripes"]
    assert runner.invoke(main, ["data", "check", str(out)]).exit_code == 0
    again = runner.invoke(main, ["data", "synth", str(out), "--images", "8"])
    assert again.exit_code == 2 and "already exists" in again.output


def test_check_reports_an_empty_split(synth_voc, tmp_path):
    root = shutil.copytree(synth_voc, tmp_path / "empty")
    (root / "ImageSets/Main/val.txt").write_text("")
    result = CliRunner().invoke(main, ["data", "check", str(root)])
    assert result.exit_code == 1, result.output
    assert f"{root / 'ImageSets/Main/val.txt'}: split 'val' has no usable images" in result.output
    assert "no problems found" not in result.output


def test_check_names_a_box_outside_its_image(synth_voc, tmp_path):
    root = shutil.copytree(synth_voc, tmp_path / "overrun")
    image_id = (root / "ImageSets/Main/test.txt").read_text().split()[0]
    xml = root / "Annotations" / f"{image_id}.xml"
    text = xml.read_text()
    start = text.index("<xmax>") + len("<xmax>")
    xml.write_text(text[:start] + "500" + text[text.index("</xmax>") :])
    result = CliRunner().invoke(main, ["data", "check", str(root)])
    assert result.exit_code == 1, result.output
    assert f"{xml}: object '" in result.output and "500" in result.output
    assert "lies partly outside the" in result.output and "clipped" in result.output


@pytest.mark.slow
def test_synth_writes_no_empty_split_and_training_then_runs_without_evaluation(tmp_path):
    """Two images leave no test or val image: those split files are not written, and bcn train says it does not
    evaluate."""
    runner = CliRunner()
    out, run = tmp_path / "set", tmp_path / "run"
    assert runner.invoke(main, ["data", "synth", str(out), "--images", "2", "--size", "64"]).exit_code == 0
    assert sorted(path.stem for path in (out / "ImageSets" / "Main").iterdir()) == ["train", "trainval"]
    checked = runner.invoke(main, ["data", "check", str(out)])
    assert checked.exit_code == 0, checked.output
    assert "bcn train: trains on trainval, without evaluation (no test or val split)" in checked.output
    assert "bcn eval: needs --split (no test or val split)" in checked.output
    spec = "qn(64) qn([1x16, 1x16, 1x32, 1x32]) tp(2)([16, 16, 16]) h(8)"
    trained = runner.invoke(main, ["train", "-a", spec, "-d", str(out), "-o", str(run), "-e", "1", "-b", "2"])
    assert trained.exit_code == 0, trained.output
    assert f"{out}: no test or val split, so the run trains without evaluation" in trained.output
    assert f"without evaluation; wrote {run}/model.h5, config.json" in trained.output
    assert (run / "model.h5").is_file() and not (run / "best.h5").exists() and not (run / "eval.json").exists()
    scored = runner.invoke(main, ["eval", str(run / "model.h5"), "--data", str(out)])
    assert scored.exit_code == 2 and "no test or val split to evaluate on (it has: train, trainval)" in scored.output


def test_synth_refuses_a_test_fraction_that_leaves_nothing_to_train_on(tmp_path):
    result = CliRunner().invoke(main, ["data", "synth", str(tmp_path / "set"), "-n", "1", "--test-fraction", "0.9"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{tmp_path / 'set'}: --test-fraction 0.9 leaves none of the 1 images to train on" in result.output
    assert not list(tmp_path.iterdir())
