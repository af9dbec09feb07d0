"""`bcn detect`: run a converted model on images, videos, cameras and live streams."""

import contextlib
import signal
import threading
from pathlib import Path

import click

from bcn.errors import BcnError
from bcn.extras import require

SOURCE_HELP = ("An image, a folder of images, a video file, a camera index (0), the Raspberry Pi camera through "
               "Picamera2 (picam or picam:WIDTHxHEIGHT), a stream URL (rtsp://, http://, udp://...) or a GStreamer "
               "pipeline ending in appsink.")


class StreamLost(click.ClickException):
    """A live source went away for good; outputs were finalized before this is raised."""

    exit_code = 1


def _class_ids(names: str | None, classes: list[str]) -> set[int] | None:
    if not names:
        return None
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in classes]
    if unknown:
        raise BcnError(f"--classes: unknown class {', '.join(unknown)} (the model has: {', '.join(classes)})")
    return {classes.index(name) for name in wanted}


@contextlib.contextmanager
def _stop_on_signals():
    """An Event set by the first Ctrl-C or SIGTERM; a second one interrupts at once."""
    stop = threading.Event()

    def handle(signum, _frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve_address(ctx, param, value):
    from bcn.runtime.serve import parse_address

    return parse_address(value) if value is not None else None


def _sinks(source, out: Path | None, json_out: str | None, serve=None, log=None):
    from bcn.runtime.sinks import AnnotatedImages, AnnotatedVideo, DetectionsJson

    sinks = []
    if serve is not None:  # first: a port already taken fails before any file is begun
        from bcn.runtime.serve import LiveView

        sinks.append(LiveView(*serve, name=source.name, log=log))
        sinks[0].source = source
    sinks.append(DetectionsJson(None if json_out in (None, "-") else Path(json_out)))
    if out is not None:
        if source.kind != "images":
            sinks.append(AnnotatedVideo(out / f"{source.name}.mkv", source.fps or 25.0, realtime=source.live))
        else:
            sinks.append(AnnotatedImages(out))
    return sinks


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--source", "-s", "source_text", required=True, metavar="SRC", help=SOURCE_HELP)
@click.option("--out", "-o", type=click.Path(), metavar="DIR", help="Folder for the annotated images or video (created if missing).")
@click.option("--json-out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write detections here instead of stdout: JSON lines, or if FILE ends in .json the JSON list "
                   "`bcn eval --detections` reads.")
@click.option("--show", is_flag=True, help="Show the annotated frames in a window (q or Esc quits).")
@click.option("--serve", metavar="[HOST:]PORT", callback=_serve_address,
              help="Serve the annotated frames as a live view in the browser (MJPEG and a page with FPS, latency "
                   "and drops) at http://HOST:PORT/; HOST defaults to 127.0.0.1 (0.0.0.0: every interface).")
@click.option("--score", type=click.FloatRange(0, 1), default=0.3, show_default=True, help="Keep detections scoring at least this.")
@click.option("--classes", help="Keep only these classes, comma-separated (e.g. person,car).")
@click.option("--threads", type=click.IntRange(min=1), help="Interpreter threads (default: the runtime's).")
@click.option("--engine", type=click.Choice(["lce", "tflite"]),
              help="Interpreter: lce (LCE's own) or tflite (LiteRT; binary layers run through bcn's LCE delegate). "
                   "Default: chosen per model and machine.")
@click.option("--reconnect/--no-reconnect", default=True, show_default=True, help="Reopen a live stream that stalls or drops, with back-off.")
@click.option("--retries", type=click.IntRange(min=1), default=5, show_default=True, help="Reconnect attempts before giving up.")
@click.option("--stall-timeout", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="Seconds without data before a network stream counts as lost.")
@click.option("--width", type=click.IntRange(min=1), help="Camera capture width (a camera index or picam).")
@click.option("--height", type=click.IntRange(min=1), help="Camera capture height (a camera index or picam).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), help="Camera frame rate (a camera index or picam).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after this many processed frames.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds.")
def detect(model, source_text, out, json_out, show, serve, score, classes, threads, engine, reconnect, retries, stall_timeout, width, height, fps,
           max_frames, duration):
    """Detect objects with MODEL (a .tflite from `bcn convert`) on SRC.

    Detections go to stdout (or --json-out) as JSON lines, one per detection, with
    boxes in original-image pixels as in VOC XML; a --json-out FILE.json holds a JSON
    list instead. Annotated images, or one Matroska video (NAME.mkv), go to --out. Cameras and streams run
    in real time: the newest frame is processed and older ones are dropped. Ctrl-C or
    SIGTERM ends the run cleanly, with the video finalized and a summary line on stderr;
    after kill -9 the JSON lines and the video keep what was written up to then.

    Exit status: 0 when the source is done or the run was stopped, 1 when a live
    source was lost for good (outputs are still finalized), 2 for bad input.
    """
    require("runtime", "bcn detect")
    from bcn.runtime.sources import quiet_opencv

    quiet_opencv()
    from bcn.runtime import pipeline
    from bcn.runtime.cameras import CameraMode
    from bcn.runtime.sinks import check_inputs_kept, check_writable_folder
    from bcn.runtime.sources import open_source
    from bcn.runtime.window import Window, check_display

    if not Path(model).is_file():
        raise BcnError(f"{model}: no such model file")
    check_inputs_kept(Path(model), source_text, Path(out) if out else None, json_out)
    out = check_writable_folder(Path(out)) if out else None
    if show:
        check_display()
    from bcn.runtime.detector import Detector

    detector = Detector(model, engine=engine, threads=threads)
    keep = _class_ids(classes, list(detector.classes))
    log = lambda message: click.echo(message, err=True)  # noqa: E731
    with _stop_on_signals() as stop:
        source = open_source(source_text, reconnect=reconnect, retries=retries, stall_timeout=stall_timeout, log=log,
                             camera=CameraMode(width, height, fps))
        sinks = []
        window = None
        complete = False
        try:
            sinks = _sinks(source, out, json_out, serve, log)
            window = Window(f"bcn detect {source_text}") if show else None
            stats = pipeline.run(detector, source, sinks, stop, score, keep, window, max_frames, duration)
            complete = True
        finally:
            source.close()
            if window is not None:
                window.close()
            for sink in sinks:
                sink.close(complete)
    stats.count_capture(source)
    click.echo(f"bcn detect: {stats.summary()}", err=True)
    for sink in sinks:
        if sink.describe():
            click.echo(f"wrote {sink.describe()}", err=True)
    if source.live and source.ended and source.error and not stop.is_set():
        raise StreamLost(source.error)
