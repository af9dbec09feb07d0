"""Write the "bcn" metadata into a TFLite flatbuffer (the runtime reads it without TensorFlow)."""

import json

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from bcn import __version__
from bcn.centernet import OUTPUT_STRIDE
from bcn.preprocess import PREPROCESSING
from bcn.runtime.metadata import FORMAT, METADATA_NAME

COST_KEYS = ("macs", "binary_macs", "binary_ratio", "eq_flops")


def build_metadata(*, classes, input_size, outputs, spec, float_twin, cost, engine, variant, seed=None) -> dict:
    """The metadata dict every converted model carries (keys per the runtime's contract).

    `seed` drew the binary blocks of a random spec (None where unknown)."""
    return {
        "format": FORMAT,
        "classes": list(classes),
        "input_size": int(input_size),
        "preprocessing": dict(PREPROCESSING),
        "output_stride": OUTPUT_STRIDE,
        "outputs": dict(outputs),
        "spec": spec,
        "float_twin": bool(float_twin),
        "seed": seed,
        **{key: cost[key] for key in COST_KEYS},
        "engine": engine,
        "variant": variant,
        "bcn_version": __version__,
    }


def embed_metadata(flatbuffer: bytes, metadata: dict) -> bytes:
    """A copy of `flatbuffer` with `metadata` as JSON in Model.metadata under "bcn" (replaced if present)."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    model.metadata = model.metadata or []
    entry = next((e for e in model.metadata if e.name.decode() == METADATA_NAME), None)
    if entry is None:
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers)
        model.buffers.append(schema.BufferT())
        model.metadata.append(entry)
    model.buffers[entry.buffer].data = np.frombuffer(json.dumps(metadata, sort_keys=True).encode("utf-8"), np.uint8)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
