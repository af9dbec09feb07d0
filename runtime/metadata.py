"""Read and check the "bcn" metadata a converted .tflite carries, with the `flatbuffers` package only.

`bcn convert` stores one JSON object in the flatbuffer's `Model.metadata` list under the
name "bcn", pointing at a buffer that holds the UTF-8 JSON (read by bcn.runtime.flatbuffer),
so a device needs no TensorFlow to know how to run a model.

A model file may be crafted: every reader goes through `check_metadata`, which bounds the
JSON's size and nesting, checks each field's type and range and, given the model's tensor
shapes, that the metadata agrees with the model (input size, output stride, heads, classes).
Anything else is one MetadataError line naming the file and the field.
"""

import json
import math
import mmap
import re
import struct
from pathlib import Path

from bcn.centernet import HEADS
from bcn.preprocess import PREPROCESSING
from bcn.runtime.flatbuffer import FlatbufferError, metadata_bytes

METADATA_NAME = "bcn"
FORMAT = "bcn/1"
MAX_BYTES = 1 << 20  # bcn's metadata is a few hundred bytes; a megabyte is not metadata
MAX_DEPTH = 16  # nesting of JSON objects and lists (bcn writes 2)
MAX_INPUT_SIZE = 1 << 14
MAX_CLASSES = 4096
MAX_NAME = 128  # characters of a class name
MAX_TEXT = 4096  # characters of spec and other free text
# What a converted file is: the binary model with its full-precision layers (stem, transitions, decoder,
# heads) in float32 or int8, or the float twin in float32 or int8; each variant's precision of those layers.
PRECISION = {"binary": "float32", "binary-int8": "int8", "float32": "float32", "int8": "int8"}
VARIANTS = tuple(PRECISION)
BINARY_VARIANTS = {variant: PRECISION[variant] for variant in ("binary", "binary-int8")}
ENGINES = ("lce", "tflite")
REQUIRED = ("format", "classes", "input_size", "output_stride", "outputs")


class MetadataError(ValueError):
    """The file is not a TFLite flatbuffer, or its "bcn" metadata is unreadable or does not fit the model."""


def read_metadata(path) -> dict | None:
    """The checked "bcn" metadata dict of the .tflite at `path`, or None if it has none.

    Raises FileNotFoundError for a missing file and MetadataError for a file that is not
    a TFLite flatbuffer or whose metadata fails `parse_metadata`.
    """
    path = Path(path)
    with path.open("rb") as file:
        if path.stat().st_size < 8:
            raise MetadataError(f"{path}: not a TFLite flatbuffer (file too short)")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                raw = metadata_bytes(data, METADATA_NAME, max_size=MAX_BYTES)
            except (FlatbufferError, IndexError, struct.error) as error:  # a corrupt or truncated file
                raise MetadataError(f"{path}: {error}") from error
    return None if raw is None else parse_metadata(raw, str(path))


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _unique_keys(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"key {next(key for key in keys if keys.count(key) > 1)!r} appears twice")
    return dict(pairs)


def _depth(text: str) -> int:
    """How deeply the JSON `text` nests objects and lists (brackets inside strings do not count).

    One pass over the characters that matter, stopping past MAX_DEPTH: linear in the text's
    length whatever it holds (a regular expression for strings backtracks on unclosed ones).
    """
    depth = deepest = 0
    in_string, escaped_at = False, -1
    for found in re.finditer(r'[\\"\[\]{}]', text):
        char = found.group()
        if in_string:
            if found.start() == escaped_at:
                continue  # the character after a backslash
            if char == "\\":
                escaped_at = found.end()
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                break
        elif char in "]}":
            depth -= 1
    return deepest


