"""QuickNet stem and encoder, from larq-zoo's QuickNet blocks."""

import tensorflow as tf
from larq_zoo.sota.quicknet import QuickNetFactory, blurpool_initializer

from bcn.arch.notation import Section


@tf.keras.utils.register_keras_serializable("bcn")
class BlurPool(tf.keras.initializers.Initializer):
    """larq-zoo's fixed blur kernel as a serializable initializer, so saved models load."""

    def __call__(self, shape, dtype=None):
        return tf.constant(blurpool_initializer(shape), dtype=dtype or tf.float32)


class FloatTwinQuickNetFactory(QuickNetFactory):
    """QuickNet with every binary conv made full precision (the paper's q2e)."""

    input_quantizer = None
    kernel_quantizer = None
    kernel_constraint = None


def _factory(float_twin: bool) -> QuickNetFactory:
    return FloatTwinQuickNetFactory() if float_twin else QuickNetFactory()


def quicknet_stem(x, filters: int):
    """`qn(z)`: full-precision stem to `filters` maps at stride 4."""
    return QuickNetFactory().stem_module(filters, x)


def quicknet_encoder(x, sections: tuple[Section, ...], masks: tuple[tuple[bool, ...], ...]):
    """`qn([n1xf1, ...])`: residual blocks per scale, a transition between scales.

    `masks[i][j]` says whether block j of scale i has a binary conv (else full precision).
    """
    binary, full = _factory(False), _factory(True)
    for index, (section, mask) in enumerate(zip(sections, masks, strict=True)):
        if index > 0:
            x = binary.transition_block(x, section.filters, strides=2)
            _serializable_blur(x)
        for is_binary in mask:
            x = (binary if is_binary else full).residual_block(x)
    return x


def _serializable_blur(transition_output) -> None:
    """Swap the blur conv's plain-function initializer (its weights exist already)."""
    conv = transition_output.node.parent_nodes[0].parent_nodes[0].layer  # BN <- 1x1 conv <- blur
    assert conv.depthwise_initializer is blurpool_initializer, conv.name
    conv.depthwise_initializer = BlurPool()
