"""Where a benchmark's figures come from: the commit measured, the command that remakes them, the machine
and its load. Results are kept per label in a JSON file beside the script, so runs made at different
times (before and after a change) sit side by side.

Imported by the benchmarks beside it (run as `python benchmarks/NAME.py`, which puts this folder on the
import path), before bcn: with BCN_CHECKOUT set to another checkout of bcn (a `git worktree` of an older
commit, say), the benchmark measures that checkout's bcn instead of the installed one, and records its commit:

    git worktree add /tmp/before COMMIT
    BCN_CHECKOUT=/tmp/before python benchmarks/train_step_speed.py --label before
"""

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = Path(os.environ.get("BCN_CHECKOUT") or HERE.parent)  # the checkout whose bcn is measured


def _import_bcn_from(root: Path) -> None:
    """Make `import bcn` load the checkout at `root` rather than the installed (editable) bcn, mapping its
    runtime/ and converters/ folders into bcn as pyproject.toml does."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if "Redirecting" not in type(finder).__name__]
    sys.path.insert(0, str(root))
    import bcn

    bcn.__path__.append(str(root))


if os.environ.get("BCN_CHECKOUT"):
    _import_bcn_from(CHECKOUT)

from bcn.io import read_json, write_json  # noqa: E402  (after the choice of checkout)
from bcn.runtime.machine import cpu_model  # noqa: E402


def commit() -> str:
    """The measured checkout's short commit, marked when tracked files differ from it."""
    done = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(CHECKOUT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def command() -> str:
    """The command line that ran this benchmark, as typed from the repository root."""
    checkout = [f"BCN_CHECKOUT={os.environ['BCN_CHECKOUT']}"] if os.environ.get("BCN_CHECKOUT") else []
    return shlex.join([*checkout, "python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])


def provenance(revision: str, load_before: tuple[float, ...]) -> dict:
    """What a result records besides its figures: `revision` (commit() taken before the measurement, which
    takes minutes), the command, the machine, the load averages before (`load_before`) and now, the date."""
    return {
        "commit": revision,
        "command": command(),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"TensorFlow {metadata.version('tensorflow')}",
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def save_labelled(path: Path, label: str, result: dict, write_markdown) -> None:
    """Add `result` under `label` to the results file `path` (replacing that label's), rewrite the Markdown
    with `write_markdown(every result)` and print `result`."""
    results = read_json(path) if path.is_file() else {}
    results[label] = result
    write_json(path, results)
    write_markdown(results)
    print(json.dumps(result, indent=2))


def results_head(title: str, about: str, *columns: str) -> list[str]:
    """The first lines of a results file: `title`, which script wrote it and `about` the figures, then the head
    of the table of results: label, `columns`, then provenance_cells' columns."""
    names = ["label", *columns, "commit", "load avg before / after", "machine", "date"]
    written = f"Written by `benchmarks/{Path(sys.argv[0]).name}`; rerun it to reproduce."
    return [
        f"# {title}",
        "",
        f"{written} {about.strip()}",
        "",
        "| " + " | ".join(names) + " |",
        "|" + " --- |" * len(names),
    ]


def provenance_cells(result: dict) -> str:
    """A result's last cells in a results_head table."""
    return (
        f"{result['commit']} | {result['load_average_before']} / {result['load_average_after']} | "
        f"{result['machine']} | {result['date']}"
    )


def command_lines(results: dict) -> list[str]:
    """The Markdown list of each label's command and commit, headed "Commands:"."""
    return ["", "Commands:", ""] + [
        f"- {label}: `{result['command']}` at commit {result['commit']}" for label, result in results.items()
    ]
