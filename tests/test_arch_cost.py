"""The paper's Table 1 figures, counted the way larq's model summary counts them."""

import json

import pytest
from click.testing import CliRunner

from bcn.arch.cost import equivalent_flops
from bcn.arch.presets import PRESETS
from bcn.cli import main

Q1_SPEC = "qn(512) qn([4x128, 4x256, 4x324, 4x512]) tp(2)([64, 64, 32]) h(32)"

# The rows where the paper prints GMACs, rb and eq GFLOP (docs/design.md §5).
PRINTED = sorted(name for name, preset in PRESETS.items() if preset.paper.gmacs is not None)


def arch_info(*args) -> dict:
    result = CliRunner().invoke(main, ["arch", "info", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_printed_rows_are_self_consistent():
    """Eq. 1 on the paper's own GMACs and rb gives its printed eq GFLOP (to its rounding): no misprint."""
    assert PRINTED == ["q1", "q2", "q2a", "q2e", "rn50"]
    for name in PRINTED:
        paper = PRESETS[name].paper
        assert equivalent_flops(paper.gmacs, paper.gmacs * paper.rb) == pytest.approx(paper.eq_gflop, abs=0.006), name


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRINTED)
def test_presets_reproduce_the_paper(preset):
    paper = PRESETS[preset].paper
    info = arch_info(preset)
    assert info["input_size"] == 512
    assert info["macs"] / 1e9 == pytest.approx(paper.gmacs, rel=0.005)
    assert info["binary_ratio"] == pytest.approx(paper.rb, rel=0.005)
    assert info["eq_flops"] / 1e9 == pytest.approx(paper.eq_gflop, rel=0.005)
    assert info["binary_macs"] == pytest.approx(info["macs"] * info["binary_ratio"])
    assert info["params"] > 1_000_000


def test_spec_string_equals_preset():
    preset = arch_info("q1")
    spec = arch_info(Q1_SPEC.replace(" ", ""))
    for key in ("macs", "binary_macs", "binary_ratio", "eq_flops", "params"):
        assert spec[key] == preset[key]


def test_sections_add_up_and_encoder_is_binary():
    info = arch_info("q1", "--input-size", "128")
    sections = info["sections"]
    assert set(sections) == {"stem", "encoder", "decoder", "heads"}
    assert sum(s["macs"] for s in sections.values()) == info["macs"]
    assert sections["encoder"]["binary_macs"] == info["binary_macs"]
    assert sections["stem"]["binary_macs"] == 0
    # MACs scale with the pixel count
    assert info["macs"] == pytest.approx(arch_info("q1")["macs"] / 16, rel=0.001)


def test_float_twin_has_no_binary_macs_and_same_total():
    binary = arch_info("q2", "-z", "128")
    twin = arch_info("q2", "-z", "128", "--float-twin")
    assert twin["binary_macs"] == 0
    assert twin["macs"] == binary["macs"]
    assert twin["size_bytes"] > 8 * binary["size_bytes"]


@pytest.mark.slow
def test_arch_list_shows_every_preset_with_its_paper_row():
    result = CliRunner().invoke(main, ["arch", "list", "--input-size", "64", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == [
        "q0",
        "q1",
        "q2",
        "q2a",
        "q2b",
        "q2c",
        "q2d",
        "q2e",
        "q3",
        "q4",
        "q5",
        "rtb",
        "rn50",
        "rn50-256",
    ]
    notes = {row["name"]: row["note"] for row in rows}
    assert notes["q2c"] == "Table 2, q2c: 'binarize second half of encoder', paper's mAP 58.2"
    assert notes["rn50-256"] == "Table 2, rn50/2: 'transfer learning, 256 input', paper's mAP 63.8*"
    assert notes["rn50"] == "Table 2, rn50, paper's mAP 61.4 (72.3*)"
    assert notes["q2a"].startswith("= q2;")


@pytest.mark.slow
def test_arch_list_at_each_presets_own_size():
    result = CliRunner().invoke(main, ["arch", "list"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("rn50-256"))
    assert line.split()[1:4] == ["256", "8.22", "0.0000"]


def test_human_readable_info():
    result = CliRunner().invoke(main, ["arch", "info", "q1", "-z", "64"])
    assert result.exit_code == 0, result.output
    assert "encoder" in result.output and "total" in result.output and "rb" in result.output


def test_q2d_has_a_draw_like_the_papers():
    """The paper's 13.77 eq GFLOP for its own p=0.5 draw is one the notation produces (docs/design.md §5)."""
    info = arch_info("q2d", "--seed", "98")
    assert info["eq_flops"] / 1e9 == pytest.approx(PRESETS["q2d"].paper.eq_gflop, rel=0.005)
    assert info["macs"] == arch_info("q2", "-z", "512")["macs"]
