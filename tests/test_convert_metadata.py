"""The "bcn" metadata: embedded in the flatbuffer, read back by the runtime without TensorFlow."""

import json
import subprocess
import sys

import numpy as np
import pytest

import bcn  # noqa: F401  (Keras 2 API before TensorFlow loads)
from bcn.runtime.metadata import MetadataError, read_metadata

CONTRACT_KEYS = {
    "format",
    "classes",
    "input_size",
    "preprocessing",
    "output_stride",
    "outputs",
    "spec",
    "float_twin",
    "seed",
    "macs",
    "binary_macs",
    "binary_ratio",
    "eq_flops",
    "engine",
    "variant",
    "bcn_version",
}

# Run in a fresh interpreter where importing TensorFlow (or anything built on it) fails.
READ_WITHOUT_TENSORFLOW = """
import json, sys

class BlockTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "keras", "larq", "larq_zoo", "larq_compute_engine"):
            raise ImportError(f"{name} imported while reading metadata")

sys.meta_path.insert(0, BlockTensorFlow())
from bcn.runtime.metadata import read_metadata
print(json.dumps(read_metadata(sys.argv[1])))
"""


@pytest.fixture(scope="module")
def flatbuffer():
    """A tiny real TFLite model: one conv."""
    import tensorflow as tf

    inputs = tf.keras.Input((8, 8, 3))
    model = tf.keras.Model(inputs, tf.keras.layers.Conv2D(2, 1)(inputs))
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.fixture(scope="module")
def metadata():
    from bcn.converters.metadata import build_metadata

    cost = {"macs": 1000, "binary_macs": 900, "binary_ratio": 0.9, "eq_flops": 114.0625}
    return build_metadata(
        classes=["circle", "square"],
        input_size=64,
        outputs={"heatmap": 2, "size": 0, "offset": 1},
        spec="qn(64) qn([1x32]) tp(2)([16]) h(8)",
        float_twin=False,
        cost=cost,
        engine="lce",
        variant="binary",
        seed=5,
    )


def test_metadata_has_the_contract_keys(metadata):
    assert set(metadata) == CONTRACT_KEYS
    assert metadata["format"] == "bcn/1" and metadata["output_stride"] == 4
    assert metadata["seed"] == 5  # drew a random spec's binary blocks


def test_round_trip_without_tensorflow(tmp_path, flatbuffer, metadata):
    from bcn.converters.metadata import embed_metadata

    path = tmp_path / "model.tflite"
    path.write_bytes(embed_metadata(flatbuffer, metadata))
    done = subprocess.run([sys.executable, "-c", READ_WITHOUT_TENSORFLOW, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(json.dumps(metadata))


def test_embedding_keeps_the_model_running(flatbuffer, metadata):
    import tensorflow as tf

    from bcn.converters.metadata import embed_metadata

    x = np.random.default_rng(0).random((1, 8, 8, 3), np.float32)
    results = []
    for content in (flatbuffer, embed_metadata(flatbuffer, metadata)):
        interpreter = tf.lite.Interpreter(model_content=content)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        results.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(results[0], results[1])


def test_embedding_again_replaces(tmp_path, flatbuffer, metadata):
    from bcn.converters.metadata import embed_metadata

    path = tmp_path / "model.tflite"
    path.write_bytes(flatbuffer)
    assert read_metadata(path) is None  # converter output has metadata, but not ours
    path.write_bytes(embed_metadata(embed_metadata(flatbuffer, metadata), {**metadata, "variant": "int8"}))
    assert read_metadata(path)["variant"] == "int8"
    assert path.read_bytes().count(b'"format": "bcn/1"') == 1


@pytest.mark.parametrize("content", [b"", b"not a flatbuffer at all", b"\x10\x00\x00\x00TFL3\xff\xff"])
def test_not_a_flatbuffer(tmp_path, content):
    path = tmp_path / "broken.tflite"
    path.write_bytes(content)
    with pytest.raises(MetadataError, match="broken.tflite"):
        read_metadata(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_metadata(tmp_path / "absent.tflite")
