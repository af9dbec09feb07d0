"""The command line of a `bcn` subprocess in tests."""

import sys


def bcn_cli(*args) -> list[str]:
    """`python -m bcn ARGS` with this interpreter; paths and numbers become strings."""
    return [sys.executable, "-m", "bcn", *map(str, args)]
