"""Every `bcn` command line in the deployment docs uses options the CLI really has.

Covers docs/raspberry-pi.md, docs/multi-worker.md, docker/README.md and the usage comments of the Dockerfiles,
so the guide cannot drift from the commands as they change.
"""

import re
from pathlib import Path

import click
import pytest

from bcn.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "docs" / "raspberry-pi.md",
    ROOT / "docs" / "multi-worker.md",
    ROOT / "docker" / "README.md",
    *sorted((ROOT / "docker").glob("*Dockerfile")),
]
# `bcn CMD`, or the images' entrypoint: `bcn-train CMD`, `bcn-runtime:arm64 CMD`.
COMMAND = re.compile(
    r"(?:\bbcn|bcn-train|bcn-runtime:arm64)\s+((?:arch|data)\s+\w+|"
    + "|".join(sorted(main.commands))
    + r")\b([^`|\n]*)"
)
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")


def command_lines(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"(?m)^#\s?", "", path.read_text())  # Dockerfile comments hold the usage
    text = re.sub(r"\\\n\s*", " ", text)  # join shell continuation lines
    return [(match[1], match[2]) for match in COMMAND.finditer(text)]


def options_of(words: str) -> set[str] | None:
    command = main
    for word in words.split():
        if not isinstance(command, click.Group) or word not in command.commands:
            return None
        command = command.commands[word]
    names = {"-h", "--help"}
    for param in command.params:
        names.update(param.opts)
        names.update(param.secondary_opts)
    return names


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_documented_options_exist(path):
    lines = command_lines(path)
    unknown = []
    for words, rest in lines:
        options = options_of(words)
        if options is None:
            unknown.append(f"bcn {words} (no such command)")
            continue
        unknown += [f"bcn {words} {option}" for option in OPTION.findall(rest) if option not in options]
    assert not unknown, f"{path.name} documents what the CLI does not have: {unknown}"


def test_the_guide_is_checked():
    assert len(command_lines(ROOT / "docs" / "raspberry-pi.md")) >= 10
