"""Detect objects with a converted .tflite: letterbox, run, decode (no TensorFlow).

from bcn.images import read_image
from bcn.runtime.detector import Detector
detections = Detector("model.tflite").detect(read_image("image.jpg"))
"""

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcn import checks
from bcn.centernet import HEADS, OUTPUT_STRIDE
from bcn.decode import DecodeBuffers, decode
from bcn.defaults import MAX_THREADS, SCORE_THRESHOLD
from bcn.errors import BcnError
from bcn.images import read_image  # noqa: F401  (the runtime's way to read an image file, one verdict with bcn's)
from bcn.preprocess import Letterbox, letterbox_into
from bcn.runtime.engines import lce_ops_in, open_engine, quiet_native_info, tflite_module, verify_flatbuffer
from bcn.runtime.flatbuffer import FlatbufferError, io_shapes
from bcn.runtime.metadata import MetadataError, check_metadata, read_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    """One object: box is x1, y1, x2, y2 in original-image pixels (0-based, right/bottom exclusive)."""

    class_id: int
    class_name: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each stage of one `detect` call."""

    preprocess_ms: float
    inference_ms: float
    decode_ms: float

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.decode_ms


def read_model(path) -> tuple[bytes, dict | None]:
    """(flatbuffer bytes, its "bcn" metadata or None), or a one-line BcnError.

    The metadata is checked here (bcn.runtime.metadata.check_metadata) against the tensor
    shapes the flatbuffer declares, and again against the engine's once one has loaded it;
    the flatbuffer is verified when an engine loads it (bcn.runtime.engines.open_engine).
    """
    path = Path(path)
    if not path.is_file():
        raise BcnError(f"{path}: no such model file")
    try:
        content = path.read_bytes()
    except OSError as error:
        raise BcnError(f"{path}: cannot read ({error.strerror})") from error
    lce_ops_in(content, str(path))  # not a TFLite flatbuffer: a clear message now
    try:
        metadata = read_metadata(path)
        if metadata is not None:  # against the tensors the file declares, before an interpreter reads it
            inputs, outputs = io_shapes(content)
            metadata = check_metadata(metadata, str(path), inputs[0] if inputs else (), outputs)
    except (MetadataError, FlatbufferError) as error:
        verify_flatbuffer(content, str(path))  # a damaged file says so
        raise BcnError(str(error) if isinstance(error, MetadataError) else f"{path}: {error}") from None
    return content, metadata


def _signature_outputs(content: bytes) -> dict | None:
    """Head name -> output index from the model's serving signature, if an interpreter can tell."""
    module, _ = tflite_module(allow_tensorflow=False)
    if module is None:
        return None
    with quiet_native_info():
        interpreter = module.Interpreter(model_content=content)
        try:
            named = interpreter.get_signature_runner().get_output_details()
        except ValueError:  # no signature
            return None
    order = [detail["index"] for detail in interpreter.get_output_details()]
    if not all(head in named and named[head]["index"] in order for head in HEADS):
        return None
    return {head: order.index(named[head]["index"]) for head in HEADS}


def metadata_for_foreign_model(path, content: bytes, input_size: int | None, classes) -> dict:
    """Stand-in metadata for a .tflite that `bcn convert` did not make, from what the user says.

    The user vouches that the model takes bcn's preprocessing at `input_size` and has
    CenterNet heads; head order comes from the model's signature (names heatmap/size/offset).
    """
    if not input_size:
        raise BcnError(
            f"{Path(path)}: has no bcn metadata (not made by `bcn convert`); convert the Keras model "
            "with `bcn convert`, or give its input size where a command takes one (bcn eval, bcn bench "
            "--input-size)"
        )
    outputs = _signature_outputs(content)
    if outputs is None:
        raise BcnError(
            f"{Path(path)}: has no bcn metadata and no signature naming heatmap/size/offset outputs; "
            "convert it with `bcn convert`"
        )
    log.warning(f"{Path(path)}: no bcn metadata; assuming bcn's letterbox preprocessing at {input_size} px")
    return {
        "classes": list(classes) if classes else None,
        "input_size": int(input_size),
        "output_stride": OUTPUT_STRIDE,
        "outputs": outputs,
        "engine": None,
    }


def detect_threads(source: str, threads: int | None = None) -> int | None:
    """The interpreter threads `bcn detect` runs SRC with: `threads` when given; for a live source (camera,
    stream, pipeline) every core this process may use (on 2 idle cores a stream's frame rate rises 1.6x,
    benchmarks/live_threads.md); else None, the runtime's default of one (files are batch work a user runs
    several of at once)."""
    from bcn.runtime.sources import is_live

    if threads is not None or not is_live(source):
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


