"""Look inside a converted flatbuffer: op histogram, and proof the binary layers stayed binary."""

from collections import Counter
from dataclasses import dataclass

import tensorflow as tf
from tensorflow.lite.tools import flatbuffer_utils

from bcn.converters.keras_model import binary_conv_layers, is_binary_conv
from bcn.errors import BcnError

BCONV = "LceBconv2d"
QUANTIZE = "LceQuantize"

# The TFLite op a Keras layer between two binary convs becomes; None: fused into a neighbour.
EXPECTED_OP = {
    "Add": "ADD",
    "MaxPooling2D": "MAX_POOL_2D",
    "AveragePooling2D": "AVERAGE_POOL_2D",
    "DepthwiseConv2D": "DEPTHWISE_CONV_2D",
    "QuantDepthwiseConv2D": "DEPTHWISE_CONV_2D",
    "Conv2D": "CONV_2D",
    "QuantConv2D": "CONV_2D",
    "Concatenate": "CONCATENATION",
    "ZeroPadding2D": "PAD",
    "BatchNormalization": None,
    "ReLU": None,
    "Activation": None,
    "TFOpLambda": "ADD",  # x + y written as an operator in the functional API
    "Multiply": "MUL",  # real-to-binary's data-dependent scaling
    "PReLU": "PRELU",
    "Lambda": None,  # real-to-binary's identity block outputs
}
# Batch norm folds into a conv right before it, and into a binary conv before its ReLU
# (LceBconv2d applies its activation, then a multiply and an add); anywhere else (e.g.
# after a float conv's ReLU) it stays a multiply and an add.
FOLDS_BATCHNORM = ("Conv2D", "QuantConv2D", "DepthwiseConv2D", "QuantDepthwiseConv2D")
ACTIVATIONS = ("ReLU", "Activation")


def _batchnorm_folds(layer) -> bool:
    inbound = layer.inbound_nodes[0].inbound_layers
    if type(inbound).__name__ in ACTIVATIONS:
        inbound = inbound.inbound_nodes[0].inbound_layers
        return is_binary_conv(inbound)
    if is_binary_conv(inbound):
        return True
    return type(inbound).__name__ in FOLDS_BATCHNORM and getattr(inbound, "activation", None) in (
        None,
        tf.keras.activations.linear,
    )


def _expected_ops(layer) -> list[str]:
    kind = type(layer).__name__
    if kind == "BatchNormalization":
        return [] if _batchnorm_folds(layer) else ["MUL", "ADD"]
    if kind == "QuantConv2D" and getattr(layer, "pad_values", 0) and layer.padding == "same":
        return ["PADV2", "CONV_2D"]  # a full-precision conv padded with a value other than 0
    return [EXPECTED_OP[kind]] if EXPECTED_OP.get(kind) else []


def _op_name(model, opcode_index: int) -> str:
    code = model.operatorCodes[opcode_index]
    if code.customCode:
        return code.customCode.decode()
    return flatbuffer_utils.opcode_to_name(model, opcode_index)


@dataclass
class Op:
    name: str
    inputs: list[int]
    outputs: list[int]


