"""Full-precision baselines from the same architecture: float32 and int8 TFLite of the float twin."""

import tensorflow as tf

from bcn.arch.model import custom_objects, load_model
from bcn.converters.keras_model import binary_conv_layers, is_binary_conv
from bcn.errors import BcnError

VARIANTS = ("float32", "int8")


def _without_binarization(layer):
    config = layer.get_config()
    if is_binary_conv(layer):
        config.update(input_quantizer=None, kernel_quantizer=None, kernel_constraint=None)
    return layer.__class__.from_config(config)


def float_twin(model: tf.keras.Model) -> tf.keras.Model:
    """The same graph with every binary conv full precision, fresh weights (latency does not depend on them)."""
    with tf.keras.utils.custom_object_scope(custom_objects()):
        twin = tf.keras.models.clone_model(model, clone_function=_without_binarization)
    twin._name = f"{model.name}_float"
    return twin


def trained_float_twin(path, model: tf.keras.Model) -> tf.keras.Model:
    """A user's trained float twin, checked to be full precision and shaped like `model`."""
    twin = load_model(path)
    binary = binary_conv_layers(twin)
    if binary:
        raise BcnError(f"{path}: not a float twin, it has {len(binary)} binary conv layers ({binary[0].name}, ...)")
    for name, ours, theirs in zip(
        ("input", *model.output_names), [model.input, *model.outputs], [twin.input, *twin.outputs]
    ):
        if tuple(ours.shape[1:]) != tuple(theirs.shape[1:]):
            raise BcnError(
                f"{path}: {name} shape {tuple(theirs.shape[1:])} "
                f"differs from the binary model's {tuple(ours.shape[1:])}"
            )
    _check_same_layers(path, model, twin)
    return twin


def _check_same_layers(path, model: tf.keras.Model, twin: tf.keras.Model) -> None:
    """Refuse a float model of another architecture: the float twin has the binary model's weights, shape by shape
    (only the binarization differs)."""
    ours, theirs = ([tuple(weight.shape) for weight in m.weights] for m in (model, twin))
    if ours == theirs:
        return
    differ = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    where = (
        f"weight {differ} ({twin.weights[differ].name}) has shape {theirs[differ]}, the binary model's {ours[differ]}"
        if differ < min(len(ours), len(theirs))
        else f"it has {len(theirs)} weights, the binary model {len(ours)}"
    )
    raise BcnError(f"{path}: not the float twin of this architecture: {where}")


def convert_float32(model: tf.keras.Model) -> bytes:
    """Plain TFLite, float32 weights and activations."""
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def convert_int8(model: tf.keras.Model, images) -> bytes:
    """Post-training int8 quantization calibrated on `images` (Z x Z x 3 float inputs); float I/O."""
    if not len(images):
        raise BcnError("int8 quantization needs at least one calibration image")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in images)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def convert_baseline(variant: str, model: tf.keras.Model, images) -> bytes:
    """The `variant` ("float32" or "int8") flatbuffer of a float model."""
    return convert_float32(model) if variant == "float32" else convert_int8(model, images)
