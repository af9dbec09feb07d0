"""LCE flatbuffers built from scratch, and mutations of them, for the delegate's robustness tests.

Needs only numpy, the flatbuffers package and ai-edge-litert's schema (no TensorFlow, no LCE),
so the same recipes build the same bytes on x86_64 and on aarch64. Three base models use every
LCE op and every output type the delegate supports:

- "float": float input -> LceQuantize -> LceBconv2d (3x3, SAME, float output)
- "bitpacked": float input -> LceQuantize -> LceBconv2d (dilated, VALID, bitpacked output)
  -> LceBMaxPool2d -> LceDequantize (float output)
- "int8": int8 input -> LceQuantize -> LceBconv2d (2 groups, int8 output), and the bitpacked
  input -> LceDequantize (int8 output)

A recipe is a base name and a list of mutations, each a JSON-able list (see `MUTATIONS`), plus
`resizes`: input shapes to resize the model's input to, one allocation each, after the first;
a regression case also has `expect` (see `as_expected`) and may have `skip_on`: {machine: why}.
`run_recipe` builds it, gives it to a LiteRT interpreter with the delegate and runs it; crafted
models the delegate cannot run must fail in `allocate_tensors()`, never crash.
"""

import json
import os
import platform
import sys
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from flatbuffers import flexbuffers

FLOAT32, INT32, INT8 = schema.TensorType.FLOAT32, schema.TensorType.INT32, schema.TensorType.INT8
CONV_OPTIONS = {
    "channels_in": 40,
    "dilation_height_factor": 1,
    "dilation_width_factor": 1,
    "fused_activation_function": 0,
    "pad_values": 1,
    "padding": 0,
    "stride_height": 1,
    "stride_width": 1,
}
POOL_OPTIONS = {"filter_height": 2, "filter_width": 2, "padding": 0, "stride_height": 2, "stride_width": 2}


class Graph:
    """A one-subgraph model under construction: tensors by name, LCE ops in order."""

    def __init__(self, rng):
        self.rng = rng
        self.model = schema.ModelT()
        self.model.version = 3
        self.model.buffers = [schema.BufferT()]
        self.model.operatorCodes = []
        self.graph = schema.SubGraphT()
        self.graph.tensors, self.graph.operators = [], []

    def tensor(self, name, shape, type_, data=None, scale=None, zero_point=0):
        tensor = schema.TensorT()
        tensor.name, tensor.shape, tensor.type = name, list(shape), type_
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8).copy()
            self.model.buffers.append(buffer)
            tensor.buffer = len(self.model.buffers) - 1
        if scale is not None:
            tensor.quantization = schema.QuantizationParametersT()
            tensor.quantization.scale, tensor.quantization.zeroPoint = [float(scale)], [int(zero_point)]
        self.graph.tensors.append(tensor)
        return len(self.graph.tensors) - 1

    def words(self, name, shape):
        """A constant int32 tensor of random bits."""
        return self.tensor(
            name, shape, INT32, self.rng.integers(-(2**31), 2**31, shape, dtype=np.int64).astype(np.int32)
        )

    def floats(self, name, count, low=-1.0, high=1.0):
        return self.tensor(name, [count], FLOAT32, self.rng.uniform(low, high, count).astype(np.float32))

    def op(self, name, inputs, outputs, options=None):
        codes = [code.customCode for code in self.model.operatorCodes]
        if name.encode() not in codes:
            code = schema.OperatorCodeT()
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
            code.customCode, code.version = name.encode(), 1
            self.model.operatorCodes.append(code)
            codes.append(name.encode())
        op = schema.OperatorT()
        op.opcodeIndex = codes.index(name.encode())
        op.inputs, op.outputs = list(inputs), list(outputs)
        if options is not None:
            op.customOptions = list(flexbuffers.Dumps(options))
        self.graph.operators.append(op)

    def finish(self, inputs, outputs):
        self.graph.inputs, self.graph.outputs = list(inputs), list(outputs)
        self.model.subgraphs = [self.graph]
        return self.model


