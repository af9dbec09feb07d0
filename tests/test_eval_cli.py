"""`bcn eval --detections` on the generated data set, and its errors."""

import json

import pytest
from click.testing import CliRunner

from bcn.cli import main
from bcn.data.voc import load_voc, read_class_names


def ground_truth_records(root, split="test", shift=0.0):
    """The split's ground truth as a detections file (VOC XML convention), boxes moved by `shift` pixels."""
    names = read_class_names(root)
    return [
        {
            "image_id": s.image_id,
            "class": names[c],
            "score": 0.9 - 0.001 * i,
            "bbox": [float(x1) + 1 + shift, float(y1) + 1 + shift, float(x2) + shift, float(y2) + shift],
        }
        for s in load_voc(root, split)
        for i, ((x1, y1, x2, y2), c) in enumerate(zip(s.boxes, s.classes))
    ]


def run_eval(root, dets_path, *extra):
    return CliRunner().invoke(
        main, ["eval", "--detections", str(dets_path), "--data", str(root), "--split", "test", *extra]
    )


def test_ground_truth_as_detections_scores_one(synth_voc, tmp_path):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(ground_truth_records(synth_voc)))
    result = run_eval(synth_voc, path, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["map50_voc07"] == metrics["map50_area"] == 1.0
    assert set(metrics["per_class"]) == set(read_class_names(synth_voc))
    assert all(c["ap_voc07"] in (1.0, None) for c in metrics["per_class"].values())


def test_shifted_boxes_score_lower_and_the_plot_is_written(synth_voc, tmp_path):
    perfect, shifted = tmp_path / "perfect.json", tmp_path / "shifted.json"
    perfect.write_text(json.dumps(ground_truth_records(synth_voc)))
    shifted.write_text(json.dumps(ground_truth_records(synth_voc, shift=4.0)))
    result = run_eval(synth_voc, shifted, "--json", "--out", str(tmp_path / "report"))
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert 0.0 < metrics["map50_voc07"] < 0.9 and 0.0 < metrics["map50_area"] < 0.9
    assert (tmp_path / "report" / "pr_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["map50_area"] == metrics["map50_area"]
    text = run_eval(synth_voc, perfect)
    assert text.exit_code == 0 and "mAP@0.5" in text.output and "1.000   1.000" in text.output


def test_no_detections_score_zero(synth_voc, tmp_path):
    path = tmp_path / "none.json"
    path.write_text("[]")
    metrics = json.loads(run_eval(synth_voc, path, "--json").output)
    assert metrics["map50_voc07"] == metrics["map50_area"] == 0.0


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not valid JSON"),
        ('{"image_id": "000001"}', "expected a list"),
        (
            '{"image_id": "000001", "frame": 0, "class": "disc", "score": 0.5, "bbox": [1, 1, 5, 5]}\n' * 2,
            "holds JSON lines, one detection a line (what `bcn detect` prints); --detections reads a JSON list: "
            "run `bcn detect` with --json-out FILE.json to write one",
        ),
        ('[{"image_id": "000001", "class": "disc", "score": 0.5}]', "detection 0: needs keys"),
        ('[{"image_id": "000001", "class": "dog", "score": 0.5, "bbox": [1, 1, 5, 5]}]', "unknown class 'dog'"),
        ('[{"image_id": "000001", "class": "disc", "score": 0.5, "bbox": [1, 1, 5]}]', "bbox must be 4 numbers"),
        ('[{"image_id": "nope", "class": "disc", "score": 0.5, "bbox": [1, 1, 5, 5]}]', "none of its image ids"),
        (
            '[{"image_id": "000001", "class": "disc", "score": 0.5, "bbox": [9, 1, 5, 5]}]',
            "detection 0: bbox [9, 1, 5, 5] is inverted",
        ),
        (
            '[{"image_id": "000001", "class": "disc", "score": 0.5, "bbox": [1, 9, 5, 5]}]',
            "detection 0: bbox [1, 9, 5, 5] is inverted",
        ),
    ],
)
def test_malformed_detections_file_is_one_line_naming_it(synth_voc, tmp_path, content, problem):
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = run_eval(synth_voc, path, "--json")
    assert result.exit_code == 2
    assert str(path) in result.output and problem in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_model_or_detections_but_not_both(synth_voc, tmp_path):
    result = CliRunner().invoke(main, ["eval", "--data", str(synth_voc)])
    assert result.exit_code == 2 and "either MODEL or --detections" in result.output
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "missing.h5"), "--data", str(synth_voc)])
    assert result.exit_code == 2 and "missing.h5" in result.output


def test_out_never_overwrites_the_detections_file(synth_voc, tmp_path):
    path = tmp_path / "metrics.json"
    content = json.dumps(ground_truth_records(synth_voc))
    path.write_text(content)
    result = run_eval(synth_voc, path, "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"Error: {path}: --out would overwrite this input; choose another file"
    assert path.read_text() == content
