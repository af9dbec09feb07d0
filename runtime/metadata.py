"""Read the "bcn" metadata a converted .tflite carries, with the `flatbuffers` package only.

`bcn convert` stores one JSON object in the flatbuffer's `Model.metadata` list under the
name "bcn", pointing at a buffer that holds the UTF-8 JSON (read by bcn.runtime.flatbuffer),
so a device needs no TensorFlow to know how to run a model.
"""

import json
import mmap
import struct
from pathlib import Path

from bcn.runtime.flatbuffer import FlatbufferError, metadata_bytes

METADATA_NAME = "bcn"
FORMAT = "bcn/1"


class MetadataError(ValueError):
    """The file is not a TFLite flatbuffer, or its "bcn" metadata is unreadable."""


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
                raw = metadata_bytes(data, METADATA_NAME)
            except (FlatbufferError, IndexError, struct.error) as error:  # a corrupt or truncated file
                raise MetadataError(f"{path}: {error}") from error
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetadataError(f"{path}: '{METADATA_NAME}' metadata is not JSON ({error})") from error
