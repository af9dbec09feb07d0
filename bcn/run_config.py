"""The run config: `config.json`, which `bcn train` writes in its run folder and convert, eval and
arch sweep read beside a model (its classes, spec, input size, float-twin flag and seed).

A config.json without bcn's format tag is some other tool's, and is ignored.
"""

from pathlib import Path

from bcn.io import read_json, write_json

NAME = "config.json"
FORMAT = "bcn-run/1"  # later versions keep the "bcn-run/" family


def run_config_path(folder) -> Path:
    """Where the run config of the run folder `folder` (or of a model saved in it) lives."""
    return Path(folder) / NAME


def write_run_config(folder, config: dict) -> None:
    """Write `config` (with bcn's format tag) as the run folder's config.json, atomically."""
    write_json(run_config_path(folder), {"format": FORMAT, **config})


def read_run_config(folder) -> dict | None:
    """The run config in `folder`; None when there is none or it is not bcn's; one-line BcnError if unreadable."""
    path = run_config_path(folder)
    if not path.is_file():
        return None
    config = read_json(path)
    is_bcn = isinstance(config, dict) and str(config.get("format", "")).startswith("bcn-run/")
    return config if is_bcn else None
