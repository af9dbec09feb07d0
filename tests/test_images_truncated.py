"""A truncated JPEG gets one verdict from every command, naming the file: data check, train, eval, detect."""

import shutil

import cv2
import numpy as np
import pytest
from bcn_log import logged_warnings
from click.testing import CliRunner

import bcn  # noqa: F401
from bcn.cli import main
from bcn.images import jpeg_truncated

SPEC = "qn(64) qn([1x32, 1x32, 1x64, 1x64]) tp(2)([16, 16, 16]) h(8)"


def _jpeg(progressive=False, seed=0) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    cv2.rectangle(image, (10, 10), (60, 60), (255, 255, 255), -1)
    flags = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 4] if progressive else []
    return cv2.imencode(".jpg", image, flags)[1].tobytes()


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_truncated_tells_a_cut_file_from_a_whole_one(progressive):
    data = _jpeg(progressive)
    assert not jpeg_truncated(data)
    assert not jpeg_truncated(data + b"\x00" * 100 + b"trailing bytes after the end marker")
    for cut in (len(data) - 2, len(data) - 1, len(data) // 2, 200, 20, 3):
        assert jpeg_truncated(data[:cut]), cut


@pytest.fixture(scope="module")
def truncated_voc(synth_voc, tmp_path_factory):
    """A copy of synth_voc whose first test image is cut in half; returns (root, that image)."""
    root = shutil.copytree(synth_voc, tmp_path_factory.mktemp("voc") / "cut")
    image_id = (root / "ImageSets/Main/test.txt").read_text().split()[0]
    path = root / "JPEGImages" / f"{image_id}.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert cv2.imread(str(path)) is not None  # OpenCV decodes it, grey where the data is missing
    return root, path


def test_data_check_reports_it(truncated_voc):
    root, path = truncated_voc
    result = CliRunner().invoke(main, ["data", "check", str(root)])
    assert result.exit_code == 1, result.output
    assert f"problem: {path}: JPEG file is truncated" in result.output


def test_training_skips_it_naming_it(truncated_voc):
    from bcn.data.voc import load_voc
    from bcn.train.pipeline import drop_unreadable

    root, path = truncated_voc
    samples = load_voc(root, "test")
    with logged_warnings() as caught:
        kept = drop_unreadable(samples)
    assert len(kept) == len(samples) - 1 and path not in {s.image_path for s in kept}
    assert any(f"{path} (JPEG file is truncated" in message for message in caught), caught


def test_eval_refuses_it_in_one_line(truncated_voc, tmp_path):
    from bcn.arch.model import build_model

    root, path = truncated_voc
    build_model(SPEC, input_size=64, num_classes=6).save(tmp_path / "model.h5")
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "model.h5"), "--data", str(root)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1].startswith(f"Error: {path}: JPEG file is truncated"), result.output
