"""`bcn detect --json-out X.json` holds the detections `bcn eval` finds with the same model.

Both go through the runtime's Detector, so any difference is in the JSON written by
detect (ids, class names, VOC XML box convention) versus what eval writes and reads.
"""

import json
import os

import pytest
from click.testing import CliRunner

from bcn.cli import main

SCORE = "0.01"  # bcn eval's default score threshold


@pytest.mark.slow
def test_detect_json_scores_like_eval_of_the_model(trained_model, synth_voc, tmp_path):
    from bcn.converters.convert import convert

    model = tmp_path / "model.tflite"
    convert(trained_model, model, samples=1)
    images = tmp_path / "test-images"
    images.mkdir()
    for image_id in (synth_voc / "ImageSets" / "Main" / "test.txt").read_text().split():
        os.symlink(synth_voc / "JPEGImages" / f"{image_id}.jpg", images / f"{image_id}.jpg")

    runner = CliRunner()
    detections = tmp_path / "detections.json"
    result = runner.invoke(
        main, ["detect", str(model), "--source", str(images), "--json-out", str(detections), "--score", SCORE]
    )
    assert result.exit_code == 0, result.output
    evaluated = tmp_path / "eval"
    from_model = runner.invoke(
        main,
        [
            "eval",
            str(model),
            "--data",
            str(synth_voc),
            "--split",
            "test",
            "--json",
            "--score-threshold",
            SCORE,
            "--out",
            str(evaluated),
        ],
    )
    assert from_model.exit_code == 0, from_model.output
    from_file = runner.invoke(
        main, ["eval", "--detections", str(detections), "--data", str(synth_voc), "--split", "test", "--json"]
    )
    assert from_file.exit_code == 0, from_file.output

    def key(record):
        return (record["image_id"], record["class"], round(record["score"], 3), *(round(v) for v in record["bbox"]))

    ours = json.loads(detections.read_text())
    theirs = json.loads((evaluated / "detections.json").read_text())
    assert ours and sorted(map(key, ours)) == sorted(map(key, theirs))
    file_metrics, model_metrics = json.loads(from_file.stdout), json.loads(from_model.stdout)
    assert file_metrics["map50_voc07"] == pytest.approx(model_metrics["map50_voc07"], abs=1e-3)
    assert file_metrics["map50_area"] == pytest.approx(model_metrics["map50_area"], abs=1e-3)