class Detector:
    """A converted model ready to detect: `Detector("model.tflite").detect(image_bgr)`.

    Args:
        model_path: a .tflite made by `bcn convert` (binary, float32 or int8).
        engine: "lce" or "tflite" (default: bcn.runtime.engines.default_engine's choice for
            the model: LiteRT, with bcn's LCE delegate for binary layers).
        threads: interpreter threads (default 1).
        input_size, classes: only for models without bcn metadata.
        options: use_xnnpack, kernel (the delegate's path), use_indirect_bgemm,
            use_reference_bconv (see bcn.runtime.engines).

    A bad file is a one-line BcnError at construction. `detect(image)` returns
    Detection(class_id, class_name, score, box) best first, boxes in the image's pixels;
    `last_timings` holds its preprocess, inference and decode milliseconds.

    Example:
        >>> detector = Detector("q1.tflite", threads=2)
        >>> for found in detector.detect(cv2.imread("street.jpg"), score_threshold=0.4):
        ...     print(found.class_name, round(found.score, 2), found.box)
    """

    def __init__(
        self,
        model_path,
        engine: str | None = None,
        threads: int | None = None,
        input_size: int | None = None,
        classes=None,
        **options,
    ):
        self.path = Path(checks.path("model_path", model_path))
        threads = checks.optional(checks.threads, "threads", threads)
        input_size = checks.optional(checks.integer, "input_size", input_size)
        classes = checks.optional(checks.names, "classes", classes)
        content, metadata = read_model(self.path)
        foreign = metadata is None
        if foreign:
            metadata = metadata_for_foreign_model(self.path, content, input_size, classes)
        self.engine = open_engine(content, str(self.path), engine, threads, **options)
        self.file_size = len(content)
        try:  # input size, output stride, heads and classes against the model's tensors
            metadata = check_metadata(
                metadata, str(self.path), self.engine.input_shape, self.engine.output_shapes, stand_in=foreign
            )
        except MetadataError as error:
            raise BcnError(str(error)) from None
        self.metadata = metadata
        self.input_size = metadata["input_size"]
        self.output_stride = metadata["output_stride"]
        self._outputs = [metadata["outputs"][head] for head in HEADS]
        self.classes = metadata["classes"]
        self.last_timings: Timings | None = None
        self._batch = np.empty((1, self.input_size, self.input_size, 3), np.float32)  # reused: no per-frame input
        self._placed: Letterbox | None = None  # the last frame's placement, whose padding the input still holds
        heatmap_shape = self.engine.output_shapes[self._outputs[0]][1:]
        self._decode_buffers = DecodeBuffers(heatmap_shape)  # reused: no per-frame decoding arrays

    def detect(
        self, image: np.ndarray, score_threshold: float = SCORE_THRESHOLD, top_k: int = 100, bgr: bool = True
    ) -> list[Detection]:
        """Detections in `image` (H x W x 3 uint8, BGR as OpenCV reads it unless bgr=False), best first."""
        checks.image("image", image)
        checks.number("score_threshold", score_threshold)  # above 1 keeps nothing, as a caller may want
        checks.integer("top_k", top_k)
        start = time.perf_counter()
        box = letterbox_into(image, self._batch[0], bgr=bgr, previous=self._placed)
        self._placed = box
        ran = time.perf_counter()
        outputs = self.engine.run(self._batch)
        decoded_at = time.perf_counter()
        heatmap, size, offset = (outputs[i][0] for i in self._outputs)
        found = decode(
            heatmap,
            size,
            offset,
            top_k=top_k,
            score_threshold=score_threshold,
            stride=self.output_stride,
            buffers=self._decode_buffers,
        )
        boxes = box.to_original(found.boxes)
        detections = [
            Detection(c, self.classes[c], s, tuple(b))
            for b, s, c in zip(boxes.tolist(), found.scores.tolist(), found.classes.tolist())
        ]
        end = time.perf_counter()
        self.last_timings = Timings((ran - start) * 1e3, (decoded_at - ran) * 1e3, (end - decoded_at) * 1e3)
        return detections

    def run(self, source: str, out=None, json_out=None, **options):
        """Detect on every frame of `source` as `bcn detect` does, until it ends or is stopped.

        Called from the main thread, the first Ctrl-C (SIGINT) or SIGTERM stops the run cleanly
        and a second one interrupts it; either way the outputs are finalized before this returns
        or raises (the video playable to its last frame, the JSON complete).

        Args:
            source: what `bcn detect --source` takes: an image, a folder of images, a video file,
                a camera index ("0"), "picam[:WxH]", a stream URL or a GStreamer pipeline; a
                pathlib.Path names a file or folder.
            out: folder for the annotated images, or the video NAME.mkv (created if missing).
            json_out: a file for the detections as JSON lines (a JSON list if it ends in .json);
                None or "-" writes JSON lines to stdout.
            options: serve (the live view's "[HOST:]PORT", a port number or (host, port)), show (a
                window), score_threshold, classes (names to keep), reconnect, retries, stall_timeout (live
                sources), camera (a bcn.runtime.cameras.CameraMode), max_frames, duration (seconds) and stop (a
                threading.Event that ends the run). Reconnects and the live view's address go to the
                `bcn` log (logging.getLogger("bcn")).

        Returns:
            A bcn.runtime.lifecycle.RunResult: stats (frames, FPS, latency, captured/dropped), wrote
            (each output described), stopped (a stop was asked for) and lost (why a live source went
            away for good, else None).

        Example:
            >>> result = Detector("q1.tflite").run("rtsp://camera.local/stream", out="recordings")
            >>> print(result.stats.summary(), *result.wrote, sep="\\n")
        """
        from bcn.runtime.lifecycle import run_detector

        return run_detector(self, source, out, json_out, **options)
