"""The runtime detects with converted models where TensorFlow cannot be imported."""

import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from bcn_log import logged_warnings
from runtime_models import CLASSES, INPUT_SIZE, shared_models

from bcn.errors import BcnError
from bcn.runtime.engines import default_engine

# Installed before anything else runs: any import of TensorFlow (or of LCE's converter,
# which imports it) fails in the child process.
BLOCK_TENSORFLOW = textwrap.dedent("""
    import sys, importlib.abc
    class BlockTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tf_keras", "keras", "larq"):
                raise ImportError("blocked for this test: " + name)
    sys.meta_path.insert(0, BlockTensorFlow())
""")

DETECT = textwrap.dedent("""
    import json, sys
    from bcn.images import read_image
    from bcn.runtime.detector import Detector
    image = read_image(sys.argv[1])
    out = {}
    for path in sys.argv[2:]:
        detector = Detector(path)
        found = detector.detect(image, score_threshold=0.0, top_k=20)
        out[path] = {"engine": detector.engine.name, "classes": detector.classes, "input_size": detector.input_size,
                     "detections": [[d.class_id, d.class_name, d.score, list(d.box)] for d in found],
                     "timings": vars(detector.last_timings)}
    try:
        import tensorflow
        out["tensorflow_importable"] = True
    except ImportError:
        out["tensorflow_importable"] = False
    out["tensorflow_loaded"] = "tensorflow" in sys.modules
    print(json.dumps(out))
""")


def run_python(code: str, *args, prelude: str = BLOCK_TENSORFLOW) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", prelude + code, *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return shared_models(tmp_path_factory)


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    """A 160 x 96 BGR image with a few shapes: not square, so the letterbox matters."""
    image = np.full((96, 160, 3), 200, np.uint8)
    cv2.rectangle(image, (10, 20), (60, 80), (0, 0, 255), -1)
    cv2.circle(image, (120, 40), 25, (255, 0, 0), -1)
    path = tmp_path_factory.mktemp("images") / "shapes.png"
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture(scope="module")
def detected_without_tensorflow(models, image_path):
    result = run_python(DETECT, image_path, models["binary"], models["float32"])
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_detects_with_tensorflow_unimportable(detected_without_tensorflow, models):
    out = detected_without_tensorflow
    assert out["tensorflow_importable"] is False and out["tensorflow_loaded"] is False
    binary, float32 = out[str(models["binary"])], out[str(models["float32"])]
    assert binary["engine"] == default_engine(True) and float32["engine"] == "tflite"
    for found in (binary, float32):
        assert found["classes"] == CLASSES and found["input_size"] == INPUT_SIZE
        assert len(found["detections"]) == 20
        scores = [score for _, _, score, _ in found["detections"]]
        assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 1
        for class_id, name, _, (x1, y1, x2, y2) in found["detections"]:
            assert CLASSES[class_id] == name
            # Original-image pixels of the 160 x 96 image, not the 64 x 64 input.
            assert 0 <= min(x1, x2) and max(x1, x2) <= 160 and 0 <= min(y1, y2) and max(y1, y2) <= 96
        assert all(value > 0 for value in found["timings"].values())


def test_float_model_detections_match_keras(detected_without_tensorflow, models, image_path):
    """The TF-free runtime (letterbox, TFLite, decode) reproduces Keras on the same weights."""
    import tensorflow as tf

    from bcn.arch.model import load_model
    from bcn.decode import decode
    from bcn.preprocess import letterbox

    model = load_model(models["float_h5"])
    image = cv2.imread(str(image_path))
    batch, box = letterbox(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), INPUT_SIZE)
    heatmap, size, offset = (output[0] for output in model.predict(batch[None], verbose=0))
    reference = decode(heatmap, size, offset, top_k=20, score_threshold=0.0)
    reference_boxes = box.to_original(reference.boxes)
    tf.keras.backend.clear_session()
    found = detected_without_tensorflow[str(models["float32"])]["detections"]
    # Near-ties may swap places between the two; compare the ten best by matching.
    for ref_box, ref_score, ref_class in list(zip(reference_boxes, reference.scores, reference.classes))[:10]:
        same = [d for d in found if d[0] == ref_class and np.allclose(d[3], ref_box, atol=0.05)]
        assert same, f"Keras detection {ref_class} {ref_score:.4f} {ref_box} missing from the runtime's"
        assert abs(same[0][2] - ref_score) < 1e-3


