"""Where results go: annotated images, an annotated video, detections as JSON lines.

What a run produces stays usable however it ends, even by kill -9: JSON lines are written
to their file as they come (`tail -f` follows them), the video is Matroska, which plays up
to its last written cluster without an index. An annotated image and a JSON list are
written under a hidden temporary name and renamed into place when complete; the next
run removes what a killed one left (bcn.io.temp_beside).
"""

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from bcn.errors import BcnError
from bcn.images import image_files
from bcn.io import (
    cannot_write,
    check_output_folder,
    disk_problem,
    publish,
    refuse_overwriting_inputs,
    remove_temp,
    temp_beside,
)


def check_writable_folder(folder: Path) -> Path:
    """Create `folder` if needed and prove files can be written in it, or fail with one line."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BcnError(f"{folder}: --out must be a folder, and this is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise BcnError(f"{folder}: cannot write there ({error.strerror or error})") from None
    return folder


def check_inputs_kept(model: Path, source: str, out: Path | None, json_out: str | None) -> None:
    """Refuse outputs that would write over an input: --out in the source's folder, --json-out naming an input."""
    source_path = Path(source)
    inputs = [Path(model)]
    if source_path.is_dir():
        inputs += image_files(source_path)
    elif source_path.is_file():
        inputs.append(source_path)
    if out is not None and source_path.exists():
        holder = source_path if source_path.is_dir() else source_path.parent
        if Path(out).resolve() == holder.resolve():
            raise BcnError(
                f"{out}: --out is the folder of the source, so annotated files would replace the "
                "originals; choose another folder"
            )
    refuse_overwriting_inputs([("--json-out", json_out)], inputs)


class _TempFile:
    """A hidden file beside `path`, renamed to `path` by finalize() or removed by discard()."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.tmp = temp_beside(self.path)

    def finalize(self) -> None:
        publish(self.tmp, self.path)

    def discard(self) -> None:
        remove_temp(self.tmp)


class AnnotatedImages:
    """Each annotated frame as `<folder>/<image_id>.jpg`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.written = 0

    wants_image = True

    def write(self, frame, detections, image: np.ndarray) -> None:
        import cv2

        file = _TempFile(self.folder / f"{frame.image_id}.jpg")
        try:
            if not cv2.imwrite(file.tmp, image):
                reason = disk_problem(self.folder)
                raise BcnError(f"{file.path}: OpenCV could not write the image{f' ({reason})' if reason else ''}")
            file.finalize()
        finally:
            file.discard()
        self.written += 1

    def describe(self) -> str | None:
        """What was written, for the user; None if nothing."""
        return f"{self.written} annotated images to {self.folder}" if self.written else None

    def close(self, complete: bool = True) -> None:
        pass


class AnnotatedVideo:
    """Annotated frames as one video, written in place: a .mkv plays up to a kill, and fully once close() returns.

    With `realtime` (live sources), frames are repeated or skipped so that the video plays
    at capture speed at `fps`, however fast inference ran.
    """

    FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}

    def __init__(self, path: Path, fps: float, realtime: bool = False):
        self.path = Path(path)
        if self.path.suffix not in self.FOURCC:
            raise BcnError(f"{self.path}: unsupported video type (use {', '.join(self.FOURCC)})")
        self.fps = fps
        self.realtime = realtime
        self.written = 0
        self._writer = None
        self._size = None
        self._start = None

    wants_image = True

    def write(self, frame, detections, image: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            self._open(image)
        if image.shape[1::-1] != self._size:  # a stream may come back at another size
            image = cv2.resize(image, self._size)
        copies = 1
        if self.realtime:  # as many frames as the capture clock says are due: 0 when ahead, more when behind
            self._start = frame.time if self._start is None else self._start
            copies = round((frame.time - self._start) * self.fps) + 1 - self.written
        for _ in range(copies):
            self._writer.write(image)
        self.written += copies

    def _open(self, image: np.ndarray) -> None:
        import cv2

        self._size = image.shape[1::-1]
        fourcc = cv2.VideoWriter_fourcc(*self.FOURCC[self.path.suffix])
        self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, self._size)
        if not self._writer.isOpened():
            self._writer = None
            if self.path.exists():
                self.path.unlink()
            raise BcnError(f"{self.path}: OpenCV cannot write {self.path.suffix} video here")

    def describe(self) -> str | None:
        """What was written, for the user; None if nothing (no frame, no file)."""
        return f"{self.path} ({self.written} frames at {self.fps:g} FPS)" if self.written else None

    def close(self, complete: bool = True) -> None:
        """Release the writer: the video holds every frame written, however the run ended."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class DetectionsJson:
    """Every detection as a JSON object: JSON lines to stdout or a file, or a JSON list to a .json file.

    Keys: image_id, frame, time (UNIX seconds at capture), pts (seconds into a video
    file, if any), class, class_id, score, bbox = [xmin, ymin, xmax, ymax] in original
    pixels as in VOC XML (1-based, inclusive). JSON lines go to their file as they come;
    a .json file is the list `bcn eval --detections` reads, renamed into place when the
    run ends complete.
    """

    wants_image = False

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self.as_list = self.path is not None and self.path.suffix.lower() == ".json"
        self.written = 0
        if self.path is None:
            self._file, self._stream = None, sys.stdout
            return
        check_output_folder(self.path, writable=False)
        self._file = _TempFile(self.path) if self.as_list else None
        try:
            self._stream = open(self._file.tmp if self.as_list else self.path, "w", encoding="utf-8")
        except OSError as error:
            if self._file is not None:
                self._file.discard()
            raise cannot_write(self.path, error) from None
        if self.as_list:
            self._stream.write("[")  # buffered: a full disk is found by the first write() or close()

    def write(self, frame, detections, image=None) -> None:
        common = {"image_id": frame.image_id, "frame": frame.index, "time": round(frame.time, 3)}
        if frame.pts is not None:
            common["pts"] = round(frame.pts, 3)
        text = []
        for detection in detections:
            x1, y1, x2, y2 = (float(v) for v in detection.box)
            record = {
                **common,
                "class": detection.class_name,
                "class_id": int(detection.class_id),
                "score": round(float(detection.score), 6),
                "bbox": [round(x1 + 1, 2), round(y1 + 1, 2), round(x2, 2), round(y2, 2)],
            }
            separator = ("," if self.written else "") + "\n" if self.as_list else ""
            text.append(separator + json.dumps(record) + ("" if self.as_list else "\n"))
            self.written += 1
        self._write("".join(text))

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except BrokenPipeError:  # e.g. `bcn detect ... | head`: the reader is gone
            if self.path is not None:
                raise
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            raise BcnError("stdout: the reader of the detections went away; stopping") from None
        except OSError as error:  # a full disk, say
            if self.path is None:
                raise
            raise cannot_write(self.path, error) from None

    def describe(self) -> str | None:
        """What was written, for the user: a file is written even when no detection was found."""
        return f"{self.written} detections to {self.path or 'stdout'}"

    def close(self, complete: bool = True) -> None:
        """Close the file; a JSON list is published when the run is `complete`, else (or if that fails) removed."""
        if self.path is None:
            return
        try:
            try:
                if self.as_list:
                    self._stream.write("\n]\n")
                self._stream.close()
            except OSError as error:  # the last bytes onto a full disk
                with contextlib.suppress(OSError):
                    self._stream.close()
                raise cannot_write(self.path, error) from None
            if complete and self._file is not None:
                self._file.finalize()
        finally:
            if self._file is not None:
                self._file.discard()
