"""The detection loop: frames in, detections out to every sink, with the run's measurements."""

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from bcn.runtime.annotate import draw_detections, draw_fps

LIVE_POLL_S = 0.2  # how often a live loop waiting for a frame checks for a stop request


@dataclass
class RunStats:
    """What a run did and how fast; counters come from the capture thread for live sources."""

    frames: int = 0
    detections: int = 0
    first_start: float | None = None
    last_done: float | None = None
    inference_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)  # capture (or file read) to result
    captured: int = 0
    dropped: int = 0
    reconnects: int = 0

    def count_capture(self, source) -> None:
        """Take the source's counters; call after closing it, so a frame nobody took counts as dropped."""
        self.captured, self.dropped, self.reconnects = source.captured, source.dropped, source.reconnects

    def add(self, frame, started: float, done: float, detections: int) -> None:
        self.frames += 1
        self.detections += detections
        self.first_start = started if self.first_start is None else self.first_start
        self.last_done = done
        self.inference_ms.append((done - started) * 1000)
        self.latency_ms.append((done - frame.captured_at) * 1000)

    @property
    def mean_fps(self) -> float:
        elapsed = (self.last_done or 0) - (self.first_start or 0)
        return self.frames / elapsed if elapsed > 0 else 0.0

    def percentile(self, values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    def summary(self) -> str:
        """One line: frames, mean FPS, latency p50/p90, captured/processed/dropped."""
        line = (f"{self.frames} frames, {self.mean_fps:.1f} FPS, latency p50 {self.percentile(self.latency_ms, 50):.1f} ms "
                f"p90 {self.percentile(self.latency_ms, 90):.1f} ms (inference p50 {self.percentile(self.inference_ms, 50):.1f} ms), "
                f"captured {self.captured} / processed {self.frames} / dropped {self.dropped}")
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
            self.interval = step if self.interval is None else self.smoothing * self.interval + (1 - self.smoothing) * step
        self.last = now
        return 1 / self.interval if self.interval else 0.0


def frames(source, stop: threading.Event):
    """Frames of `source` until it ends or `stop` is set."""
    if not source.live:
        for frame in source:
            if stop.is_set():
                return
            yield frame
        return
    while not stop.is_set() and not source.ended:
        frame = source.read(LIVE_POLL_S)
        if frame is not None:
            yield frame


def run(detector, source, sinks, stop: threading.Event, score_threshold: float = 0.3, keep_classes=None,
        window=None, max_frames: int | None = None, duration: float | None = None) -> RunStats:
    """Detect on every frame `source` yields (the newest one, for live sources) and feed the sinks.

    Ends when the source ends, `stop` is set, the window is closed, after `max_frames`
    frames or `duration` seconds. `keep_classes` is a set of class ids, or None for all.
    """
    stats = RunStats()
    meter = FpsMeter()
    deadline = time.monotonic() + duration if duration else None
    annotate = window is not None or any(sink.wants_image for sink in sinks)
    for frame in frames(source, stop):
        started = time.monotonic()
        detections = detector.detect(frame.image, score_threshold=score_threshold)
        if keep_classes is not None:
            detections = [d for d in detections if d.class_id in keep_classes]
        done = time.monotonic()
        stats.add(frame, started, done, len(detections))
        fps = meter.tick(done)
        image = draw_fps(draw_detections(frame.image, detections), fps) if annotate else None
        for sink in sinks:
            sink.write(frame, detections, image)
        if window is not None and not window.show(image):
            break
        if max_frames and stats.frames >= max_frames or deadline and time.monotonic() >= deadline:
            break
    return stats
