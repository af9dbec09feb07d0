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
SOI, EOI, SOS, APP1 = 0xD8, 0xD9, 0xDA, 0xE1
FRAME_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-SOF15 (not DHT, JPG, DAC)
ORIENTATION_TAG = 0x0112
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
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
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


# The frame header and EXIF (at most 64 KiB) come before the image data in a JPEG; IHDR first in a PNG.
HEADER_BYTES = 1 << 17
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TURNED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _exif_orientation(tiff: bytes) -> int | None:
    """The orientation tag of an EXIF block (1 when absent), or None if the block is malformed."""
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None

    def number(at: int, size: int) -> int:
        return int.from_bytes(tiff[at : at + size], order)

    directory = number(4, 4)
    if directory + 2 > len(tiff):
        return None
    for entry in range(number(directory, 2)):
        at = directory + 2 + 12 * entry
        if at + 12 > len(tiff):
            return None
        if number(at, 2) == ORIENTATION_TAG:
            return number(at + 8, 2)
    return 1


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) after the EXIF orientation, from the frame header; None when unsure."""
    at, orientation = 2, 1
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF or marker in STANDALONE:
            at += 1 if marker == 0xFF else 2
            continue
        if marker in (SOS, EOI):
            return None  # image data before a frame header: let the decoder judge
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        segment = data[at + 4 : at + 2 + length]
        if marker == APP1 and segment.startswith(b"Exif\0\0"):
            orientation = _exif_orientation(segment[6:])
            if orientation is None:
                return None
        elif marker in FRAME_MARKERS and len(segment) >= 5:
            height, width = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big")
            return (height, width) if orientation in TURNED else (width, height)
        at += 2 + length
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from IHDR; None when an eXIf chunk (an orientation) comes before the pixels."""
    if data[12:16] != b"IHDR":
        return None
    at = 8
    while at + 8 <= len(data):
        length, kind = int.from_bytes(data[at : at + 4], "big"), data[at + 4 : at + 8]
        if kind == b"eXIf":
            return None
        if kind == b"IDAT":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        at += 12 + length
    return None


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as read_image would return it, from the header where the format allows.

    JPEG and PNG headers are read (the EXIF orientation applied); other files, and headers
    this cannot vouch for, are decoded. BcnError naming the file if it cannot be read.
    """
    if not Path(path).is_file():
        raise BcnError(f"{path}: no such image file")
    try:
        with open(path, "rb") as file:
            head = file.read(HEADER_BYTES)
    except OSError as error:
        raise BcnError(f"{path}: cannot be read ({error.strerror or error})") from None
    size = (
        _jpeg_size(head)
        if head[:2] == bytes([0xFF, SOI])
        else _png_size(head)
        if head.startswith(PNG_SIGNATURE)
        else None
    )
    if size is None or min(size) < 1:
        height, width = read_image(path).shape[:2]
        return width, height
    return size


def read_rgb(path) -> np.ndarray:
    """An image file as an H x W x 3 uint8 RGB array (the model's colour order); see read_image."""
    import cv2

    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)