def parse_metadata(raw: bytes, source: str) -> dict:
    """The checked metadata dict of the raw "bcn" metadata bytes (see check_metadata), or a MetadataError."""
    what = f"{source}: bcn metadata"
    if len(raw) > MAX_BYTES:
        raise MetadataError(f"{what} is {len(raw)} bytes, more than the {MAX_BYTES} metadata may have")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MetadataError(f"{what} is not JSON (not UTF-8: {error.reason} at byte {error.start})") from None
    if _depth(text) > MAX_DEPTH:
        raise MetadataError(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        metadata = json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
        )
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError, as are the hooks' refusals
        raise MetadataError(f"{what} is not JSON ({_one_line(error)})") from None
    return check_metadata(metadata, source)


def _one_line(value, limit: int = 60) -> str:
    text = value if isinstance(value, str) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shown(value) -> str:
    """A value as the error shows it: JSON, on one line, cut short."""
    try:
        return _one_line(json.dumps(value), 40)
    except (TypeError, ValueError):
        return _one_line(repr(value), 40)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def check_metadata(metadata, source: str, input_shape=None, output_shapes=None, stand_in: bool = False) -> dict:
    """`metadata` checked field by field; with the model's tensor shapes, also against the model.

    The one place that says what bcn metadata may hold (every reader goes through it):
    format "bcn/1"; classes a list of 1..4096 distinct non-empty names of at most 128
    characters; input_size an integer 1..16384; output_stride an integer 1..input_size;
    outputs {heatmap, size, offset} -> distinct output indices; the optional fields their
    type (spec, bcn_version text; float_twin a bool; seed an integer; costs finite numbers
    >= 0; engine and variant one of bcn's) or null. Bools are not integers.

    With `input_shape` and `output_shapes` (an engine's): the input is (1, input_size,
    input_size, 3); outputs index every model output once; the heatmap is (1, H, W,
    len(classes)) with H * output_stride == W * output_stride == input_size, and size and
    offset are (1, H, W, 2). Returns a copy, with generic class names where a stand-in
    (`stand_in`: what a user said of a model bcn did not make) has none.

    Raises MetadataError: "SOURCE: bcn metadata 'FIELD' problem", one line.
    """
    label = f"{source}:" if stand_in else f"{source}: bcn metadata"

    def fail(field: str, problem: str):
        raise MetadataError(f"{label} '{field}' {problem}" if field else f"{label} {problem}")

    if not isinstance(metadata, dict):
        fail("", f"is not a JSON object but {_shown(metadata)}")
    metadata = dict(metadata)
    for field in REQUIRED:
        if field not in metadata and not (stand_in and field == "format"):
            fail(field, "is missing")
    if not stand_in and metadata["format"] != FORMAT:
        fail("format", f"is {_shown(metadata['format'])}, not {FORMAT!r}, the one this bcn reads")

    size = metadata["input_size"]
    if not _is_int(size) or not 1 <= size <= MAX_INPUT_SIZE:
        fail("input_size", f"must be an integer from 1 to {MAX_INPUT_SIZE}, not {_shown(size)}")
    stride = metadata["output_stride"]
    if not _is_int(stride) or not 1 <= stride <= size:
        fail("output_stride", f"must be an integer from 1 to the input size {size}, not {_shown(stride)}")

    outputs = metadata["outputs"]
    if (
        not isinstance(outputs, dict)
        or set(outputs) != set(HEADS)
        or not all(_is_int(index) and 0 <= index < len(HEADS) for index in outputs.values())
        or len(set(outputs.values())) != len(HEADS)
    ):
        fail(
            "outputs",
            f"must map {', '.join(HEADS)} to distinct output indices 0..{len(HEADS) - 1}, not {_shown(outputs)}",
        )

    classes = metadata["classes"]
    if not (stand_in and classes is None):
        if not isinstance(classes, list) or not 1 <= len(classes) <= MAX_CLASSES:
            fail("classes", f"must be a list of 1 to {MAX_CLASSES} class names, not {_shown(classes)}")
        for index, name in enumerate(classes):
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not name.isprintable():
                fail(
                    "classes",
                    f"item {index} must be a non-empty printable name of at most {MAX_NAME} "
                    f"characters, not {_shown(name)}",
                )
        if len(set(classes)) != len(classes):
            fail("classes", f"names {_shown(next(name for name in classes if classes.count(name) > 1))} twice")

    _check_optional(metadata, fail)
    if input_shape is not None and output_shapes is not None:
        metadata["classes"] = _check_against_model(metadata, input_shape, output_shapes, fail)
    return metadata