@dataclass
class Graph:
    """The main subgraph of a TFLite flatbuffer, in execution order."""

    ops: list[Op]
    tensor_names: list[str]
    tensor_shapes: list[tuple]
    output_tensors: list[int]
    output_shapes: list[tuple]
    signature_outputs: dict  # output name -> tensor index, from the serving signature

    @classmethod
    def from_flatbuffer(cls, flatbuffer: bytes) -> "Graph":
        model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
        subgraph = model.subgraphs[0]
        names = [_op_name(model, op.opcodeIndex) for op in subgraph.operators]
        ops = [
            Op(name, [i for i in op.inputs if i >= 0], list(op.outputs)) for name, op in zip(names, subgraph.operators)
        ]
        signature = {}
        for definition in model.signatureDefs or []:
            signature.update({entry.name.decode(): entry.tensorIndex for entry in definition.outputs})
        return cls(
            ops,
            [tensor.name.decode() for tensor in subgraph.tensors],
            [tuple(int(d) for d in tensor.shape) if tensor.shape is not None else () for tensor in subgraph.tensors],
            list(subgraph.outputs),
            [tuple(subgraph.tensors[i].shape) for i in subgraph.outputs],
            signature,
        )

    def histogram(self) -> dict[str, int]:
        """How many of each op, most frequent first."""
        return dict(Counter(op.name for op in self.ops).most_common())

    def _reach(self, start: set[int], forward: bool) -> set[int]:
        """Indices of ops reachable from ops `start` (excluded) following tensors."""
        producer = {t: i for i, op in enumerate(self.ops) for t in op.outputs}
        consumers: dict[int, list[int]] = {}
        for i, op in enumerate(self.ops):
            for t in op.inputs:
                consumers.setdefault(t, []).append(i)
        seen, todo = set(), list(start)
        while todo:
            op = self.ops[todo.pop()]
            nexts = (
                [c for t in op.outputs for c in consumers.get(t, [])]
                if forward
                else [producer[t] for t in op.inputs if t in producer]
            )
            for index in nexts:
                if index not in seen:
                    seen.add(index)
                    todo.append(index)
        return seen - set(start)

    def ancestors(self, index: int) -> set[int]:
        """Indices of the ops that op `index` depends on."""
        return self._reach({index}, False)

    def between(self, first: int, second: int) -> list[str]:
        """Names of the ops after op `first` that op `second` depends on."""
        return [self.ops[i].name for i in sorted(self._reach({first}, True) & self._reach({second}, False))]


def _keras_reach(model: tf.keras.Model, layer, forward: bool) -> set[int]:
    """ids of the layers reachable from `layer` (excluded) in the Keras graph."""
    parents = {id(each): [] for each in model.layers}
    children = {id(each): [] for each in model.layers}
    for child in model.layers:
        for node in child._inbound_nodes:
            inbound = node.inbound_layers
            for parent in inbound if isinstance(inbound, list) else [inbound]:
                if id(parent) in parents:
                    parents[id(child)].append(parent)
                    children[id(parent)].append(child)
    links = children if forward else parents
    seen, todo = set(), [layer]
    while todo:
        for other in links[id(todo.pop())]:
            if id(other) not in seen:
                seen.add(id(other))
                todo.append(other)
    return seen


def _keras_between(model: tf.keras.Model, first, second) -> list:
    """The Keras layers after `first` that `second` depends on."""
    ids = _keras_reach(model, first, True) & _keras_reach(model, second, False)
    return [layer for layer in model.layers if id(layer) in ids]


def _layers_named_in(graph: Graph, op_indices) -> set[str]:
    """Keras layer names in the names of these ops' input tensors (the converter keeps them, truncated)."""
    names = set()
    for index in op_indices:
        for tensor in graph.ops[index].inputs:
            for part in graph.tensor_names[tensor].split(";"):
                names.update(part.split("/"))
    return names


def _direct_predecessors(nodes: list, ancestors: dict) -> dict:
    """For each node, the nodes among `nodes` it depends on with none of them in between."""
    result = {}
    for node in nodes:
        above = [other for other in nodes if other in ancestors[node]]
        result[node] = [a for a in above if not any(a in ancestors[b] for b in above if b != a)]
    return result


def _filter_shape(layer) -> tuple:
    """The bitpacked filter shape LCE gives a binary conv: (out, kh, kw, words of in / groups)."""
    kh, kw, channels_in, channels_out = (int(d) for d in layer.kernel.shape)
    return channels_out, kh, kw, (channels_in + 31) // 32


