"""Spec strings the notation refuses: each one line, saying the rule, before anything is built."""

import subprocess
import sys
import time

import pytest

from bcn.arch.notation import MAX_ENCODER_BLOCKS, SpecError, parse_spec

DEEP = "qn(64) qn([300x32, 1x64]) tp(2)([16]) h(8)"


def test_an_encoder_deeper_than_the_limit_is_refused_at_once():
    started = time.monotonic()
    with pytest.raises(SpecError, match=f"has 301 residual blocks; at most {MAX_ENCODER_BLOCKS} are supported"):
        parse_spec(DEEP)
    assert time.monotonic() - started < 10  # refused as it is parsed, never built
    many_scales = "qn(64) qn([" + ", ".join(["1x32"] * (MAX_ENCODER_BLOCKS + 1)) + "]) tp(2)([16]) h(8)"
    with pytest.raises(SpecError, match=f"has {MAX_ENCODER_BLOCKS + 1} residual blocks"):
        parse_spec(many_scales)


def test_the_deepest_allowed_encoder_parses():
    half = MAX_ENCODER_BLOCKS // 2
    assert parse_spec(f"qn(64) qn([{half}x32, {half}x64]) tp(2)([16]) h(8)").encoder[1].blocks == half


def test_a_too_deep_spec_is_one_line_on_the_command_line():
    code = f"import sys; sys.argv = ['bcn', 'arch', 'info', {DEEP!r}]\nfrom bcn.cli import main\nmain()\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "301 residual blocks" in result.stderr


@pytest.mark.parametrize("probability", ["-0.1", "1e-3", "1.5", "0.5.5", "0.5e"])
def test_a_probability_that_is_not_0_x_names_the_rule(probability):
    with pytest.raises(SpecError) as error:
        parse_spec(f"qn(64) qn([2x32:p{probability}, 3x64]) tp(2)([16]) h(8)")
    message = str(error.value)
    assert message.endswith(f"p must be a number from 0 to 1 written as 0.x (e.g. p0.5), not '{probability}'")
    assert "\n" not in message


def test_probabilities_written_as_0_x_0_or_1_parse():
    for written, mode in [("0.25", "p0.25"), (".5", "p0.5"), ("0", "p0"), ("1", "p1"), ("1.0", "p1")]:
        spec = parse_spec(f"qn(64) qn([2x32:p{written}, 3x64]) tp(2)([16]) h(8)")
        assert spec.encoder[0].mode == mode
