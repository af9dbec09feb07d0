"""`bcn arch sweep`: many designs in one table, measured on this machine, and the paper's Fig. 1."""

import csv
import json
import subprocess

import pytest
from bcn_command import bcn_cli
from click.testing import CliRunner

from bcn.cli import main
from bcn.runtime.metadata import read_metadata

TINY = "qn(64) qn([1x32, 1x64]:p0.5) tp(2)([16]) h(8)"


def sweep(*args):
    result = CliRunner().invoke(main, ["arch", "sweep", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_cost_table_in_every_format(tmp_path):
    out = sweep(
        "q1",
        "q2b",
        TINY,
        "-z",
        "64",
        "--json",
        str(tmp_path / "s.json"),
        "--csv",
        str(tmp_path / "s.csv"),
        "--markdown",
        str(tmp_path / "s.md"),
        "--plot",
        str(tmp_path / "s.png"),
    )
    rows = json.loads((tmp_path / "s.json").read_text())
    assert [row["name"] for row in rows] == ["q1", "q2b", "#3"]
    assert all(row["input_size"] == 64 for row in rows)
    assert rows[2]["spec"] == TINY and rows[2]["drawn"] and ":p" not in rows[2]["drawn"]
    assert rows[0]["binary_ratio"] > rows[1]["binary_ratio"] > 0
    assert all(row["paper_map"] is None for row in rows)  # the paper's figures are for z = 512
    with open(tmp_path / "s.csv") as handle:
        assert [int(r["macs"]) for r in csv.DictReader(handle)] == [row["macs"] for row in rows]
    markdown = (tmp_path / "s.md").read_text()
    assert markdown.startswith("| name | z | GMACs | rb |") and "| q2b | 64 |" in markdown
    assert "binary ms" not in markdown  # nothing measured
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert "q2b" in out and "eq GFLOP" in out


def test_presets_at_their_size_carry_the_papers_map():
    rows = {line.split()[0]: line.split() for line in sweep("q3", "q4").splitlines()[2:]}
    assert rows["q3"][1] == "512" and "51.3" in rows["q3"] and "40.0" in rows["q4"]


def test_results_of_bcn_eval_go_on_the_row_of_their_spec(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"format": "bcn-run/1", "spec": TINY, "seed": 2}))
    (run / "metrics.json").write_text(json.dumps({"source": str(run / "best.h5"), "map50_voc07": 0.425}))
    sweep(TINY, "--seed", "2", "--results", str(run / "metrics.json"), "--json", str(tmp_path / "s.json"))
    assert json.loads((tmp_path / "s.json").read_text())[0]["map"] == pytest.approx(42.5)
    # The same spec drawn from another seed is another model.
    result = CliRunner().invoke(main, ["arch", "sweep", TINY, "--results", str(run / "metrics.json")])
    assert result.exit_code != 0 and "none of the swept specs" in result.output


@pytest.mark.parametrize("option", ["--json", "--markdown", "--csv", "--plot"])
def test_an_output_naming_a_results_file_is_refused(option, tmp_path):
    results = tmp_path / "R.json"
    content = json.dumps({"source": "runs/q1/best.h5", "map50_voc07": 0.4})
    results.write_text(content)
    done = subprocess.run(
        bcn_cli("arch", "sweep", "q1", "--results", results, option, results), capture_output=True, text=True
    )
    assert (
        done.returncode == 2
        and done.stderr.strip() == f"Error: {results}: {option} would overwrite this input; choose another file"
    )
    assert results.read_text() == content


@pytest.mark.parametrize(
    "args, message",
    [
        (["qn(64) qn([1x32:bb, 1x64]) tp(2)([16]) h(8)"], "column 17"),
        (["q1", "-z", "100"], "multiple of 32"),
        (["q1", "--plot", "/no/such/folder/fig.png"], "does not exist"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    result = CliRunner().invoke(main, ["arch", "sweep", *args])
    assert result.exit_code != 0 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.timeout(1800)  # four TFLite conversions: minutes on a busy 2-core machine
def test_measured_sweep_of_two_designs(tmp_path):
    specs = ["qn(64) qn([1x32, 2x64, 2x64, 1x128]:p0.5) tp(2)([16, 16, 16]) h(16)", "rtb(64) tp(4)([16, 16, 16]) h(16)"]
    out = sweep(
        *specs,
        "--input-size",
        "64",
        "--measure",
        "--runs",
        "2",
        "--seed",
        "3",
        "--keep",
        str(tmp_path / "m"),
        "--json",
        str(tmp_path / "s.json"),
        "--markdown",
        str(tmp_path / "s.md"),
        "--plot",
        str(tmp_path / "s.png"),
    )
    rows = json.loads((tmp_path / "s.json").read_text())
    assert len(rows) == 2
    for row in rows:
        assert row["latency_ms"] > 0 and row["float_latency_ms"] > 0 and row["file_bytes"] < row["float_file_bytes"]
    assert "binary ms" in (tmp_path / "s.md").read_text() and "binary/float" in out
    assert (tmp_path / "s.png").stat().st_size > 10_000
    # The seed and spec reach the flatbuffer's metadata.
    metadata = read_metadata(next((tmp_path / "m").glob("00-*/model.tflite")))
    assert metadata["seed"] == 3 and metadata["spec"] == specs[0] and metadata["variant"] == "binary"
    assert read_metadata(next((tmp_path / "m").glob("01-*/model.tflite")))["engine"] == "lce"
