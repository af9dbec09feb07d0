"""Small converted detectors for the runtime and bench tests, made once per test session.

A tiny binary CenterNet converted by `bcn.converters` (an LCE flatbuffer) and its float
twin converted the same way (a plain float32 TFLite), with the twin's Keras file kept as
the reference for detections. Both test modules share one set through a folder under
pytest's session temp dir.
"""

import json
from pathlib import Path

TINY = "qn(64) qn([1x32, 1x32, 1x64, 1x64]) tp(2)([32, 32, 16]) h(16)"
CLASSES = ["cat", "dog", "bird"]
INPUT_SIZE = 64


def converted_models(folder: Path) -> dict[str, Path]:
    """{"binary": LCE .tflite, "float32": float .tflite, "float_h5": its Keras model}, built if missing."""
    paths = {
        "binary": folder / "tiny.tflite",
        "float32": folder / "tiny_twin.tflite",
        "float_h5": folder / "tiny_twin.h5",
    }
    if all(path.is_file() for path in paths.values()):
        return paths
    import tensorflow as tf

    from bcn.arch.model import build_model
    from bcn.converters.convert import convert

    tf.keras.utils.set_random_seed(0)
    for name, float_twin in (("binary", False), ("float", True)):
        run = folder / name
        run.mkdir(parents=True, exist_ok=True)
        # What `bcn train` writes beside its models: the converter takes spec and classes from it.
        (run / "config.json").write_text(
            json.dumps(
                {
                    "format": "bcn-run/1",
                    "spec": TINY,
                    "input_size": INPUT_SIZE,
                    "classes": CLASSES,
                    "float_twin": float_twin,
                }
            )
        )
        build_model(TINY, num_classes=len(CLASSES), float_twin=float_twin).save(run / "model.h5")
        tf.keras.backend.clear_session()
    convert(folder / "binary" / "model.h5", paths["binary"], samples=2)
    convert(folder / "float" / "model.h5", paths["float32"], samples=2)
    (folder / "float" / "model.h5").replace(paths["float_h5"])
    return paths


def shared_models(tmp_path_factory) -> dict[str, Path]:
    return converted_models(tmp_path_factory.getbasetemp() / "runtime_models")


def untrained_model(folder: Path, spec: str, input_size: int, num_classes: int = 20) -> Path:
    """An untrained detector of `spec` converted by `bcn convert` (with its metadata)."""
    from bcn.arch.model import build_model
    from bcn.converters.convert import convert

    build_model(spec, input_size, num_classes).save(folder / "model.h5")
    convert(folder / "model.h5", folder / "model.tflite", samples=1)
    return folder / "model.tflite"
