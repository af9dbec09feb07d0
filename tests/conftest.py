"""Shared fixtures. `bcn` is imported first: it selects the Keras 2 API before TensorFlow loads.

Data sets are generated here, since nothing can be downloaded.
"""

import pytest

import bcn  # noqa: F401


@pytest.fixture(scope="session")
def synth_voc(tmp_path_factory):
    """Root of a small generated VOC-layout data set: 60 images at 128 px, 40 trainval / 20 test."""
    from bcn.data.synth import write_synth

    return write_synth(tmp_path_factory.mktemp("data") / "synth", images=60, size=128, seed=0, test_fraction=1 / 3)
