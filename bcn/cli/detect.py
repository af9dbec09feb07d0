"""`bcn detect`: run a converted model on images, videos, cameras and live streams (the run: bcn.runtime.lifecycle)."""

import click

from bcn.cli.options import THREAD_COUNT, engine_option
from bcn.defaults import MAX_THREADS, RETRIES, SCORE_THRESHOLD, STALL_TIMEOUT_S
from bcn.extras import require

SOURCE_HELP = (
    "An image, a folder of images, a video file, a camera index (0), the Raspberry Pi camera through "
    "Picamera2 (picam or picam:WIDTHxHEIGHT), a stream URL (rtsp://, http://, udp://...) or a GStreamer "
    "pipeline ending in appsink."
)


class StreamLost(click.ClickException):
    """A live source went away for good; outputs were finalized before this is raised."""

    exit_code = 1


def _serve_address(ctx, param, value):
    from bcn.runtime.serve import parse_address

    return parse_address(value) if value is not None else None


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--source", "-s", "source_text", required=True, metavar="SRC", help=SOURCE_HELP)
@click.option(
    "--out",
    "-o",
    type=click.Path(),
    metavar="DIR",
    help="Folder for the annotated images or video (created if missing).",
)
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write detections here instead of stdout: JSON lines, or if FILE ends in .json the JSON list "
    "`bcn eval --detections` reads.",
)
@click.option("--show", is_flag=True, help="Show the annotated frames in a window (q or Esc quits).")
@click.option(
    "--serve",
    metavar="[HOST:]PORT",
    callback=_serve_address,
    help="Serve the annotated frames as a live view in the browser (MJPEG and a page with FPS, latency "
    "and drops) at http://HOST:PORT/. PORT alone listens on 127.0.0.1 (this machine only); HOST:PORT "
    "or [IPv6]:PORT elsewhere, 0.0.0.0:PORT on every interface (no password). Shorthand such as "
    "0:PORT or an empty HOST is refused.",
)
@click.option(
    "--score", type=click.FloatRange(0, 1), default=SCORE_THRESHOLD, help="Keep detections scoring at least this."
)
@click.option("--classes", help="Keep only these classes, comma-separated (e.g. person,car).")
@click.option(
    "--threads",
    type=THREAD_COUNT,
    help=f"Interpreter threads, 1 to {MAX_THREADS} (default: every core for cameras and streams, else 1).",
)
@engine_option("the model")
@click.option(
    "--reconnect/--no-reconnect", default=True, help="Reopen a live stream that stalls or drops, with back-off."
)
@click.option("--retries", type=click.IntRange(min=1), default=RETRIES, help="Reconnect attempts before giving up.")
@click.option(
    "--stall-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=STALL_TIMEOUT_S,
    help="Seconds without data before a network stream counts as lost.",
)
@click.option("--width", type=click.IntRange(min=1), help="Camera capture width (a camera index or picam).")
@click.option("--height", type=click.IntRange(min=1), help="Camera capture height (a camera index or picam).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), help="Camera frame rate (a camera index or picam).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after this many processed frames.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds.")
def detect(
    model,
    source_text,
    out,
    json_out,
    show,
    serve,
    score,
    classes,
    threads,
    engine,
    reconnect,
    retries,
    stall_timeout,
    width,
    height,
    fps,
    max_frames,
    duration,
):
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
    from bcn.runtime.cameras import CameraMode
    from bcn.runtime.detector import Detector, detect_threads

    result = Detector(model, engine=engine, threads=detect_threads(source_text, threads)).run(
        source_text,
        out,
        json_out,
        serve=serve,
        show=show,
        score_threshold=score,
        classes=classes.split(",") if classes else None,
        reconnect=reconnect,
        retries=retries,
        stall_timeout=stall_timeout,
        camera=CameraMode(width, height, fps),
        max_frames=max_frames,
        duration=duration,
    )
    click.echo(f"bcn detect: {result.stats.summary()}", err=True)
    for text in result.wrote:
        click.echo(f"wrote {text}", err=True)
    if result.lost:
        raise StreamLost(result.lost)
