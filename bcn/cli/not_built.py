"""Placeholder for commands that are planned but not built yet."""

from bcn.errors import BcnError


class NotBuiltYet(BcnError):
    """Raised by a command whose implementation has not landed yet."""

    exit_code = 3


def not_built(command: str) -> None:
    raise NotBuiltYet(f"`bcn {command}` is not built yet in bcn; see the README for what works today")
