"""The binary model with its full-precision layers in int8 (variant "binary-int8").

LCE's converter quantizes a graph that carries fake-quantization ranges: each activation tensor
between full-precision layers gets the range calibrated on sample images, weights are quantized per
channel by the converter itself. In the flatbuffer LceQuantize then reads int8, LceBconv2d writes
int8 (or bitpacked), and the stem, transitions, decoder and heads run as TFLite's int8 kernels. The
model's outputs and the heatmap's logits keep no range: each head's last 1x1 conv (and the heatmap's sigmoid)
computes in float32 from int8 inputs, a few thousand MACs per output cell, where 256 levels would cost
boxes a pixel and scores their order.
"""

import numpy as np
import tensorflow as tf

from bcn.converters.keras_model import is_binary_conv
from bcn.converters.lce import convert_lce
from bcn.errors import BcnError

# Layers whose output the next layer folds away: a conv's output feeding only batch norms (folded
# into the conv's weights), and conv, batch norm or add outputs feeding only ReLUs (fused activations).
_CONV_LIKE = (
    "Conv2D",
    "Conv2DTranspose",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Dense",
    "QuantConv2D",
    "QuantDepthwiseConv2D",
)
_FUSED_RELU_PRODUCERS = (*_CONV_LIKE, "BatchNormalization", "Add")
CALIBRATION_BATCH = 4
# Ranges clip the rarest values: measured on the demo's model, the 99.99th percentile keeps its mAP@0.5 (VOC07)
# closer to the float-rest model's than the extremes (benchmarks/int8_rest.md).
RANGE_PERCENTILE = 99.99
SAMPLE_VALUES = 20000  # values sampled per layer and batch for the percentiles


