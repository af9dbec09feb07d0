"""The detection loop: frames in, detections out to every sink, with the run's measurements."""

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from bcn.defaults import SCORE_THRESHOLD
from bcn.runtime.annotate import draw_detections, draw_fps

LIVE_POLL_S = 0.2  # how often a live loop waiting for a frame checks for a stop request


KEPT_TIMINGS = 100_000  # percentiles cover the latest frames, so a run of days keeps bounded memory


def _percentile(values, q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class RunStats:
    """What a run did and how fast; the capture counters come from the source."""

    frames: int = 0
    first_start: float | None = None
    last_done: float | None = None
    detect_ms: deque = field(default_factory=lambda: deque(maxlen=KEPT_TIMINGS))  # the whole detect() call
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=KEPT_TIMINGS))  # capture (or file read) to result
    captured: int = 0
    dropped: int = 0
    reconnects: int = 0

    def count_capture(self, source) -> None:
        """Take the source's counters; call after closing it, so a frame nobody took counts as dropped."""
        self.captured, self.dropped, self.reconnects = source.captured, source.dropped, source.reconnects

    def add(self, frame, started: float, done: float) -> None:
        self.frames += 1
        self.first_start = started if self.first_start is None else self.first_start
        self.last_done = done
        self.detect_ms.append((done - started) * 1000)
        self.latency_ms.append((done - frame.captured_at) * 1000)

    @property
    def mean_fps(self) -> float:
        elapsed = (self.last_done or 0) - (self.first_start or 0)
        return self.frames / elapsed if elapsed > 0 else 0.0

    def summary(self) -> str:
        """One line: frames, mean FPS, latency p50/p90, captured/processed/dropped."""
        counters = f"captured {self.captured} / processed {self.frames} / dropped {self.dropped}"
        if not self.frames:
            return f"no frames processed, {counters}"
        p50, p90 = _percentile(self.latency_ms, 50), _percentile(self.latency_ms, 90)
        line = (
            f"{self.frames} frame{'s' if self.frames > 1 else ''}, {self.mean_fps:.1f} FPS, latency p50 {p50:.1f} ms "
            f"p90 {p90:.1f} ms (detect p50 {_percentile(self.detect_ms, 50):.1f} ms), {counters}"
        )
        return line + (f", reconnects {self.reconnects}" if self.reconnects else "")


class FpsMeter:
    """Frames per second over a short moving window, for the overlay."""

    def __init__(self, smoothing: float = 0.9):
        self.smoothing = smoothing
        self.interval = None
        self.last = None

    def tick(self, now: float) -> float:
        if self.last is not None:
            step = now - self.last
            self.interval = (
                step if self.interval is None else self.smoothing * self.interval + (1 - self.smoothing) * step
            )
        self.last = now
        return 1 / self.interval if self.interval else 0.0


def frames(source, stop: threading.Event):
    """Frames of `source` until it ends or `stop` is set."""
    if not source.live:
        files = iter(source)
        while not stop.is_set():
            frame = next(files, None)
            if frame is None:
                return
            yield frame
        return
    while not stop.is_set() and not source.ended:
        frame = source.read(LIVE_POLL_S)
        if frame is not None:
            yield frame


def run(
    detector,
    source,
    sinks,
    stop: threading.Event,
    score_threshold: float = SCORE_THRESHOLD,
    keep_classes=None,
    window=None,
    max_frames: int | None = None,
    duration: float | None = None,
) -> RunStats:
    """Detect on every frame `source` yields (the newest one, for live sources) and feed the sinks.

    Ends when the source ends, `stop` is set, the window is closed, after `max_frames`
    frames or `duration` seconds. `keep_classes` is a set of class ids, or None for all.
    """
    stats = RunStats()
    meter = FpsMeter()
    timer = threading.Timer(duration, stop.set) if duration else None  # also ends a wait on a stalled stream
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        _loop(detector, source, sinks, stop, score_threshold, keep_classes, window, max_frames, stats, meter)
    finally:
        if timer is not None:
            timer.cancel()
    return stats


def _loop(detector, source, sinks, stop, score_threshold, keep_classes, window, max_frames, stats, meter) -> None:
    annotate = window is not None or any(sink.wants_image for sink in sinks)
    for frame in frames(source, stop):
        started = time.monotonic()
        detections = detector.detect(frame.image, score_threshold=score_threshold)
        if keep_classes is not None:
            detections = [d for d in detections if d.class_id in keep_classes]
        done = time.monotonic()
        stats.add(frame, started, done)
        fps = meter.tick(done)
        image = draw_detections(frame.image, detections) if annotate else None
        if image is not None and source.kind != "images" and fps > 0:  # a rate means nothing on still images
            draw_fps(image, fps)
        for sink in sinks:
            sink.write(frame, detections, image)
        if window is not None and not window.show(image):
            break
        if max_frames and stats.frames >= max_frames:
            break
