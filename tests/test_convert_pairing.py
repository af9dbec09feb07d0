"""Binary convs and their LceBconv2d ops are paired by the graphs, so branched models check right."""

import bcn  # noqa: F401  (Keras 2 API before TensorFlow loads)


def _binary_conv(filters, kernel, name):
    import larq

    return larq.layers.QuantConv2D(
        filters,
        kernel,
        padding="same",
        use_bias=False,
        name=name,
        pad_values=1.0,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
    )


def branched_model():
    """stem -> binary A -> (binary B1 3x3 to 32, binary B2 1x1 to 64) -> concat -> binary C; B2's
    branch is built first, so the layer order differs from the order of the branches."""
    import tensorflow as tf

    inputs = tf.keras.Input((16, 16, 3))
    x = tf.keras.layers.Conv2D(32, 3, padding="same", name="stem")(inputs)
    a = tf.keras.layers.BatchNormalization(name="a_bn")(_binary_conv(32, 3, "a")(x))
    b2 = tf.keras.layers.BatchNormalization(name="b2_bn")(_binary_conv(64, 1, "b2")(a))
    b1 = tf.keras.layers.BatchNormalization(name="b1_bn")(_binary_conv(32, 3, "b1")(a))
    joined = tf.keras.layers.Concatenate(name="join")([b1, b2])
    c = tf.keras.layers.BatchNormalization(name="c_bn")(_binary_conv(40, 3, "c")(joined))
    return tf.keras.Model(inputs, c)


def test_each_lce_bconv_pairs_with_its_own_layer_in_a_branched_model():
    from bcn.converters.inspect import BCONV, Graph, check_binary_layers, pair_binary_layers
    from bcn.converters.lce import convert_lce

    model = branched_model()
    graph = Graph.from_flatbuffer(convert_lce(model))
    pairs = pair_binary_layers(model, graph, "branched")
    assert sorted(layer.name for layer in pairs.values()) == ["a", "b1", "b2", "c"]
    for index, layer in pairs.items():
        assert graph.ops[index].name == BCONV
        channels_out, kh, kw = graph.tensor_shapes[graph.ops[index].inputs[1]][:3]
        assert (channels_out, kh, kw) == (layer.filters, *layer.kernel_size)
    # c depends on both branches, which depend on a.
    op_of = {layer.name: index for index, layer in pairs.items()}
    assert {op_of["a"], op_of["b1"], op_of["b2"]} <= graph.ancestors(op_of["c"])
    assert op_of["a"] in graph.ancestors(op_of["b1"]) and op_of["a"] in graph.ancestors(op_of["b2"])
    assert check_binary_layers(model, graph, "branched") == {"keras_binary_convs": 4, BCONV: 4}