def test_detector_api(models, image_path):
    from bcn.images import read_image
    from bcn.runtime.detector import Detection, Detector

    detector = Detector(models["binary"], threads=1, use_xnnpack=False)
    assert detector.engine.options["use_xnnpack"] is False
    assert detector.metadata["variant"] == "binary" and detector.metadata["engine"] == "lce"
    found = detector.detect(read_image(image_path), score_threshold=0.0, top_k=5)
    assert len(found) == 5 and all(isinstance(d, Detection) for d in found)
    timings = detector.last_timings
    assert timings.total_ms == pytest.approx(timings.preprocess_ms + timings.inference_ms + timings.decode_ms)
    # RGB input with bgr=False gives the same result as BGR input.
    rgb = cv2.cvtColor(read_image(image_path), cv2.COLOR_BGR2RGB)
    assert [d.box for d in detector.detect(rgb, score_threshold=0.0, top_k=5, bgr=False)] == [d.box for d in found]
    assert detector.detect(read_image(image_path), score_threshold=1.01) == []


def test_the_float_model_also_runs_in_the_lce_interpreter(models, image_path):
    from bcn.images import read_image
    from bcn.runtime.detector import Detector

    found = Detector(models["float32"], engine="lce").detect(read_image(image_path), score_threshold=0.0, top_k=3)
    reference = Detector(models["float32"], engine="tflite").detect(
        read_image(image_path), score_threshold=0.0, top_k=3
    )
    assert [d.class_id for d in found] == [d.class_id for d in reference]
    np.testing.assert_allclose([d.score for d in found], [d.score for d in reference], atol=1e-4)


def strip_metadata(source, target):
    """A copy of a .tflite without the "bcn" metadata entry: a model bcn did not make."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    model.metadata = [entry for entry in model.metadata or [] if entry.name.decode() != "bcn"]
    flatbuffer_utils.write_model(model, str(target))
    return target


def test_model_without_metadata_needs_input_size_and_warns(models, image_path, tmp_path):
    from bcn.images import read_image
    from bcn.runtime.detector import Detector

    foreign = strip_metadata(models["float32"], tmp_path / "foreign.tflite")
    with pytest.raises(BcnError, match="has no bcn metadata.*--input-size"):
        Detector(foreign)
    with logged_warnings(match="no bcn metadata; assuming bcn's letterbox"):
        detector = Detector(foreign, input_size=INPUT_SIZE)
    assert detector.classes == ["class0", "class1", "class2"]
    with logged_warnings():
        named = Detector(foreign, input_size=INPUT_SIZE, classes=CLASSES)
    reference = Detector(models["float32"]).detect(read_image(image_path), score_threshold=0.0, top_k=5)
    found = named.detect(read_image(image_path), score_threshold=0.0, top_k=5)
    assert [(d.class_name, d.box) for d in found] == [(d.class_name, d.box) for d in reference]
    with pytest.raises(BcnError, match="does not match input size 96"), logged_warnings():
        Detector(foreign, input_size=96)
    with pytest.raises(BcnError, match="2 class names for a heatmap of 3 classes"), logged_warnings():
        Detector(foreign, input_size=INPUT_SIZE, classes=["a", "b"])


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 3], "damaged TFLite flatbuffer"),
        (lambda data: data[:-64], "damaged TFLite flatbuffer"),
        (lambda data: b"not a model at all" * 10, "not a TFLite flatbuffer"),
        (lambda data: b"", "not a TFLite flatbuffer"),
    ],
)
def test_damaged_flatbuffers_are_one_line_errors(models, tmp_path, damage, message):
    """A truncated LCE model would crash LCE's interpreter; it must be refused before."""
    from bcn.runtime.detector import Detector

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(damage(models["binary"].read_bytes()))
    with pytest.raises(BcnError, match=message) as error:
        Detector(bad)
    assert str(bad) in str(error.value) and "\n" not in str(error.value)


def test_bad_paths_and_images(models, tmp_path):
    from bcn.images import read_image
    from bcn.runtime.detector import Detector

    with pytest.raises(BcnError, match="no such model file"):
        Detector(tmp_path / "missing.tflite")
    with pytest.raises(BcnError, match="no such image file"):
        read_image(tmp_path / "missing.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(BcnError, match="notes.jpg: not an image OpenCV can read"):
        read_image(text)
    detector = Detector(models["float32"])
    with pytest.raises(BcnError, match="H x W x 3"):
        detector.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(BcnError, match="unknown engine option"):
        Detector(models["float32"], use_gpu=True)


def test_lce_model_without_lce_names_the_install(models):
    """Where no LCE wheel exists (aarch64 Linux), an LCE model runs on the tflite engine through
    bcn's LCE delegate; the lce engine, asked for, says what to install."""
    code = (
        "from bcn.runtime.detector import Detector\n"
        "print(Detector(sys.argv[1]).engine.library)\nDetector(sys.argv[1], engine='lce')\n"
    )
    result = run_python(
        code, models["binary"], prelude=BLOCK_TENSORFLOW + "sys.modules['larq_compute_engine'] = None\n"
    )
    assert result.returncode != 0
    assert "+ bcn-lce delegate" in result.stdout
    assert "LCE's interpreter, is not installed: pip install larq-compute-engine" in result.stderr
    assert "--engine tflite" in result.stderr and "Segmentation" not in result.stderr
