"""The paper's Table 1 figures, counted the way larq's model summary counts them."""

import json

import pytest
from click.testing import CliRunner

from bcn.cli import main

Q1_SPEC = "qn(512) qn([4x128, 4x256, 4x324, 4x512]) tp(2)([64, 64, 32]) h(32)"

# id: (GMACs, rb, eq GFLOP) from DESIGN.md §3, z = 512, C = 20
PAPER = {
    "q1": (26.8, 0.9553, 1.60),
    "q2": (31.0, 0.9112, 3.19),
    "q2e": (31.0, 0.0, 31.0),
    "rn50": (32.9, 0.0, 32.9),
}


def arch_info(*args) -> dict:
    result = CliRunner().invoke(main, ["arch", "info", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("preset", sorted(PAPER))
def test_presets_reproduce_the_paper(preset):
    gmacs, rb, eq_gflop = PAPER[preset]
    info = arch_info(preset)
    assert info["macs"] / 1e9 == pytest.approx(gmacs, rel=0.005)
    assert info["binary_ratio"] == pytest.approx(rb, abs=0.0005)
    assert info["eq_flops"] / 1e9 == pytest.approx(eq_gflop, rel=0.005)
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


def test_arch_list_shows_every_preset():
    result = CliRunner().invoke(main, ["arch", "list", "--input-size", "64", "--json"])
    assert result.exit_code == 0, result.output
    names = [row["name"] for row in json.loads(result.output)]
    assert names == ["q0", "q1", "q2", "q2e", "q3", "q4", "q5", "rn50"]


def test_human_readable_info():
    result = CliRunner().invoke(main, ["arch", "info", "q1", "-z", "64"])
    assert result.exit_code == 0, result.output
    assert "encoder" in result.output and "total" in result.output and "rb" in result.output
