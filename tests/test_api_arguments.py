"""The Python API refuses misused arguments at its boundary, naming them, before any work: a TypeError for a
wrong type, a ValueError for a wrong value (both also BcnErrors); a single path or name where a list is
expected is one item, never its characters."""

import socket
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_models import shared_models

from bcn.converters.convert import convert
from bcn.errors import BcnError
from bcn.evaluation import evaluate
from bcn.runtime.bench import benchmark
from bcn.runtime.detector import Detector

IMAGE = np.zeros((48, 64, 3), np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A converted model, an image file and a detections file of a small VOC set."""
    from bcn.data.synth import write_synth

    folder = tmp_path_factory.mktemp("api")
    cv2.imwrite(str(folder / "image.jpg"), IMAGE)
    (folder / "detections.json").write_text("[]")
    return {
        "model": shared_models(tmp_path_factory)["binary"],
        "image": folder / "image.jpg",
        "voc": write_synth(folder / "voc", images=4, size=64, seed=0, test_fraction=0.5),
        "detections": folder / "detections.json",
        "folder": folder,
    }


def _detect(**arguments):
    return lambda files: Detector(files["model"]).detect(**{"image": IMAGE, **arguments})


def _run(**options):
    return lambda files: Detector(files["model"]).run(
        str(files["image"]), json_out=files["folder"] / "d.jsonl", **options
    )


def _evaluate(**arguments):
    return lambda files: evaluate(
        **{"detections": files["detections"], "data": files["voc"], "progress": False, **arguments}
    )


def _benchmark(**arguments):
    return lambda files: benchmark(
        **{"models": [files["model"]], "runs": 1, "warmup": 0, "progress": False, **arguments}
    )


# case -> (the call, the exception type, words its message holds)
REFUSED = {
    "detect float64 image": (_detect(image=IMAGE.astype(np.float64)), TypeError, "image must be uint8"),
    "detect int64 image": (_detect(image=IMAGE.astype(np.int64)), TypeError, "image must be uint8"),
    "detect bool image": (_detect(image=IMAGE.astype(bool)), TypeError, "image must be uint8"),
    "detect list image": (_detect(image=IMAGE.tolist()), TypeError, "image must be a NumPy array"),
    "detect grey image": (_detect(image=IMAGE[:, :, 0]), ValueError, "image must be an H x W x 3"),
    "detect string threshold": (_detect(score_threshold="0.5"), TypeError, "score_threshold must be a number"),
    "detect threshold nan": (_detect(score_threshold=float("nan")), ValueError, "score_threshold must be a finite"),
    "detect string count": (_detect(top_k="10"), TypeError, "top_k must be an integer"),
    "Detector threads=0": (lambda f: Detector(f["model"], threads=0), ValueError, "threads must be 1 to 256"),
    "Detector threads string": (lambda f: Detector(f["model"], threads="2"), TypeError, "threads must be an integer"),
    "Detector model None": (lambda f: Detector(None), TypeError, "model_path must be a path"),
    "run serve=True": (_run(serve=True), TypeError, "serve must be"),
    "run stop='yes'": (_run(stop="yes"), TypeError, "stop must be a threading.Event"),
    "run duration=-1": (_run(duration=-1), ValueError, "duration must be a finite number above 0"),
    "run max_frames=0": (_run(max_frames=0), ValueError, "max_frames must be 1 or more"),
    "run retries string": (_run(retries="3"), TypeError, "retries must be an integer"),
    "evaluate split=3": (_evaluate(split=3), TypeError, "split must be a str"),
    "evaluate batch_size string": (_evaluate(batch_size="8"), TypeError, "batch_size must be an integer"),
    "evaluate data=[]": (_evaluate(data=[]), ValueError, "data is empty"),
    "benchmark []": (_benchmark(models=[]), ValueError, "models is empty"),
    "benchmark threads=0": (_benchmark(threads=0), ValueError, "threads[0] must be 1 to 256"),
    "benchmark threads string": (_benchmark(threads="2"), TypeError, "threads must be an integer or a list"),
    "benchmark runs string": (_benchmark(runs="5"), TypeError, "runs must be an integer"),
    "convert baselines one unknown name": (
        lambda f: convert(f["folder"] / "model.h5", baselines="float64"),
        ValueError,
        "unknown baseline 'float64'",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_misused_arguments_are_refused_naming_them(case, files):
    call, kind, words = REFUSED[case]
    with pytest.raises(kind, match=None) as raised:
        call(files)
    assert isinstance(raised.value, BcnError)
    assert words in str(raised.value.message), raised.value.message
    assert not (files["folder"] / "d.jsonl").exists()  # refused before any work


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_path_source_a_port_number_and_one_class_name_work(files):
    result = Detector(files["model"]).run(
        Path(files["image"]), json_out=files["folder"] / "one.jsonl", serve=_free_port(), classes="bird"
    )
    assert result.stats.frames == 1
    assert all('"class": "bird"' in line for line in (files["folder"] / "one.jsonl").read_text().splitlines())


def test_one_model_path_is_one_model(files):
    report = benchmark(str(files["model"]), runs=1, warmup=0, progress=False)
    assert [result["model"] for result in report["results"]] == [str(files["model"])]


def test_a_stop_event_and_a_single_thread_count_work(files):
    stop = threading.Event()
    assert (
        Detector(files["model"]).run(files["image"], json_out=files["folder"] / "two.jsonl", stop=stop).stats.frames
        == 1
    )
    assert benchmark([files["model"]], threads=2, runs=1, warmup=0, progress=False)["settings"]["threads"] == [2]
