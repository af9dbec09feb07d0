"""Model predictions over data set samples land in original-image pixels."""

import json

import cv2
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from bcn.cli import main
from bcn.data.voc import Sample
from bcn.evaluation.predict import predict_keras

TINY = "qn(64) qn([1x32, 1x32, 1x32, 1x32]) tp(2)([16, 16, 16]) h(16)"


def constant_centernet(input_size, num_classes, cell, size, offset, cls):
    """A Keras model whose heads always say: one object of class `cls` at `cell`."""
    grid = input_size // 4
    heatmap = np.full((grid, grid, num_classes), 0.01, np.float32)
    heatmap[cell[1], cell[0], cls] = 0.9
    sizes = np.zeros((grid, grid, 2), np.float32)
    sizes[cell[1], cell[0]] = size
    offsets = np.zeros((grid, grid, 2), np.float32)
    offsets[cell[1], cell[0]] = offset
    image = tf.keras.Input((input_size, input_size, 3), name="image")
    ones = tf.keras.layers.Lambda(lambda x: tf.reduce_mean(x, axis=[1, 2, 3])[:, None, None, None] * 0 + 1)(image)
    outputs = [
        tf.keras.layers.Lambda(lambda x, c=c: x * c, name=name)(ones)
        for name, c in (("heatmap", heatmap), ("size", sizes), ("offset", offsets))
    ]
    return tf.keras.Model(image, outputs)


def test_boxes_are_mapped_back_through_the_letterbox(tmp_path):
    # A 256 x 128 image letterboxed into 64 x 64 is scaled by 1/4 and placed top-left.
    path = tmp_path / "wide.jpg"
    cv2.imwrite(str(path), np.zeros((128, 256, 3), np.uint8))
    sample = Sample("wide", path, 256, 128, np.zeros((0, 4), np.float32), np.zeros(0, np.int32), np.zeros(0, bool))
    # Centre ((5 + 0.5) * 4, (3 + 0.25) * 4) = (22, 13) and size (4 * 4, 2 * 4) in input pixels.
    model = constant_centernet(64, 3, cell=(5, 3), size=(4, 2), offset=(0.5, 0.25), cls=2)
    [(image_id, found)] = predict_keras(model, [sample]).items()
    assert image_id == "wide"
    assert found.classes[0] == 2 and found.scores[0] == pytest.approx(0.9)
    np.testing.assert_allclose(found.boxes[0], [(22 - 8) * 4, (13 - 4) * 4, (22 + 8) * 4, (13 + 4) * 4], atol=1e-4)


def test_batches_give_the_same_detections_as_single_images(synth_voc):
    from bcn.arch.model import build_model
    from bcn.data.voc import load_voc

    samples = load_voc(synth_voc, "test")[:5]
    model = build_model(TINY, num_classes=6)
    one = predict_keras(model, samples, batch_size=1)
    many = predict_keras(model, samples, batch_size=4)
    for sample in samples:
        np.testing.assert_allclose(one[sample.image_id].scores, many[sample.image_id].scores, rtol=1e-4, atol=1e-5)
        boxes = many[sample.image_id].boxes
        assert np.all(boxes[:, 0::2] <= sample.width) and np.all(boxes[:, 1::2] <= sample.height)
    tf.keras.backend.clear_session()


def test_eval_of_an_untrained_model_scores_low(synth_voc, tmp_path):
    from bcn.arch.model import build_model

    path = tmp_path / "untrained.h5"
    build_model(TINY, num_classes=6).save(path)
    tf.keras.backend.clear_session()
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["eval", str(path), "--data", str(synth_voc), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output[result.output.index("{") :])
    assert metrics["map50_voc07"] < 0.1 and metrics["num_images"] == 20
    assert (out / "pr_curves.png").is_file()
    records = json.loads((out / "detections.json").read_text())
    assert records and set(records[0]) == {"image_id", "class", "score", "bbox"}
    wrong = tmp_path / "wrong.h5"
    build_model(TINY, num_classes=20).save(wrong)
    tf.keras.backend.clear_session()
    result = CliRunner().invoke(main, ["eval", str(wrong), "--data", str(synth_voc)])
    assert result.exit_code == 2 and "detects 20 classes but the data set has 6" in result.output


@pytest.mark.slow
def test_tflite_detections_match_keras_through_the_runtime(synth_voc, tmp_path):
    """The .tflite path (converted model, bcn.runtime Detector) sees what the Keras path sees."""
    from bcn.arch.model import build_model
    from bcn.converters.convert import convert
    from bcn.data.voc import load_voc, read_class_names
    from bcn.evaluation.predict import predict_tflite

    samples = load_voc(synth_voc, "test")[:4]
    model = build_model(TINY, num_classes=6, float_twin=True)  # float: no sign flips between engines
    path = tmp_path / "float.h5"
    model.save(path)
    (tmp_path / "config.json").write_text(
        json.dumps({"format": "bcn-run/1", "classes": list(read_class_names(synth_voc)), "input_size": 64})
    )
    convert(path, tmp_path / "float.tflite")
    keras = predict_keras(model, samples)
    tflite = predict_tflite(tmp_path / "float.tflite", samples, read_class_names(synth_voc))
    for sample in samples:
        k, t = keras[sample.image_id], tflite[sample.image_id]
        top = min(len(k), len(t), 20)
        np.testing.assert_allclose(t.scores[:top], k.scores[:top], atol=1e-3)
        np.testing.assert_allclose(t.boxes[:top], k.boxes[:top], atol=0.5)
    tf.keras.backend.clear_session()


def test_eval_refuses_a_model_trained_on_other_classes(synth_voc, tmp_path):
    from bcn.arch.model import build_model

    build_model(TINY, num_classes=6).save(tmp_path / "model.h5")
    tf.keras.backend.clear_session()
    other = ["a", "b", "c", "d", "e", "f"]
    (tmp_path / "config.json").write_text(json.dumps({"format": "bcn-run/1", "classes": other}))
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "model.h5"), "--data", str(synth_voc)])
    assert result.exit_code == 2 and "trained on a, b, c, d, e, f" in result.output
