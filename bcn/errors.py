"""User-facing errors: one line, non-zero exit, no traceback."""

import click


class BcnError(click.ClickException):
    """A mistake in the user's input or environment, reported as one line."""

    exit_code = 2