def base_model(name: str, seed: int = 0) -> schema.ModelT:
    """One of the three base models (see the module's docstring), weights drawn from `seed`."""
    g = Graph(np.random.default_rng(seed))
    if name == "float":
        x = g.tensor("input", [1, 9, 9, 40], FLOAT32)
        q = g.tensor("packed", [1, 9, 9, 2], INT32)
        y = g.tensor("output", [1, 9, 9, 17], FLOAT32)
        g.op("LceQuantize", [x], [q])
        weights = [g.words("filter", [17, 3, 3, 2]), g.floats("multiplier", 17), g.floats("bias", 17), -1]
        g.op("LceBconv2d", [q, *weights], [y], CONV_OPTIONS)
        return g.finish([x], [y])
    if name == "bitpacked":
        x = g.tensor("input", [1, 12, 12, 40], FLOAT32)
        q = g.tensor("packed", [1, 12, 12, 2], INT32)
        c = g.tensor("conv", [1, 8, 8, 2], INT32)
        p = g.tensor("pooled", [1, 4, 4, 2], INT32)
        y = g.tensor("output", [1, 4, 4, 35], FLOAT32)
        g.op("LceQuantize", [x], [q])
        thresholds = g.tensor("thresholds", [35], INT32, g.rng.integers(0, 180, 35).astype(np.int32))
        options = dict(CONV_OPTIONS, padding=1, dilation_height_factor=2, dilation_width_factor=2)
        g.op("LceBconv2d", [q, g.words("filter", [35, 3, 3, 2]), -1, -1, thresholds], [c], options)
        g.op("LceBMaxPool2d", [c], [p], POOL_OPTIONS)
        g.op("LceDequantize", [p], [y])
        return g.finish([x], [y])
    if name == "int8":
        x = g.tensor("input", [1, 8, 8, 64], INT8, scale=0.1, zero_point=3)
        q = g.tensor("packed", [1, 8, 8, 2], INT32)
        y = g.tensor("output", [1, 8, 8, 32], INT8, scale=0.05, zero_point=-2)
        z = g.tensor("unpacked", [1, 8, 8, 64], INT8, scale=0.5, zero_point=1)
        g.op("LceQuantize", [x], [q])
        weights = [g.words("filter", [32, 3, 3, 1]), g.floats("multiplier", 32), g.floats("bias", 32), -1]
        g.op("LceBconv2d", [q, *weights], [y], dict(CONV_OPTIONS, channels_in=64))
        g.op("LceDequantize", [q], [z])
        return g.finish([x], [y, z])
    raise KeyError(f"no base model {name!r} (float, bitpacked, int8)")


BASES = ("float", "bitpacked", "int8")


# --- mutations --------------------------------------------------------------------------------


def _tensor(model, name):
    tensors = model.subgraphs[0].tensors
    if isinstance(name, int):
        return tensors[name]
    return next(t for t in tensors if (t.name.decode() if isinstance(t.name, bytes) else t.name) == name)


def _index(model, name):
    if isinstance(name, int):
        return name
    tensors = model.subgraphs[0].tensors
    return next(i for i, t in enumerate(tensors) if (t.name.decode() if isinstance(t.name, bytes) else t.name) == name)


def _data(model, tensor) -> np.ndarray:
    return np.asarray(model.buffers[tensor.buffer].data if tensor.buffer else [], np.uint8)


def _set_data(model, tensor, data) -> None:
    buffer = schema.BufferT()
    buffer.data = np.asarray(data, np.uint8)
    model.buffers.append(buffer)
    tensor.buffer = len(model.buffers) - 1


def sparse(model, name):
    """Marks a tensor sparse (dense dimensions, as a converter could): LiteRT then skips its size check."""
    tensor = _tensor(model, name)
    params = schema.SparsityParametersT()
    params.traversalOrder = list(range(len(tensor.shape)))
    params.dimMetadata = []
    for size in tensor.shape:
        dim = schema.DimensionMetadataT()
        dim.format, dim.denseSize = schema.DimensionType.DENSE, int(size)
        params.dimMetadata.append(dim)
    tensor.sparsity = params


def buffer_size(model, name, size):
    """The tensor's constant data cut or zero-extended to `size` bytes."""
    tensor = _tensor(model, name)
    data = _data(model, tensor)
    _set_data(model, tensor, np.concatenate([data, np.zeros(max(0, size - len(data)), np.uint8)])[:size])


def shape(model, name, dims):
    _tensor(model, name).shape = list(dims)


def tensor_type(model, name, type_):
    _tensor(model, name).type = int(type_)


