"""Reading image files: one rule for every stage (training, data check, evaluation, convert, runtime).

An image file becomes what OpenCV's `imdecode(IMREAD_COLOR)` makes of it: the EXIF
orientation applied (a phone photo is upright, as viewers show it), grayscale
expanded to three channels, CMYK converted to colour, 16-bit samples scaled to
8 bits, an alpha channel dropped (the colour under it is kept). A file OpenCV cannot
decode is broken for every stage alike, and so is a truncated JPEG: OpenCV decodes one
without an error, filling the missing part with grey (libjpeg only prints "Premature end
of JPEG file", naming no file), so a JPEG whose data ends before its end-of-image marker
is refused here, naming the file. No TensorFlow: the runtime reads with this too.
"""

from pathlib import Path

import numpy as np

from bcn.errors import BcnError

# The file types bcn reads as images (what OpenCV decodes), most common first: a VOC image id
# takes the first of these that exists.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 carry no length


def jpeg_truncated(data: bytes) -> bool:
    """True if JPEG `data` ends before its end-of-image marker (libjpeg's "premature end").

    Walks the marker segments; after each start-of-scan, skips the entropy-coded data
    (where 0xFF is followed by 0x00 stuffing or a restart marker) to the next marker.
    Bytes after the end-of-image marker are allowed, as libjpeg allows them.
    """
    size, at = len(data), 2
    while at + 1 < size:
        if data[at] != 0xFF:
            return False  # not a marker: corrupt rather than truncated, the decoder reports it
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == EOI:
            return False
        if marker in STANDALONE:
            at += 2
            continue
        if at + 4 > size:
            return True
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if marker != SOS:
            continue
        while True:  # entropy-coded data up to the next real marker
            at = data.find(b"\xff", at)
            if at < 0 or at + 1 >= size:
                return True
            following = data[at + 1]
            if following == 0 or following in STANDALONE:
                at += 2
            elif following == 0xFF:
                at += 1
            else:
                break
    return True


TRUNCATED = "JPEG file is truncated (its data ends before the end-of-image marker)"


def _read(path: Path) -> bytes:
    if not Path(path).is_file():
        raise BcnError(f"{path}: no such image file")
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise BcnError(f"{path}: cannot be read ({error.strerror or error})") from None


def _problem(data: bytes) -> str | None:
    return TRUNCATED if data[:2] == bytes([0xFF, SOI]) and jpeg_truncated(data) else None


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The image files in `folder` (and its subfolders if `recursive`), sorted."""
    entries = Path(folder).rglob("*") if recursive else Path(folder).iterdir()
    return sorted(path for path in entries if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


def read_image(path: Path) -> np.ndarray:
    """The image file at `path` as H x W x 3 uint8 BGR; BcnError naming the file if it is unreadable or truncated."""
    import cv2

    data = _read(path)
    problem = _problem(data)
    if problem:
        raise BcnError(f"{path}: {problem}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BcnError(f"{path}: not an image OpenCV can read")
    return image


def read_rgb(path) -> np.ndarray:
    """An image file as an H x W x 3 uint8 RGB array (the model's colour order); see read_image."""
    import cv2

    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)
