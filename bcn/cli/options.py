"""Types of the command line's options, shared by its commands: positive numbers, thread lists, output files.

An output file that names one of a command's inputs is refused by bcn.io.refuse_overwriting_inputs,
called by the command once every input is known.
"""

import math
from pathlib import Path

import click

from bcn.defaults import MAX_THREADS
from bcn.errors import BcnError
from bcn.io import check_output_folder


class Positive(click.ParamType):
    """A finite number above zero, read as `kind` (click.INT or click.FLOAT): nan and inf are refused."""

    def __init__(self, kind: click.ParamType):
        self.kind, self.name = kind, kind.name

    def convert(self, value, param, ctx):
        number = self.kind.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"must be a finite number, got {number}", param, ctx)
        if number <= 0:
            self.fail(f"must be positive, got {number}", param, ctx)
        return number


class ThreadCounts(click.ParamType):
    """Comma-separated thread counts, each from 1 to MAX_THREADS, as a tuple without repeats: "1,2,4" -> (1, 2, 4)."""

    name = "threads"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            counts = tuple(int(part) for part in value.split(",") if part.strip())
        except ValueError:
            self.fail(f"expected a comma-separated list of integers like 1,2,4, got {value!r}", param, ctx)
        if not counts or min(counts) < 1 or max(counts) > MAX_THREADS:
            self.fail(f"thread counts must be from 1 to {MAX_THREADS}, got {value!r}", param, ctx)
        return tuple(dict.fromkeys(counts))


class OutputFile(click.Path):
    """A file to write, as a Path: not an existing folder, in a folder that exists and is writable, and with
    `suffixes`, ending in one of them.

    Both are checked as the option is read, so a command fails before minutes of work,
    in one line (bcn.io.check_output_folder's).
    """

    def __init__(self, suffixes: tuple[str, ...] = ()):
        super().__init__(dir_okay=False, path_type=Path)
        self.suffixes = suffixes

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            option = param.opts[0] if param is not None else "the output"
            raise BcnError(f"{path}: {option} must end in {' or '.join(self.suffixes)}")
        check_output_folder(path)
        return path


POSITIVE_INT = Positive(click.INT)
THREAD_COUNT = click.IntRange(1, MAX_THREADS)
POSITIVE_FLOAT = Positive(click.FLOAT)
THREAD_COUNTS = ThreadCounts()
OUTPUT_FILE = OutputFile()
KERAS_MODEL_FILE = OutputFile((".h5", ".keras"))

# Options that mean the same in several commands; each takes the words that differ.
ENGINE_CHOICES = ("lce", "tflite")


def engine_option(what: str):
    """--engine: the interpreter that runs `what` (a .tflite model)."""
    return click.option(
        "--engine",
        type=click.Choice(ENGINE_CHOICES),
        help=f"Interpreter for {what}: lce (LCE's own) or tflite (LiteRT; binary layers run through bcn's LCE "
        "delegate). Default: chosen per model and machine.",
    )


def data_roots_option(dest: str):
    """--data/-d, repeatable: the data set roots to read and merge, passed as `dest`."""
    return click.option(
        "--data",
        "-d",
        dest,
        multiple=True,
        required=True,
        type=click.Path(exists=True, file_okay=False),
        help="Data set root (PascalVOC, COCO JSON or YOLO layout, detected); repeat to merge roots "
        "(VOC2007 + VOC2012).",
    )


def input_size_option(minimum: int, help: str, **kwargs):
    """--input-size/-z: a model's input side in pixels, at least `minimum`."""
    return click.option("--input-size", "-z", type=click.IntRange(min=minimum), help=help, **kwargs)
