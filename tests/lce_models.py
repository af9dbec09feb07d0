"""LCE parity cases: small larq models, their LCE flatbuffers and LCE's own outputs.

The x86_64 half of the delegate parity check (needs TensorFlow, larq and LCE):
`random_recipes` and `build_recipe` draw small binary Keras models from a seed, `convert`
turns one into an LCE flatbuffer, `expose_lce_tensors` makes every tensor an LCE op writes
a model output (LCE's interpreter only returns model outputs), `write_case` saves the
flatbuffer with its inputs and LCE's reference outputs and `write_op_cases` does so for
each LCE op alone. The other half, `lce_parity_check.py`, runs the delegate on such a
folder with numpy and ai-edge-litert only, so it also runs on aarch64. To make a folder
for another machine:

    python tests/lce_models.py FOLDER [--presets q0 q5 ...] [--seed 0]
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import larq as lq
import larq_compute_engine as lce
import numpy as np
import tensorflow as tf
from flatbuffers import flexbuffers
from larq_compute_engine.tflite.python.interpreter import Interpreter as LceInterpreter
from tensorflow.lite.tools import flatbuffer_utils

import bcn  # noqa: F401  (Keras 2 API before TensorFlow loads)

LCE_OPS = ("LceQuantize", "LceBconv2d", "LceDequantize", "LceBMaxPool2d")
INT32 = 2  # TensorType.INT32: bitpacked tensors
INT8 = 9  # TensorType.INT8
BINARY = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False)
# Channel counts the random models must use as some LceBconv2d's channels_in: none a
# multiple of 32 but 64 and 96, which are there for grouped convs.
CHANNELS = (1, 3, 31, 33, 40, 70, 100, 64, 96)


# --- converting --------------------------------------------------------------------------


def convert(model: tf.keras.Model) -> bytes:
    """The model's LCE flatbuffer (batch 1), as `lce.convert_keras_model` makes it, faster.

    convert_keras_model saves a Keras SavedModel, which traces every layer with autograph
    (42 s for q5, at any input size). The same graph traced once without autograph and
    saved with only its variables converts to the same ops in a quarter of the time
    (checked on q5 and on a trained tiny detector: same ops, options and outputs).
    """
    spec = [tf.TensorSpec((1, *t.shape[1:]), t.dtype) for t in model.inputs]

    def call(*inputs):
        outputs = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        # Named as the Keras outputs, as in convert_keras_model's signature (bcn reads the heads from it).
        return dict(zip(model.output_names, outputs))

    function = tf.function(call, input_signature=spec, autograph=False)
    module = tf.Module()
    module.weights = list(model.variables)
    # In memory where there is a tmpfs: a preset's float weights are 200 MB.
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as folder:
        tf.saved_model.save(module, folder, signatures=function.get_concrete_function())
        return lce.convert_saved_model(folder)


# --- reading and rewriting flatbuffers ---------------------------------------------------


def _opcode_name(model, op) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    if code.customCode:
        return code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
    return flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)


def _custom_options(op) -> dict | None:
    if op.customOptions is None or len(op.customOptions) == 0:
        return None
    return flexbuffers.Loads(bytes(bytearray(op.customOptions)))


def packed_words(channels: int) -> int:
    return (channels + 31) // 32


def lce_ops(content: bytes) -> list[dict]:
    """Each LCE op of the main subgraph: op, node, options, and its tensors' types and shapes.

    input and output are (TensorType, shape). For LceBconv2d also `groups` (from the
    filter's depth), `output_kind` ("float32", "int8" or "bitpacked") and `filter` (its OHWI shape).
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    graph = model.subgraphs[0]
    ops = []
    for node, op in enumerate(graph.operators):
        name = _opcode_name(model, op)
        if name not in LCE_OPS:
            continue
        tensors = [graph.tensors[i] if i >= 0 else None for i in op.inputs]
        output = graph.tensors[op.outputs[0]]
        record = {
            "op": name,
            "node": node,
            "options": _custom_options(op) or {},
            "input": (int(tensors[0].type), [int(d) for d in tensors[0].shape]),
            "output": (int(output.type), [int(d) for d in output.shape]),
        }
        if name == "LceBconv2d":
            filter_shape = [int(d) for d in tensors[1].shape]
            record["filter"] = filter_shape
            record["groups"] = packed_words(record["options"]["channels_in"]) // filter_shape[3]
            record["output_kind"] = {INT32: "bitpacked", INT8: "int8"}.get(int(output.type), "float32")
        ops.append(record)
    return ops


def op_summary(content: bytes) -> dict[str, int]:
    """How many ops of each kind the model has, e.g. {"LceBconv2d": 3, "CONV_2D": 1}."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    counts: dict[str, int] = {}
    for op in model.subgraphs[0].operators:
        name = _opcode_name(model, op)
        counts[name] = counts.get(name, 0) + 1
    return counts


def expose_lce_tensors(content: bytes, everything: bool = False) -> bytes:
    """The flatbuffer with more model outputs, so LCE's interpreter returns them too.

    After the model's own outputs: every tensor an LCE op writes and every other int32
    (bitpacked) tensor an op writes, in execution order; with `everything`, every tensor
    any op writes (to find the first op where two interpreters part).
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    graph = model.subgraphs[0]
    outputs = [int(i) for i in graph.outputs]
    for op in graph.operators:
        lce_op = _opcode_name(model, op) in LCE_OPS
        for index in (int(i) for i in op.outputs):
            if index not in outputs and (everything or lce_op or graph.tensors[index].type == INT32):
                outputs.append(index)
    graph.outputs = np.array(outputs, dtype=np.int32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def output_labels(content: bytes) -> list[str]:
    """Which op writes each model output, e.g. "LceBconv2d node 3 -> tensor 12 (bitpacked)"."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    graph = model.subgraphs[0]
    writer = {
        int(index): f"{_opcode_name(model, op)} node {node}"
        for node, op in enumerate(graph.operators)
        for index in op.outputs
    }
    labels = []
    for index in (int(i) for i in graph.outputs):
        tensor_type = graph.tensors[index].type
        kind = "bitpacked" if tensor_type == INT32 else flatbuffer_utils.type_to_name(tensor_type).lower()
        labels.append(f"{writer.get(index, 'model input')} -> tensor {index} ({kind})")
    return labels


def set_custom_options(content: bytes, op_name: str, changes: dict, which: int = 0) -> bytes:
    """The flatbuffer with option values of the `which`-th `op_name` op replaced."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    ops = [op for op in model.subgraphs[0].operators if _opcode_name(model, op) == op_name]
    op = ops[which]
    options = _custom_options(op)
    unknown = set(changes) - set(options)
    if unknown:
        raise KeyError(f"{op_name} has no options {sorted(unknown)} (it has {sorted(options)})")
    options.update(changes)
    op.customOptions = np.frombuffer(flexbuffers.Dumps(options), dtype=np.uint8).copy()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def node_of(content: bytes, op_name: str, which: int = 0) -> int:
    """The node index (position in the main subgraph) of the `which`-th `op_name` op."""
    return [op["node"] for op in lce_ops(content) if op["op"] == op_name][which]


# --- LCE's reference outputs -------------------------------------------------------------


def random_inputs(content: bytes, seed: int) -> list[np.ndarray]:
    """Standard normal float32 inputs of the model's input shapes."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    graph = model.subgraphs[0]
    rng = np.random.default_rng(seed)
    return [rng.standard_normal([int(d) for d in graph.tensors[i].shape]).astype(np.float32) for i in graph.inputs]


def lce_reference(content: bytes, inputs: list[np.ndarray], num_threads: int = 1) -> list[np.ndarray]:
    """The model's outputs from LCE's interpreter, as the reference for the delegate.

    Indirect BGEMM: LCE's default BGEMM kernel fails on grouped convs. XNNPACK on: LiteRT
    runs the float ops (convs, sigmoid) with XNNPACK, LCE's builtin kernels round them
    differently (1e-7 relative, then spreading), and LCE's XNNPACK gives LiteRT's results
    bit for bit on x86_64.
    """
    interpreter = LceInterpreter(content, num_threads=num_threads, use_indirect_bgemm=True, use_xnnpack=True)
    outputs = interpreter.predict(inputs if len(inputs) > 1 else inputs[0])
    return [np.asarray(o) for o in (outputs if isinstance(outputs, list) else [outputs])]


def write_case(folder, name: str, content: bytes, inputs=None, seed: int = 0, expose: bool = True) -> Path:
    """Write `<name>.tflite` (LCE tensors exposed) and `<name>.npz` (inputs, LCE's outputs).

    The .npz holds input_<i>, output_<i> (LCE's), num_inputs, num_outputs and
    output_names (which op wrote each output). Returns the .tflite path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if expose:
        content = expose_lce_tensors(content)
    inputs = random_inputs(content, seed) if inputs is None else inputs
    expected = lce_reference(content, inputs)
    arrays = {f"input_{i}": x for i, x in enumerate(inputs)}
    arrays.update({f"output_{i}": y for i, y in enumerate(expected)})
    np.savez(
        folder / f"{name}.npz",
        num_inputs=len(inputs),
        num_outputs=len(expected),
        output_names=np.array(output_labels(content)),
        **arrays,
    )
    (folder / f"{name}.tflite").write_bytes(content)
    return folder / f"{name}.tflite"


def single_op_model(content: bytes, node: int) -> bytes:
    """A model of node `node` alone: its first input is the model's input, its output the output.

    The other inputs (weights, thresholds) stay constants; every other tensor, buffer,
    signature and metadata entry is dropped, so the file holds only this op's weights.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    graph = model.subgraphs[0]
    op = graph.operators[node]
    used = [int(i) for i in op.inputs if i >= 0] + [int(i) for i in op.outputs]
    used = list(dict.fromkeys(used))
    remap = {old: new for new, old in enumerate(used)}
    buffers = [model.buffers[0]]  # buffer 0: the empty one every non-constant tensor points at
    tensors = []
    for old in used:
        tensor = graph.tensors[old]
        if tensor.buffer and model.buffers[tensor.buffer].data is not None:
            buffers.append(model.buffers[tensor.buffer])
            tensor.buffer = len(buffers) - 1
        else:
            tensor.buffer = 0
        tensors.append(tensor)
    op.inputs = np.array([remap[int(i)] if i >= 0 else -1 for i in op.inputs], dtype=np.int32)
    op.outputs = np.array([remap[int(i)] for i in op.outputs], dtype=np.int32)
    graph.tensors, graph.operators = tensors, [op]
    graph.inputs = np.array(op.inputs[:1], dtype=np.int32)
    graph.outputs = np.array(op.outputs, dtype=np.int32)
    model.subgraphs, model.buffers = [graph], buffers
    model.signatureDefs, model.metadata, model.metadataBuffer = None, None, None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def write_op_cases(folder, name: str, content: bytes, inputs=None, seed: int = 0) -> list[Path]:
    """One case per LCE op of the model, each fed the input LCE computed for it in the model.

    `<name>-node<N>-<op>.tflite/.npz`. Each op's output depends on nothing but that op,
    so these compare bit for bit on any CPU, where the float ops (XNNPACK convs) in a
    whole model round differently from one CPU to another.
    """
    everything = expose_lce_tensors(content, everything=True)
    inputs = random_inputs(content, seed) if inputs is None else inputs
    graph = flatbuffer_utils.convert_bytearray_to_object(bytearray(everything)).subgraphs[0]
    values = dict(zip((int(i) for i in graph.inputs), inputs))
    values.update(zip((int(i) for i in graph.outputs), lce_reference(everything, inputs)))
    paths = []
    for op in lce_ops(content):
        node = op["node"]
        source = int(graph.operators[node].inputs[0])
        single = single_op_model(content, node)
        paths.append(
            write_case(folder, f"{name}-node{node:03d}-{op['op']}", single, inputs=[values[source]], expose=False)
        )
    return paths


# --- random binary models ----------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One QuantConv2D and what follows it before the next: activation, BN, max pool, taps."""

    filters: int
    kernel: int
    strides: int = 1
    dilation: int = 1
    groups: int = 1
    padding: str = "same"
    pad_values: float = 0.0
    activation: str = ""  # "", "relu" or "relu6": directly after the conv (fused as a clamp)
    batchnorm: bool = True
    pool: tuple | None = None  # MaxPool2D (size, stride, padding) after BN: LceBMaxPool2d
    tap: str = ""  # "float": BN's output is also a model output; "sign": so is its sign (LceDequantize)


@dataclass(frozen=True)
class Recipe:
    name: str
    input_shape: tuple  # (height, width, channels)
    blocks: tuple


def _out_size(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    effective = (kernel - 1) * dilation + 1
    return -(-size // stride) if padding == "same" else (size - effective) // stride + 1


def random_recipes(seed: int, models: int = 4, blocks: int = 5) -> list[Recipe]:
    """Small binary models drawn from `seed`, each option value used by design.

    Every option goes through its values in a new shuffled order each round, so each
    value appears in some block while their combinations vary; channel counts come from
    CHANNELS in turn (the input's or the filters of a conv another follows), so each is
    some conv's input depth; a conv on 64 or 96 channels is grouped (2 or 3 groups of 32).
    """
    rng = np.random.default_rng(seed)

    def cycle(values):
        values = list(values)
        while True:
            yield from (values[i] for i in rng.permutation(len(values)))

    channels = cycle(CHANNELS)
    kernels, strides = cycle([1, 3, 3, 3, 5]), cycle([1, 1, 1, 2])
    dilations = cycle([1, 1, 2])
    paddings, last_paddings, pads = cycle(["same", "valid"]), cycle(["same", "valid"]), cycle([0.0, 1.0, 1.0])
    activations = cycle(["", "", "", "relu", "relu6"])
    batchnorms = cycle([True, True, True, True, False])
    pools = cycle([None, None, None, (2, 2, "same"), (3, 2, "valid"), (3, 1, "same")])
    taps = cycle(["", "", "", "", "float", "sign"])
    recipes = []
    for m in range(models):
        height, width = (int(v) for v in rng.choice(np.arange(15, 32, 2), size=2, replace=False))
        depth = next(channels)
        shape, made = (height, width, depth), []
        for b in range(blocks):
            last = b == blocks - 1
            groups = {64: 2, 96: 3}.get(depth, 1)  # groups of 32 channels
            if last or groups > 1:  # a width drawn aside: the cycle's are all some conv's input
                filters = int(rng.choice([c for c in CHANNELS if c % groups == 0]))
            else:
                filters = next(channels)
            kernel, stride, dilation = next(kernels), next(strides), next(dilations)
            padding = next(last_paddings if last else paddings)  # last: float output, both paddings
            if stride > 1:
                dilation = 1  # Keras takes no strided dilated convs
            for smaller in ({}, {"kernel": 1}, {"kernel": 1, "stride": 1}):  # keep the padding drawn
                k, st = smaller.get("kernel", kernel), smaller.get("stride", stride)
                if _out_size(min(height, width), k, st, padding, dilation) >= 3:
                    kernel, stride = k, st
                    break
            pool = None if last else next(pools)
            height = _out_size(height, kernel, stride, padding, dilation)
            width = _out_size(width, kernel, stride, padding, dilation)
            if pool is not None:
                if _out_size(min(height, width), pool[0], pool[1], pool[2]) < 3:
                    pool = None
                else:
                    height, width = (_out_size(v, pool[0], pool[1], pool[2]) for v in (height, width))
            made.append(
                Block(
                    filters=filters,
                    kernel=kernel,
                    strides=stride,
                    dilation=dilation,
                    groups=groups,
                    padding=padding,
                    pad_values=next(pads),
                    activation=next(activations),
                    batchnorm=next(batchnorms),
                    pool=pool,
                    tap="" if last else next(taps),
                )
            )
            depth = filters
        recipes.append(Recipe(f"random{m}", shape, tuple(made)))
    return recipes


def randomize_batchnorm(layer: tf.keras.layers.BatchNormalization, fan_in: int, rng) -> None:
    """Non-trivial BN statistics for a binary conv's output (integers in [-fan_in, fan_in]).

    Mean and variance on the scale of that output, so thresholds land inside its range;
    a fifth of the scales negative, which flips the sign the next layer sees.
    """
    channels = layer.gamma.shape[0]
    gamma = rng.uniform(0.5, 2.0, channels) * rng.choice([1.0, -1.0], channels, p=[0.8, 0.2])
    beta = rng.normal(0.0, 1.0, channels)
    mean = rng.normal(0.0, np.sqrt(fan_in), channels)
    variance = rng.uniform(0.5, 2.0, channels) * fan_in
    layer.set_weights([w.astype(np.float32) for w in (gamma, beta, mean, variance)])


def build_recipe(recipe: Recipe, seed: int) -> tf.keras.Model:
    """The Keras model of `recipe`, with random binary weights and BN statistics from `seed`."""
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = inputs = tf.keras.Input(recipe.input_shape, batch_size=1)
    outputs, batchnorms = [], []
    depth = recipe.input_shape[2]
    for block in recipe.blocks:
        x = lq.layers.QuantConv2D(
            block.filters,
            block.kernel,
            strides=block.strides,
            dilation_rate=block.dilation,
            groups=block.groups,
            padding=block.padding,
            pad_values=block.pad_values,
            **BINARY,
        )(x)
        if block.activation:
            x = tf.keras.layers.ReLU(6.0 if block.activation == "relu6" else None)(x)
        if block.batchnorm:
            layer = tf.keras.layers.BatchNormalization()
            x = layer(x)
            batchnorms.append((layer, block.kernel * block.kernel * depth // block.groups))
        if block.tap == "float":
            outputs.append(x)
        elif block.tap == "sign":
            outputs.append(lq.quantizers.SteSign()(x))
        if block.pool is not None:
            size, stride, padding = block.pool
            x = tf.keras.layers.MaxPool2D(size, strides=stride, padding=padding)(x)
        depth = block.filters
    model = tf.keras.Model(inputs, outputs + [x], name=recipe.name)
    for layer, fan_in in batchnorms:
        randomize_batchnorm(layer, fan_in, rng)
    return model


def convert_int8_rest(model: tf.keras.Model, seed: int, images: int = 8) -> bytes:
    """The model's LCE flatbuffer with int8 full-precision tensors, as `bcn convert --rest int8` makes it
    (activation ranges calibrated on standard normal inputs from `seed`)."""
    from bcn.converters.int8_rest import activation_ranges, quantized_layers, with_fake_quant

    rng = np.random.default_rng(seed)
    calibration = [rng.standard_normal(model.input_shape[1:]).astype(np.float32) for _ in range(images)]
    ranges = activation_ranges(model, quantized_layers(model), calibration)
    return convert(with_fake_quant(model, ranges))


# --- a folder of cases for another machine ------------------------------------------------


def binary_presets() -> list[str]:
    """The presets with binary convs (QuickNet encoders that are not float twins), aliases once."""
    from bcn.arch.presets import PRESETS

    return [
        name
        for name, preset in PRESETS.items()
        if not preset.float_twin and not preset.alias_of and preset.spec.startswith("qn(")
    ]


def preset_flatbuffer(preset: str, input_size: int = 64, seed: int = 0) -> bytes:
    """The LCE flatbuffer of an untrained preset (random weights from `seed`)."""
    from bcn.arch.model import build_model

    tf.keras.utils.set_random_seed(seed)
    content = convert(build_model(preset, input_size=input_size, num_classes=20))
    tf.keras.backend.clear_session()
    return content


def write_portable_cases(folder, presets=(), seed: int = 0, log=print) -> list[Path]:
    """Cases that must match bit for bit on any CPU: the random models whole and op by op,
    and each of `presets` op by op (whole, their XNNPACK float convs round per CPU)."""
    paths = []
    for number, recipe in enumerate(random_recipes(seed)):
        content = convert(build_recipe(recipe, seed))
        paths.append(write_case(folder, recipe.name, content, seed=seed + number))
        paths += write_op_cases(folder, recipe.name, content, seed=seed + number)
    for preset in presets:
        log(f"converting {preset}")
        paths += write_op_cases(folder, preset, preset_flatbuffer(preset, seed=seed), seed=seed)
    return paths


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Write LCE parity cases (.tflite + .npz with LCE's outputs) "
        "for tests/lce_parity_check.py on another machine."
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--presets",
        nargs="*",
        default=None,
        help="presets to add op by op (default: every binary preset; none: just the random models)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    presets = binary_presets() if args.presets is None else args.presets
    paths = write_portable_cases(args.folder, presets, args.seed)
    print(f"{len(paths)} cases in {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
