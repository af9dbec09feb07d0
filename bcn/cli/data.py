"""`bcn data`."""

import click

from bcn.cli.not_built import not_built


@click.command("data", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def data(args):
    """(not built yet)"""
    not_built("data")