def _check_optional(metadata: dict, fail) -> None:
    """The fields bcn writes for people and reports: each of its type, or null."""
    text_fields = {"spec": MAX_TEXT, "bcn_version": 64}
    for field, limit in text_fields.items():
        value = metadata.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            fail(field, f"must be text of at most {limit} characters or null, not {_shown(value)}")
    for field, allowed in (("engine", ENGINES), ("variant", VARIANTS)):
        value = metadata.get(field)
        if value is not None and value not in allowed:
            fail(field, f"must be one of {', '.join(allowed)} or null, not {_shown(value)}")
    if metadata.get("float_twin") is not None and not isinstance(metadata["float_twin"], bool):
        fail("float_twin", f"must be true, false or null, not {_shown(metadata['float_twin'])}")
    if metadata.get("seed") is not None and not _is_int(metadata["seed"]):
        fail("seed", f"must be an integer or null, not {_shown(metadata['seed'])}")
    for field in ("macs", "binary_macs", "eq_flops", "binary_ratio"):
        value = metadata.get(field)
        if value is not None and (not _is_number(value) or value < 0 or (field == "binary_ratio" and value > 1)):
            fail(
                field,
                f"must be a number {'from 0 to 1' if field == 'binary_ratio' else 'of at least 0'} or null, "
                f"not {_shown(value)}",
            )
    if "preprocessing" in metadata and metadata["preprocessing"] != PREPROCESSING:
        fail(
            "preprocessing",
            f"is {_shown(metadata['preprocessing'])}, not the letterbox this runtime applies {_shown(PREPROCESSING)}",
        )


def _check_against_model(metadata: dict, input_shape, output_shapes, fail) -> list[str]:
    """The model's class names, once the metadata is found to agree with the model's tensors."""
    size, stride, outputs = metadata["input_size"], metadata["output_stride"], metadata["outputs"]
    input_shape = tuple(int(d) for d in input_shape)
    output_shapes = [tuple(int(d) for d in shape) for shape in output_shapes]
    expected = (1, size, size, 3)
    if input_shape != expected:
        fail("input_size", f"{size}: the model's input shape {input_shape} does not match input size {size} {expected}")
    if sorted(outputs.values()) != list(range(len(output_shapes))):
        fail("outputs", f"{_shown(outputs)} does not match the model's {len(output_shapes)} outputs")
    heatmap, box_size, offset = (output_shapes[outputs[head]] for head in HEADS)
    if len(heatmap) != 4 or heatmap[0] != 1 or min(heatmap) < 1:
        fail("outputs", f"heatmap is output {outputs['heatmap']}, of shape {heatmap}: not (1, H, W, classes)")
    height, width, num_classes = heatmap[1:]
    for head, shape in (("size", box_size), ("offset", offset)):
        if shape != (1, height, width, 2):
            fail(
                "outputs",
                f"{head} is output {outputs[head]}, of shape {shape}: not {(1, height, width, 2)} "
                f"beside a heatmap of {heatmap}",
            )
    if height * stride != size or width * stride != size:
        fail(
            "output_stride",
            f"{stride} does not match the model: its {height}x{width} heatmap of a {size} px input "
            f"has stride {size / height:g}",
        )
    classes = metadata["classes"]
    if classes is None:
        return [f"class{i}" for i in range(num_classes)]
    if len(classes) != num_classes:
        fail("classes", f"has {len(classes)} class names for a heatmap of {num_classes} classes")
    return list(classes)
