"""Read the "bcn" metadata a converted .tflite carries, with the `flatbuffers` package only.

`bcn convert` stores one JSON object in the flatbuffer's `Model.metadata` list under the
name "bcn", pointing at a buffer that holds the UTF-8 JSON. This reader walks just those
tables of the TFLite schema (tensorflow/lite/schema/schema.fbs), so a device needs no
TensorFlow to know how to run a model.
"""

import json
import mmap
import struct
from pathlib import Path

from flatbuffers import encode, number_types, packer
from flatbuffers.table import Table

METADATA_NAME = "bcn"
FORMAT = "bcn/1"
FILE_IDENTIFIER = b"TFL3"

# Field numbers in the TFLite schema.
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


class MetadataError(ValueError):
    """The file is not a TFLite flatbuffer, or its "bcn" metadata is unreadable."""


def _field(table: Table, number: int) -> int:
    """Offset of field `number` in `table`, 0 when absent."""
    return table.Offset(4 + 2 * number)


def _tables(table: Table, number: int) -> list[Table]:
    """The tables of a vector-of-tables field."""
    offset = _field(table, number)
    if not offset:
        return []
    start = table.Vector(offset)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(table.VectorLen(offset))]


def _scalar(table: Table, number: int, flags) -> int:
    offset = _field(table, number)
    return table.Get(flags, offset + table.Pos) if offset else 0


def _buffer_bytes(data, buffer: Table) -> bytes:
    offset = _field(buffer, _BUFFER_DATA)
    if offset:
        start = buffer.Vector(offset)
        return bytes(data[start : start + buffer.VectorLen(offset)])
    # Models over 2 GB keep buffers after the flatbuffer, addressed from the file's start.
    where = _scalar(buffer, _BUFFER_OFFSET, number_types.Uint64Flags)
    size = _scalar(buffer, _BUFFER_SIZE, number_types.Uint64Flags)
    return bytes(data[where : where + size])


def metadata_bytes(data, name: str = METADATA_NAME) -> bytes | None:
    """The raw bytes of metadata entry `name` in a TFLite flatbuffer, None if absent."""
    if len(data) < 8 or bytes(data[4:8]) != FILE_IDENTIFIER:
        raise MetadataError("not a TFLite flatbuffer (no TFL3 identifier)")
    model = Table(data, encode.Get(packer.uoffset, data, 0))
    buffers = _tables(model, _MODEL_BUFFERS)
    for entry in _tables(model, _MODEL_METADATA):
        name_offset = _field(entry, _METADATA_NAME)
        if name_offset and entry.String(name_offset + entry.Pos).decode() == name:
            index = _scalar(entry, _METADATA_BUFFER, number_types.Uint32Flags)
            if index >= len(buffers):
                raise MetadataError(f"metadata '{name}' points at missing buffer {index}")
            return _buffer_bytes(data, buffers[index])
    return None


def read_metadata(path) -> dict | None:
    """The "bcn" metadata dict of the .tflite at `path`, or None if it has none.

    Raises FileNotFoundError for a missing file and MetadataError for a file that is not
    a TFLite flatbuffer or whose metadata is not JSON.
    """
    path = Path(path)
    with path.open("rb") as file:
        if path.stat().st_size < 8:
            raise MetadataError(f"{path}: not a TFLite flatbuffer (file too short)")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                raw = metadata_bytes(data)
            except (MetadataError, IndexError, struct.error) as error:  # a corrupt or truncated file
                raise MetadataError(f"{path}: {error}") from error
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetadataError(f"{path}: '{METADATA_NAME}' metadata is not JSON ({error})") from error