def option(model, op, key, value):
    """Sets (or with value None removes) one option of op number `op`."""
    operator = model.subgraphs[0].operators[op]
    try:
        options = flexbuffers.Loads(bytes(bytearray(operator.customOptions))) if operator.customOptions else {}
    except Exception:  # noqa: BLE001 - damaged by an earlier mutation: start a new map
        options = {}
    if not isinstance(options, dict):
        options = {}
    if value is None:
        options.pop(key, None)
    else:
        options[key] = value
    operator.customOptions = list(flexbuffers.Dumps(options))


def option_bytes(model, op, edits):
    """Byte edits of op number `op`'s options: [position, value] pairs (value None: cut there)."""
    operator = model.subgraphs[0].operators[op]
    data = bytearray(operator.customOptions or b"")
    for position, value in edits:
        position %= max(1, len(data))
        if value is None:
            del data[position:]
        elif data:
            data[position] = value & 0xFF
    operator.customOptions = list(data) if data else None


def constant(model, name, value=True):
    """Makes a tensor constant (zero bytes for its shape) or, with False, a plain (arena) tensor."""
    tensor = _tensor(model, name)
    if not value:
        tensor.buffer = 0
        return
    size = int(np.prod(tensor.shape)) * {FLOAT32: 4, INT32: 4, INT8: 1}.get(tensor.type, 4)
    _set_data(model, tensor, np.zeros(max(0, size), np.uint8))


def quantization(model, name, scale, zero_point):
    tensor = _tensor(model, name)
    tensor.quantization = schema.QuantizationParametersT()
    tensor.quantization.scale, tensor.quantization.zeroPoint = [float(scale)], [int(zero_point)]


def op_input(model, op, slot, name):
    """Op number `op`'s input `slot` becomes tensor `name` (a number may be -1, none, or out of range)."""
    model.subgraphs[0].operators[op].inputs[slot] = _index(model, name)


def op_output(model, op, slot, name):
    model.subgraphs[0].operators[op].outputs[slot] = _index(model, name)


def drop_op(model, op):
    """Removes op number `op`; what it wrote is no longer a model output."""
    graph = model.subgraphs[0]
    removed = graph.operators.pop(op)
    graph.outputs = [i for i in graph.outputs if i not in list(removed.outputs)] or [graph.inputs[0]]


def op_code(model, op, name):
    """Op number `op` becomes custom op `name` (its tensors and options stay)."""
    codes = [code.customCode for code in model.operatorCodes]
    if name.encode() not in codes:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
        code.customCode, code.version = name.encode(), 1
        model.operatorCodes.append(code)
        codes.append(name.encode())
    model.subgraphs[0].operators[op].opcodeIndex = codes.index(name.encode())


MUTATIONS = {
    f.__name__: f
    for f in (
        sparse,
        buffer_size,
        shape,
        tensor_type,
        option,
        option_bytes,
        constant,
        quantization,
        op_input,
        op_output,
        drop_op,
        op_code,
    )
}


def build(base: str, mutations=(), seed: int = 0) -> bytes:
    """The flatbuffer of `base` with `mutations` applied: [[name, *arguments], ...]."""
    return _mutated(base_model(base, seed), mutations)


def mutate(content: bytes, mutations) -> bytes:
    """Any flatbuffer (a converted model, its metadata kept) with `mutations` applied."""
    return _mutated(schema.ModelT.InitFromPackedBuf(bytearray(content), 0), mutations)


