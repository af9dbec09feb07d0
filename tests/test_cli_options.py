"""The option types every command shares: positive numbers, thread lists and output files."""

import click
import pytest
from click.testing import CliRunner

from bcn.cli.options import OUTPUT_FILE, POSITIVE_FLOAT, POSITIVE_INT, THREAD_COUNTS


@click.command()
@click.option("--count", type=POSITIVE_INT)
@click.option("--minutes", type=POSITIVE_FLOAT)
@click.option("--threads", type=THREAD_COUNTS, default="1")
@click.option("--out", type=OUTPUT_FILE)
def command(count, minutes, threads, out):
    click.echo(repr((count, minutes, threads, out)))


def _run(*args):
    return CliRunner().invoke(command, list(map(str, args)))


def test_values_that_fit_come_back_typed(tmp_path):
    result = _run("--count", "3", "--minutes", "0.5", "--threads", "4,1,4,", "--out", tmp_path / "x.json")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr((3, 0.5, (4, 1), tmp_path / "x.json"))
    assert _run().output.strip() == repr((None, None, (1,), None))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--count", "0"], "must be positive, got 0"),
        (["--minutes", "-1"], "must be positive, got -1.0"),
        (["--minutes", "nan"], "must be a finite number, got nan"),
        (["--minutes", "inf"], "must be a finite number, got inf"),
        (["--count", "x"], "'x' is not a valid integer"),
        (["--threads", "one"], "expected a comma-separated list of integers like 1,2,4, got 'one'"),
        (["--threads", "2,0"], "thread counts must be from 1 to 256, got '2,0'"),
        (["--threads", "2,257"], "thread counts must be from 1 to 256, got '2,257'"),
        (["--threads", ","], "thread counts must be from 1 to 256"),
    ],
)
def test_bad_values_name_the_option(args, message):
    result = _run(*args)
    assert result.exit_code == 2 and message in result.output and f"'{args[0]}'" in result.output, result.output


def test_an_output_file_needs_an_existing_folder_and_is_no_folder(tmp_path):
    (tmp_path / "taken").write_text("")
    for out, message in [
        (tmp_path / "absent" / "x.json", f"folder {tmp_path / 'absent'} does not exist"),
        (tmp_path / "taken" / "x.json", f"{tmp_path / 'taken'} is a file, not a folder"),
        (tmp_path, "is a directory"),
    ]:
        result = _run("--out", out)
        assert result.exit_code == 2 and message in result.output, result.output
