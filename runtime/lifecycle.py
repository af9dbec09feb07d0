"""A detection run from start to end: outputs checked, source opened, sinks built, stopped by signals, finalized.

What `bcn detect` does, for Python users too (`Detector.run`): the first SIGINT or SIGTERM
asks the loop to stop; a second one interrupts it at once. However the run ends, the source
and the window close first, then each sink (live view, detections, annotated video), told
whether the run completed (a JSON list is published only then; JSON lines and the video
keep what was written).
"""

import contextlib
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from bcn import checks
from bcn.defaults import RETRIES, SCORE_THRESHOLD, STALL_TIMEOUT_S
from bcn.errors import BcnError
from bcn.io import removed_if_left_empty
from bcn.runtime import pipeline
from bcn.runtime.sinks import check_inputs_kept, check_writable_folder
from bcn.runtime.sources import open_source


@dataclass
class RunResult:
    """How a run went: its measurements, what it wrote, and how it ended."""

    stats: pipeline.RunStats
    wrote: list[str]  # each output that holds something, described for the user
    stopped: bool  # a stop was asked for: a signal, the caller's `stop`, or `duration` ran out
    lost: str | None  # why the live source went away for good, when it did before any stop was asked for


def class_ids(names, classes: list[str]) -> set[int] | None:
    """The ids of the class `names` to keep (None keeps all), or a one-line BcnError naming unknown ones."""
    if names is None:
        return None
    wanted = [name.strip() for name in names if name.strip()]
    unknown = [name for name in wanted if name not in classes]
    if unknown:
        raise BcnError(f"--classes: unknown class {', '.join(unknown)} (the model has: {', '.join(classes)})")
    return {classes.index(name) for name in wanted}


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event):
    """Set `stop` on the first SIGINT or SIGTERM, interrupt on the second; the previous handlers come back after.

    Python delivers signals to the main thread only: called from another, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, _frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _sinks(source, out: Path | None, json_out, serve) -> list:
    from bcn.runtime.sinks import AnnotatedImages, AnnotatedVideo, DetectionsJson

    sinks = []
    if serve is not None:  # first: a port already taken fails before any file is begun
        from bcn.runtime.serve import LiveView

        sinks.append(LiveView(*serve, name=source.name))
        sinks[0].source = source
    sinks.append(DetectionsJson(None if json_out in (None, "-") else Path(json_out)))
    if out is not None:
        if source.kind != "images":
            sinks.append(AnnotatedVideo(out / f"{source.name}.mkv", source.fps or 25.0, realtime=source.live))
        else:
            sinks.append(AnnotatedImages(out))
    return sinks


def _serve_address(serve) -> tuple[str, int] | None:
    """The live view's (host, port) from what the caller gave: None, "[HOST:]PORT", a port number or the pair."""
    from bcn.runtime.serve import parse_address

    if serve is None or (isinstance(serve, tuple) and len(serve) == 2):
        return serve
    if isinstance(serve, int) and not isinstance(serve, bool):
        serve = str(serve)
    if not isinstance(serve, str):
        raise checks.ArgumentTypeError(
            f'serve must be "[HOST:]PORT", a port number or (host, port), not {type(serve).__name__} {serve!r}'
        )
    return parse_address(serve)


def run_detector(
    detector,
    source: str,
    out=None,
    json_out=None,
    serve: tuple[str, int] | None = None,
    show: bool = False,
    score_threshold: float = SCORE_THRESHOLD,
    classes=None,
    reconnect: bool = True,
    retries: int = RETRIES,
    stall_timeout: float = STALL_TIMEOUT_S,
    camera=None,
    max_frames: int | None = None,
    duration: float | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """Run `detector` (a bcn.runtime.detector.Detector) on `source` until it ends or is stopped; see Detector.run."""
    source = str(checks.path("source", source))
    checks.optional(checks.path, "out", out)
    checks.optional(checks.path, "json_out", json_out)
    serve = _serve_address(serve)
    checks.number("score_threshold", score_threshold, 0, 1)
    classes = checks.optional(checks.names, "classes", classes)
    checks.integer("retries", retries)
    checks.number("stall_timeout", stall_timeout, 0, low_open=True)
    checks.optional(checks.integer, "max_frames", max_frames)
    checks.optional(checks.number, "duration", duration, 0, low_open=True)
    checks.event("stop", stop)
    check_inputs_kept(detector.path, source, Path(out) if out else None, json_out)
    with removed_if_left_empty(out or None):  # a failed run leaves no empty --out behind
        out = check_writable_folder(Path(out)) if out else None
        if show:
            from bcn.runtime.window import check_display

            check_display()
        keep = class_ids(classes, list(detector.classes))
        stop = stop or threading.Event()
        with stop_on_signals(stop):
            opened = open_source(
                source, reconnect=reconnect, retries=retries, stall_timeout=stall_timeout, camera=camera
            )
            sinks, window, complete = [], None, False
            try:
                sinks = _sinks(opened, out, json_out, serve)
                if show:
                    from bcn.runtime.window import Window

                    window = Window(f"bcn detect {source}")
                stats = pipeline.run(detector, opened, sinks, stop, score_threshold, keep, window, max_frames, duration)
                complete = True
            finally:
                opened.close()
                if window is not None:
                    window.close()
                for sink in sinks:
                    sink.close(complete)
        stats.count_capture(opened)
        lost = opened.error if opened.live and opened.ended and opened.error and not stop.is_set() else None
        return RunResult(stats, [text for text in (sink.describe() for sink in sinks) if text], stop.is_set(), lost)