def first_op(content: bytes, name: str) -> tuple[int, list[int]]:
    """(op number, its tensor indices) of the first op `name` of the model's main subgraph."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    codes = [code.customCode for code in model.operatorCodes]
    for number, op in enumerate(model.subgraphs[0].operators):
        if codes[op.opcodeIndex] == name.encode():
            return number, [int(i) for i in op.inputs]
    raise KeyError(f"no {name} op")


def _mutated(model, mutations) -> bytes:
    for name, *arguments in mutations:
        try:
            MUTATIONS[name](model, *arguments)
        except (IndexError, StopIteration):
            pass  # an op or tensor an earlier mutation removed: this one no longer applies
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# --- running ------------------------------------------------------------------------------------


def interpreter_module():
    from ai_edge_litert import interpreter

    return interpreter


def run_model(content: bytes, library: str, resizes=(), threads: int = 1, kernel: str = "auto") -> str:
    """Loads, allocates and runs `content` with the delegate (on kernel path `kernel`), then once
    per shape in `resizes` (the first input resized to it). "ok", or the first line of the
    interpreter's error and where it came from ("delegate", "construct", "allocate", "invoke",
    "resize")."""
    module = interpreter_module()
    options = {"num_threads": str(threads)} if kernel == "auto" else {"num_threads": str(threads), "kernel": kernel}
    try:
        delegate = module.load_delegate(library, options)
    except (ValueError, RuntimeError, OSError) as error:  # e.g. a kernel path this CPU lacks
        return f"delegate: {str(error).splitlines()[-1] if str(error) else type(error).__name__}"
    stage = "construct"
    try:
        interpreter = module.Interpreter(
            model_content=content,
            num_threads=threads,
            experimental_delegates=[delegate],
            experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        for shape in [None, *resizes]:
            if shape is not None:
                stage = "resize"
                interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(shape), strict=False)
            stage = "allocate"
            interpreter.allocate_tensors()
            stage = "invoke"
            rng = np.random.default_rng(0)
            for detail in interpreter.get_input_details():
                dtype = detail["dtype"]
                values = rng.standard_normal(detail["shape"]) * 50
                interpreter.set_tensor(detail["index"], values.astype(dtype))
            interpreter.invoke()
            for detail in interpreter.get_output_details():
                interpreter.get_tensor(detail["index"])
    except (RuntimeError, ValueError) as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        return f"{stage}: {lines[0] if lines else type(error).__name__}"
    return "ok"


def run_recipe(recipe: dict, library: str) -> str:
    try:
        content = build(recipe["base"], recipe.get("mutations", ()), recipe.get("seed", 0))
    except Exception as error:  # noqa: BLE001 - a mutant the flatbuffers package cannot write
        return f"unbuildable: {type(error).__name__}: {error}"
    return run_model(
        content,
        library,
        recipe.get("resizes", ()),
        threads=recipe.get("threads", 1),
        kernel=recipe.get("kernel", "auto"),
    )


def as_expected(recipe: dict, result: str) -> bool:
    """Whether `result` (run_recipe's) is what regression case `recipe` expects: "ok"; a
    refusal from allocate_tensors() containing `expect`; or, where `expect` names another stage
    ("construct: ", "invoke: "), a result that starts with it."""
    expect = recipe["expect"]
    if expect == "ok" or expect.startswith(("construct: ", "invoke: ")):
        return result.startswith(expect)
    return result.startswith("allocate: ") and expect in result


def default_library() -> str:
    """The delegate installed with bcn, else $BCN_LCE_DELEGATE."""
    try:
        from bcn.runtime.delegate import library_path
    except ModuleNotFoundError:
        return os.environ["BCN_LCE_DELEGATE"]
    return str(library_path())


def main(argv=None) -> int:
    """Two uses:

    python lce_crafted.py --check tests/delegate_regressions.json [--library LIB]
        runs the regression cases, one line each; exits 1 if any is not as expected.
    python lce_crafted.py [--library LIB] < RECIPES
        runs recipes given as JSON lines, printing "<number> start", then "<number> <result>",
        each flushed before the next (tests/fuzz_delegate.py's child: a crash names its case).
    """
    import argparse

    parser = argparse.ArgumentParser(description="Run crafted LCE models with bcn's delegate.")
    parser.add_argument("--library", help="the delegate library (default: bcn's, else $BCN_LCE_DELEGATE)")
    parser.add_argument("--check", type=Path, help="a JSON list of regression cases to check")
    args = parser.parse_args(argv)
    library = args.library or default_library()
    if args.check is None:
        for number, line in enumerate(sys.stdin):
            if line.strip():
                print(number, "start", flush=True)
                print(number, run_recipe(json.loads(line), library), flush=True)
        return 0
    cases = json.loads(args.check.read_text())
    machine = platform.machine().lower()
    wrong = skipped = 0
    for case in cases:
        if machine in case.get("skip_on", {}):
            skipped += 1
            print(f"skipped on {machine}: {case['name']}: {case['skip_on'][machine]}", flush=True)
            continue
        result = run_recipe(case, library)
        good = as_expected(case, result)
        wrong += not good
        print(f"{'as expected' if good else 'NOT AS EXPECTED'}: {case['name']}: {result}", flush=True)
    good = len(cases) - wrong - skipped
    print(f"{len(cases)} cases: {good} as expected, {wrong} not, {skipped} skipped on {machine}")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