class FakeQuant(tf.keras.layers.Layer):
    """Fake int8 quantization of a tensor to a calibrated [low, high] range (what LCE's converter reads)."""

    def __init__(self, low: float, high: float, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = float(low), float(high)

    def call(self, inputs):
        return tf.quantization.fake_quant_with_min_max_args(inputs, self.low, self.high, num_bits=8)


def _is_relu(layer) -> bool:
    kind = type(layer).__name__
    if kind == "ReLU":
        return layer.negative_slope == 0 and layer.threshold == 0
    return kind == "Activation" and layer.get_config().get("activation") in ("relu", "relu6")


def _consumers(model: tf.keras.Model) -> dict[str, list]:
    """Each layer's name -> the layers of `model` that read its output."""
    consumers = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        for node in layer.inbound_nodes:
            inbound = node.inbound_layers
            for producer in inbound if isinstance(inbound, list) else [inbound]:
                if producer.name in consumers:
                    consumers[producer.name].append(layer)
    return consumers


def _is_output_activation(layer, all_consumers: dict) -> bool:
    """A model output computed by an activation (the heatmap's sigmoid)."""
    return type(layer).__name__ == "Activation" and not all_consumers[layer.name]


def _producer(layer):
    """The one layer whose output `layer` reads, or None (an input, or several inputs)."""
    inbound = layer.inbound_nodes[0].inbound_layers if layer.inbound_nodes else []
    return inbound if not isinstance(inbound, list) else (inbound[0] if len(inbound) == 1 else None)


def _binary_chain(layer) -> bool:
    """A binary conv's output, through batch norms and max pools: LCE can write it bitpacked."""
    while type(layer).__name__ in ("BatchNormalization", "MaxPooling2D"):
        layer = _producer(layer)
    return layer is not None and is_binary_conv(layer)


def _signs_only(consumers: list, all_consumers: dict) -> bool:
    """Every reader takes only signs: binary convs, or max pools whose readers do."""
    return bool(consumers) and all(
        is_binary_conv(c) or (type(c).__name__ == "MaxPooling2D" and _signs_only(all_consumers[c.name], all_consumers))
        for c in consumers
    )


def _folded_away(layer, consumers: list, all_consumers: dict) -> bool:
    kind = type(layer).__name__
    if not consumers or all(_is_output_activation(c, all_consumers) for c in consumers):
        return True  # a model output, or the logits of one: the heads end in float32 (see module docstring)
    if kind in _CONV_LIKE and all(type(c).__name__ == "BatchNormalization" for c in consumers):
        return True
    if _binary_chain(layer) and _signs_only(consumers, all_consumers):
        return True  # written bitpacked: no int8 tensor
    return kind in _FUSED_RELU_PRODUCERS and all(_is_relu(c) for c in consumers)


def quantized_layers(model: tf.keras.Model) -> list:
    """The layers whose outputs get an int8 range: the input and every output no next layer folds away."""
    consumers = _consumers(model)
    layers = []
    for layer in model.layers:
        if len(layer.inbound_nodes) > 1:
            raise BcnError(f"layer '{layer.name}' is used more than once: binary-int8 needs each layer once")
        if not _folded_away(layer, consumers[layer.name], consumers):
            layers.append(layer)
    return layers


def activation_ranges(model: tf.keras.Model, layers: list, images) -> dict[str, tuple[float, float]]:
    """Each layer's output range over `images` (Z x Z x 3 model inputs): from the RANGE_PERCENTILE-th lowest to
    the highest of a fixed sample of its values, always containing 0; a max pool keeps its input's range
    (TFLite's int8 max pool requires it)."""
    if not len(images):
        raise BcnError("int8 calibration needs at least one image")
    probe = tf.keras.Model(model.inputs, [layer.output for layer in layers])
    rng = np.random.default_rng(0)
    samples = [[] for _ in layers]
    for start in range(0, len(images), CALIBRATION_BATCH):
        outputs = probe(np.stack(images[start : start + CALIBRATION_BATCH]).astype(np.float32), training=False)
        for index, output in enumerate(outputs if isinstance(outputs, list) else [outputs]):
            values = np.asarray(output).ravel()
            samples[index].append(values[rng.integers(0, values.size, min(values.size, SAMPLE_VALUES))])
    ranges = {}
    for layer, sample in zip(layers, samples):
        low, high = np.percentile(np.concatenate(sample), [100 - RANGE_PERCENTILE, RANGE_PERCENTILE])
        low, high = min(0.0, float(low)), max(0.0, float(high))
        ranges[layer.name] = (low, max(high, low + 1e-6))  # a constant tensor still needs a non-empty range
    for layer in layers:
        producer = _producer(layer)
        if type(layer).__name__ == "MaxPooling2D" and producer is not None and producer.name in ranges:
            ranges[layer.name] = ranges[producer.name]
    return ranges


def with_fake_quant(model: tf.keras.Model, ranges: dict[str, tuple[float, float]]) -> tf.keras.Model:
    """`model`'s layers (weights shared) called again with a FakeQuant after each layer in `ranges` (outputs and
    their names as in `model`)."""
    tensors = _Reusable()  # id of an original tensor -> its rebuilt one
    inputs = {}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            if node.is_input:
                rebuilt = inputs[layer.name] = tf.keras.Input(
                    layer.input_shape[0][1:], dtype=layer.dtype, name=layer.name
                )
            else:
                args, kwargs = node.map_arguments(tensors)
                rebuilt = layer(*args, **kwargs)
            if layer.name in ranges:
                rebuilt = FakeQuant(*ranges[layer.name], name=f"{layer.name}_range")(rebuilt)
            tensors[node.flat_output_ids[0]] = rebuilt
    outputs = [tensors.rebuilt(tensor) for tensor in model.outputs]
    return tf.keras.Model([inputs[name] for name in model.input_names], outputs, name=f"{model.name}_int8")


class _Reusable(dict):
    """Rebuilt tensors by original tensor id, in the form Keras' Node.map_arguments reads (a list it pops
    from), for any number of readers."""

    def __getitem__(self, key):
        return [dict.__getitem__(self, key)]

    def rebuilt(self, tensor):
        return dict.__getitem__(self, str(id(tensor)))


def convert_binary_int8(model: tf.keras.Model, images) -> bytes:
    """The binary model's flatbuffer with int8 full-precision layers, calibrated on `images`."""
    layers = quantized_layers(model)
    return convert_lce(with_fake_quant(model, activation_ranges(model, layers, images)))
