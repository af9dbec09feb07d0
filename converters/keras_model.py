"""What the converter needs to know about a trained detector: binary layers, classes, spec."""

from dataclasses import dataclass, field
from pathlib import Path

import larq
import tensorflow as tf

from bcn.errors import BcnError
from bcn.run_config import read_run_config, run_config_path

VOC_CLASS_COUNT = 20


def is_binary_conv(layer) -> bool:
    """A larq conv with both inputs and weights binarized: LCE's LceBconv2d."""
    return (
        isinstance(layer, larq.layers.QuantConv2D)
        and layer.input_quantizer is not None
        and layer.kernel_quantizer is not None
    )


def binary_conv_layers(model: tf.keras.Model) -> list:
    """The model's binary conv layers, in the model's (topological) layer order."""
    return [layer for layer in model.layers if is_binary_conv(layer)]


@dataclass
class ModelInfo:
    """What the flatbuffer metadata needs to know about a Keras detector."""

    classes: list[str]
    input_size: int
    spec: str
    float_twin: bool
    seed: int | None = None  # drew a random spec's binary blocks
    data: list[str] = field(default_factory=list)  # the data roots it was trained on


def _default_classes(count: int) -> list[str]:
    if count == VOC_CLASS_COUNT:
        from bcn.data.voc import CLASSES

        return list(CLASSES)
    return [f"class_{index}" for index in range(count)]


def fixed_input_size(path, model: tf.keras.Model) -> int:
    """The model's square input size; a one-line BcnError when it is not fixed (None), as a flatbuffer needs."""
    height, width = tuple(model.input_shape)[1:3]
    if height is None or width is None:
        raise BcnError(
            f"{path}: the input size must be fixed to convert, and this model takes any ({height} x {width}); "
            "build it with one (e.g. `bcn arch build SPEC -z 256`)"
        )
    if height != width:
        raise BcnError(f"{path}: the input must be square, and this model takes {height} x {width}")
    return int(height)


def model_info(path, model: tf.keras.Model) -> ModelInfo:
    """Classes, input size, spec, float-twin flag, seed and data roots, from the run's config.json when present.

    Without one (e.g. a model from `bcn arch build`): VOC's classes for 20 heatmap
    channels, else class_0, class_1...; the spec is "unknown".
    """
    path = Path(path)
    num_classes = int(model.outputs[0].shape[-1])
    input_size = fixed_input_size(path, model)
    config_path = run_config_path(path.parent)
    config = read_run_config(path.parent) or {}
    classes = config.get("classes") or _default_classes(num_classes)
    if len(classes) != num_classes:
        raise BcnError(f"{config_path}: lists {len(classes)} classes but {path} predicts {num_classes}")
    if config.get("input_size") not in (None, input_size):
        raise BcnError(f"{config_path}: input_size {config['input_size']} but {path} takes {input_size}")
    return ModelInfo(
        list(classes),
        input_size,
        str(config.get("spec") or "unknown"),
        bool(config.get("float_twin", False)),
        config.get("seed"),
        [str(root) for root in config.get("data") or [] if isinstance(root, str)],
    )
