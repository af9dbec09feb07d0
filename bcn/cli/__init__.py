"""The `bcn` command line: one click group, one module per command."""

import click

from bcn import __version__
from bcn.cli.arch import arch
from bcn.cli.bench import bench
from bcn.cli.convert import convert
from bcn.cli.data import data
from bcn.cli.demo import demo
from bcn.cli.detect import detect
from bcn.cli.evaluate import evaluate
from bcn.cli.train import train
from bcn.interrupts import install as install_interrupts
from bcn.progress import configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="bcn")
@click.option("-v", "--verbose", count=True, help="Report more on stderr (repeatable).")
@click.option(
    "-q", "--quiet", count=True, help="Report only warnings and errors on stderr (no steps, no progress bars)."
)
def main(verbose, quiet):
    """BinaryCenterNet: design, train, convert, benchmark and run binarized detectors."""
    configure_logging(verbose - quiet)
    install_interrupts()


main.add_command(arch)
main.add_command(data)
main.add_command(train)
main.add_command(evaluate)
main.add_command(convert)
main.add_command(bench)
main.add_command(detect)
main.add_command(demo)
