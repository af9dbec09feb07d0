"""One image-reading rule for every stage: EXIF orientation, odd pixel formats, broken files.

The files are real: JPEGs written with an EXIF orientation tag, grayscale, CMYK, 16-bit
and RGBA images. Each stage's own reading path must give the same pixels, or the same
verdict on a broken file: training's tf.data decode, `bcn data check`, conversion's
sample images and the runtime's image source (evaluation reads with bcn.images too).
"""

import cv2
import numpy as np
import pytest
import tensorflow as tf
from bcn_log import logged_warnings
from PIL import Image

import bcn  # noqa: F401
from bcn.data.check import image_problem
from bcn.errors import BcnError
from bcn.images import image_size, read_image, read_rgb

ORIENTATION = 0x0112  # the EXIF tag


def _photo(height=48, width=80) -> np.ndarray:
    """An RGB picture whose orientation shows: a red block at the top-left, a blue one at the bottom."""
    image = np.full((height, width, 3), 200, np.uint8)
    image[:12, :20] = (255, 0, 0)
    image[-10:, 30:50] = (0, 0, 255)
    return image


def _jpeg_with_orientation(path, orientation: int):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(_photo()).save(path, quality=95, exif=exif.tobytes())
    return path


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory):
    """Files of every kind the rule covers -> what read_rgb must return for each, derived independently."""
    folder = tmp_path_factory.mktemp("odd")

    def stored(path):
        return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION), cv2.COLOR_BGR2RGB)

    expected = {}
    for orientation, turn in (
        (6, lambda a: np.rot90(a, -1)),
        (8, lambda a: np.rot90(a, 1)),
        (3, lambda a: a[::-1, ::-1]),
    ):
        path = _jpeg_with_orientation(folder / f"orientation{orientation}.jpg", orientation)
        expected[path] = turn(stored(path))
    gray = folder / "gray.jpg"
    Image.fromarray(_photo()[..., 0]).save(gray, quality=95)
    expected[gray] = np.repeat(np.asarray(Image.open(gray))[..., None], 3, axis=2)
    cmyk = folder / "cmyk.jpg"
    Image.fromarray(_photo()).convert("CMYK").save(cmyk, quality=95)
    expected[cmyk] = np.asarray(Image.open(cmyk).convert("RGB"))
    deep = folder / "deep.png"
    sixteen = _photo().astype(np.uint16) * 256 + 100  # 8-bit value v -> 16-bit 256 v + 100: v scaled back
    cv2.imwrite(str(deep), cv2.cvtColor(sixteen, cv2.COLOR_RGB2BGR))
    expected[deep] = _photo()
    alpha = folder / "alpha.png"
    Image.fromarray(np.dstack([_photo(), np.full(_photo().shape[:2], 30, np.uint8)])).save(alpha)
    expected[alpha] = _photo()
    return expected


def test_exif_orientation_is_applied(odd_images):
    for path, pixels in odd_images.items():
        if path.stem.startswith("orientation"):
            image = read_rgb(path)
            assert image.shape == pixels.shape and np.array_equal(image, pixels), path.name
    upright = read_rgb(next(path for path in odd_images if path.stem == "orientation6"))
    assert upright.shape == (80, 48, 3)
    assert upright[:12, -12:].mean(axis=(0, 1))[0] > 200  # the red block turned to the top-right corner


def test_grayscale_cmyk_16_bit_and_alpha_become_8_bit_rgb(odd_images):
    for path, pixels in odd_images.items():
        image = read_rgb(path)
        assert image.dtype == np.uint8 and image.shape == pixels.shape, path.name
        # JPEG's colour conversions may differ by a unit between libraries; PNG decodes exactly.
        tolerance = 0 if path.suffix == ".png" else 3
        assert np.abs(image.astype(int) - pixels.astype(int)).max() <= tolerance, path.name


def test_training_decodes_the_same_pixels(odd_images):
    from bcn.train.pipeline import _decode

    for path in odd_images:
        assert np.array_equal(_decode(tf.constant(str(path))).numpy(), read_rgb(path)), path.name


def test_runtime_and_convert_read_the_same_pixels(odd_images):
    from bcn.converters.samples import sample_inputs
    from bcn.preprocess import letterbox
    from bcn.runtime.sources import ImageSource

    paths = list(odd_images)
    frames = list(ImageSource(paths, "odd", skip_unreadable=False))
    for frame, path in zip(frames, paths):
        assert np.array_equal(frame.image, read_image(path)), path.name
    folder = paths[0].parent
    names, inputs = sample_inputs(folder, 3, 64)
    for name, model_input in zip(names, inputs):
        assert np.array_equal(model_input, letterbox(read_rgb(name), 64)[0]), name


def test_data_check_sizes_after_the_orientation(odd_images):
    path = next(path for path in odd_images if path.stem == "orientation6")
    assert image_problem(path, width=48, height=80) is None
    problem = image_problem(path, width=80, height=48)
    assert problem.startswith("image is 48x80 but its annotation says 80x48") and "EXIF orientation" in problem


def test_header_sizes_are_the_decoded_sizes(odd_images, tmp_path):
    """image_size (YOLO's reader) reads headers, yet agrees with read_image on every kind of file."""
    png_with_exif = tmp_path / "exif.png"
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.fromarray(_photo()).save(png_with_exif, exif=exif.tobytes())
    progressive = tmp_path / "progressive.jpg"
    Image.fromarray(_photo(30, 70)).save(progressive, quality=90, progressive=True)
    bmp = tmp_path / "plain.bmp"
    cv2.imwrite(str(bmp), _photo(20, 40))
    for path in [*odd_images, png_with_exif, progressive, bmp]:
        height, width = read_image(path).shape[:2]
        assert image_size(path) == (width, height), path
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    with pytest.raises(BcnError, match="broken.jpg"):
        image_size(broken)


def test_a_broken_file_gets_one_verdict_naming_it(tmp_path):
    from bcn.data.voc import Sample
    from bcn.runtime.sources import ImageSource
    from bcn.train.pipeline import _decode, drop_unreadable

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"GIF89a not really an image")  # a truncated JPEG is tests/test_images_truncated.py's
    with pytest.raises(BcnError) as error:
        read_image(broken)
    message = str(error.value.message)
    assert message == f"{broken}: not an image OpenCV can read"
    assert image_problem(broken, 10, 10) == "not an image OpenCV can read"
    sample = Sample("broken", broken, 10, 10, np.zeros((0, 4), np.float32), np.zeros(0, np.int32), np.zeros(0, bool))
    with logged_warnings(match=f"{broken} \\(not an image OpenCV can read\\)"):
        assert drop_unreadable([sample]) == []
    with pytest.raises(Exception, match="not an image OpenCV can read"):
        _decode(tf.constant(str(broken)))
    with pytest.raises(BcnError, match="not an image OpenCV can read"):
        list(ImageSource([broken], "broken", skip_unreadable=False))
