"""Read a TFLite flatbuffer's tables with the `flatbuffers` package only (no TensorFlow).

Walks just the tables of the TFLite schema (tensorflow/lite/schema/schema.fbs) that the
runtime needs: the op codes (does a model have LCE's custom ops?) and the metadata entries
(bcn.runtime.metadata).
"""

import struct

from flatbuffers import encode, number_types, packer
from flatbuffers.table import Table

FILE_IDENTIFIER = b"TFL3"
# LCE 0.16's custom ops, which bcn's LCE delegate (or LCE's interpreter) runs.
LCE_OPS = ("LceBconv2d", "LceQuantize", "LceDequantize", "LceBMaxPool2d")

# Field numbers in the TFLite schema.
_MODEL_OPERATOR_CODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS, _MODEL_METADATA = 1, 2, 4, 6
_SUBGRAPH_TENSORS, _SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS = 0, 1, 2
_TENSOR_SHAPE = 0
_OPERATOR_CODE_CUSTOM = 1
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


class FlatbufferError(ValueError):
    """Not a TFLite flatbuffer, or one whose tables cannot be read."""


def _field(table: Table, number: int) -> int:
    """Offset of field `number` in `table`, 0 when absent."""
    return table.Offset(4 + 2 * number)


def _vector(table: Table, number: int) -> tuple[int, int]:
    """(start, length) of a vector field of 4-byte items, (0, 0) when absent; one past the end is refused."""
    offset = _field(table, number)
    if not offset:
        return 0, 0
    start, length = table.Vector(offset), table.VectorLen(offset)
    if start + 4 * length > len(table.Bytes):
        raise FlatbufferError(f"a vector of {length} items at {start} ends past the end of the file")
    return start, length


def _tables(table: Table, number: int) -> list[Table]:
    """The tables of a vector-of-tables field."""
    start, length = _vector(table, number)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(length)]


def _ints(table: Table, number: int) -> list[int]:
    """The items of a vector-of-int32 field."""
    start, length = _vector(table, number)
    return [encode.Get(packer.int32, table.Bytes, start + 4 * i) for i in range(length)]


def _scalar(table: Table, number: int, flags) -> int:
    offset = _field(table, number)
    return table.Get(flags, offset + table.Pos) if offset else 0


def _string(table: Table, number: int) -> str | None:
    offset = _field(table, number)
    return table.String(offset + table.Pos).decode("utf-8", "replace") if offset else None


def _model(data) -> Table:
    if len(data) < 8 or bytes(data[4:8]) != FILE_IDENTIFIER:
        raise FlatbufferError("not a TFLite flatbuffer (no TFL3 identifier)")
    return Table(data, encode.Get(packer.uoffset, data, 0))


def custom_ops(data) -> list[str]:
    """Names of the custom ops in the model's op code table."""
    try:
        codes = _tables(_model(data), _MODEL_OPERATOR_CODES)
        return [name for name in (_string(code, _OPERATOR_CODE_CUSTOM) for code in codes) if name]
    except FlatbufferError:
        raise
    except (IndexError, struct.error, ValueError) as error:  # offsets past the end of a truncated file
        raise FlatbufferError(f"damaged TFLite flatbuffer ({error})") from error


def io_shapes(data) -> tuple[list[tuple], list[tuple]]:
    """Shapes of the main subgraph's inputs and outputs as the flatbuffer declares them (no interpreter)."""
    try:
        subgraphs = _tables(_model(data), _MODEL_SUBGRAPHS)
        if not subgraphs:
            raise FlatbufferError("a TFLite flatbuffer without a subgraph")
        tensors = _tables(subgraphs[0], _SUBGRAPH_TENSORS)

        def shapes(number: int) -> list[tuple]:
            indices = _ints(subgraphs[0], number)
            if not all(0 <= index < len(tensors) for index in indices):
                raise FlatbufferError(f"an input or output tensor index out of range (of {len(tensors)} tensors)")
            return [tuple(_ints(tensors[index], _TENSOR_SHAPE)) for index in indices]

        return shapes(_SUBGRAPH_INPUTS), shapes(_SUBGRAPH_OUTPUTS)
    except FlatbufferError:
        raise
    except (IndexError, struct.error, ValueError) as error:  # offsets past the end of a truncated file
        raise FlatbufferError(f"damaged TFLite flatbuffer ({error})") from error


def has_lce_ops(data) -> bool:
    """Whether the model uses LCE's custom ops (binary layers), read from its op codes."""
    return any(name in LCE_OPS for name in custom_ops(data))


def _buffer_bytes(data, buffer: Table, max_size: int | None = None) -> bytes:
    offset = _field(buffer, _BUFFER_DATA)
    if offset:
        where, size = buffer.Vector(offset), buffer.VectorLen(offset)
    else:
        # Models over 2 GB keep buffers after the flatbuffer, addressed from the file's start.
        where = _scalar(buffer, _BUFFER_OFFSET, number_types.Uint64Flags)
        size = _scalar(buffer, _BUFFER_SIZE, number_types.Uint64Flags)
    if max_size is not None and size > max_size:
        raise FlatbufferError(f"a metadata buffer of {size} bytes, more than the {max_size} metadata may have")
    if where + size > len(data):
        raise FlatbufferError(f"a buffer of {size} bytes at {where} ends past the end of the file ({len(data)} bytes)")
    return bytes(data[where : where + size])


def metadata_bytes(data, name: str, max_size: int | None = None) -> bytes | None:
    """The raw bytes of metadata entry `name` in a TFLite flatbuffer, None if absent; a FlatbufferError for
    one longer than `max_size`."""
    model = _model(data)
    buffers = _tables(model, _MODEL_BUFFERS)
    for entry in _tables(model, _MODEL_METADATA):
        if _string(entry, _METADATA_NAME) == name:
            index = _scalar(entry, _METADATA_BUFFER, number_types.Uint32Flags)
            if index >= len(buffers):
                raise FlatbufferError(f"metadata '{name}' points at missing buffer {index}")
            return _buffer_bytes(data, buffers[index], max_size)
    return None