def pair_binary_layers(model: tf.keras.Model, graph: Graph, source: str) -> dict[int, object]:
    """Each LceBconv2d op index -> its Keras binary conv layer, paired by the graphs.

    Both graphs are reduced to their binary convs and which binary convs each one directly
    depends on; a binary conv pairs with the op whose paired predecessors are its own and
    whose bitpacked filter has its shape. Among equal candidates (parallel branches of the
    same shape) the layer's name in the op's tensor names decides. So user builders with
    branches are checked as their graph says, whatever order the converter wrote ops in.
    """
    binary = binary_conv_layers(model)
    bconvs = [i for i, op in enumerate(graph.ops) if op.name == BCONV]
    keras_ancestors = {id(layer): _keras_reach(model, layer, False) for layer in binary}
    keras_above = _direct_predecessors([id(layer) for layer in binary], keras_ancestors)
    op_ancestors = {i: graph.ancestors(i) for i in bconvs}
    op_above = _direct_predecessors(bconvs, op_ancestors)
    by_id = {id(layer): layer for layer in binary}
    pairs: dict[int, object] = {}
    paired_op = {}
    todo = list(binary)
    while todo:
        progress = False
        for layer in list(todo):
            if any(id(by_id[a]) not in paired_op for a in keras_above[id(layer)]):
                continue  # its predecessors first
            above = {paired_op[a] for a in keras_above[id(layer)]}
            candidates = [
                i
                for i in bconvs
                if i not in pairs
                and set(op_above[i]) == above
                and graph.tensor_shapes[graph.ops[i].inputs[1]] == _filter_shape(layer)
            ]
            named = [i for i in candidates if layer.name in _layers_named_in(graph, [i])]
            chosen = (named or candidates)[:1]
            if not chosen:
                raise BcnError(
                    f"{source}: binary layer {layer.name} has no {BCONV} op in the converted graph "
                    "with its inputs and filter shape"
                )
            pairs[chosen[0]] = layer
            paired_op[id(layer)] = chosen[0]
            todo.remove(layer)
            progress = True
        if not progress:
            raise BcnError(f"{source}: the binary layers' graph could not be paired with the converted graph")
    return pairs


def check_binary_layers(model: tf.keras.Model, graph: Graph, source: str) -> dict:
    """Fail unless every binary conv became LceBconv2d with no unasked-for float ops between them.

    Binary convs and LceBconv2d ops are paired by the graphs (pair_binary_layers). Between a
    binary conv and each binary conv that directly depends on it, the flatbuffer may hold
    the ops of the Keras layers between them (batch norm and ReLU fuse away) and one
    LceQuantize; anything more was inserted by the converter.
    """
    binary = binary_conv_layers(model)
    bconvs = [i for i, op in enumerate(graph.ops) if op.name == BCONV]
    if len(bconvs) != len(binary):
        named = _layers_named_in(graph, bconvs)
        stayed = [layer.name for layer in binary if layer.name not in named] or [layer.name for layer in binary]
        raise BcnError(
            f"{source}: {len(binary)} binary conv layers but {len(bconvs)} {BCONV} ops after "
            f"conversion; not converted to {BCONV}: {', '.join(stayed)}"
        )
    op_of = {id(layer): index for index, layer in pair_binary_layers(model, graph, source).items()}
    keras_ancestors = {id(layer): _keras_reach(model, layer, False) for layer in binary}
    above = _direct_predecessors([id(layer) for layer in binary], keras_ancestors)
    by_id = {id(layer): layer for layer in binary}
    problems = []
    for second in binary:
        for first in (by_id[a] for a in above[id(second)]):
            layers = _keras_between(model, first, second)
            expected = Counter({QUANTIZE: 1})
            unknown = 0
            for layer in layers:
                if type(layer).__name__ not in EXPECTED_OP:
                    unknown += 1
                expected.update(_expected_ops(layer))
            extra = Counter(graph.between(op_of[id(first)], op_of[id(second)])) - expected
            if sum(extra.values()) > unknown:
                ops = ", ".join(f"{count} {name}" for name, count in extra.items())
                problems.append(f"{ops} between {first.name} and {second.name}")
    if problems:
        raise BcnError(f"{source}: the converter inserted float ops between binary layers: {'; '.join(problems)}")
    return {"keras_binary_convs": len(binary), BCONV: len(bconvs)}


def output_layout(graph: Graph, model: tf.keras.Model, source: str) -> dict[str, int]:
    """Each head's index in the interpreter's output list: {"heatmap": i, "size": j, "offset": k}.

    Read from the flatbuffer's serving signature (output name -> tensor); checked against
    the Keras output shapes.
    """
    names = [name.split("/")[0] for name in model.output_names]
    shapes = [tuple(int(d) for d in output.shape[1:]) for output in model.outputs]
    layout = {}
    for name, shape in zip(names, shapes):
        tensor = graph.signature_outputs.get(name)
        if tensor not in graph.output_tensors:
            raise BcnError(f"{source}: the flatbuffer's signature has no output '{name}'")
        index = graph.output_tensors.index(tensor)
        if tuple(graph.output_shapes[index][1:]) != shape:
            raise BcnError(f"{source}: output '{name}' has shape {graph.output_shapes[index]}, Keras gives {shape}")
        layout[name] = index
    return layout
