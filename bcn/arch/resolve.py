"""What `--arch` names: a preset, a spec string or a user's builder file (no TensorFlow)."""

from dataclasses import dataclass, replace
from pathlib import Path

from bcn.arch.notation import DEFAULT_SEED, ArchSpec, SpecError, parse_spec
from bcn.arch.presets import PRESETS
from bcn.errors import BcnError


@dataclass(frozen=True)
class Architecture:
    """What `--arch` resolved to: a parsed spec, or a user's builder file.

    `seed` draws the binary blocks of a random (`pP`) encoder.
    """

    name: str
    spec: ArchSpec | None = None
    float_twin: bool = False
    builder: Path | None = None
    seed: int = DEFAULT_SEED

    def __str__(self) -> str:
        return str(self.spec) if self.spec else str(self.builder)


def resolve(
    text: str, float_twin: bool = False, seed: int = DEFAULT_SEED, input_size: int | None = None
) -> Architecture:
    """A preset name (see PRESETS), a spec string, or a `.py` file defining `build`.

    With `input_size`, a spec takes that size, and one its strides do not divide is a
    SpecError now, before any model is built.
    """
    architecture = _resolve(text.strip(), float_twin, seed)
    if architecture.spec is not None and input_size:
        return replace(architecture, spec=architecture.spec.with_input_size(input_size))
    return architecture


def _resolve(text: str, float_twin: bool, seed: int) -> Architecture:
    if text in PRESETS:
        preset = PRESETS[text]
        return Architecture(text, parse_spec(preset.spec), preset.float_twin or float_twin, seed=seed)
    if text.endswith(".py"):
        path = Path(text)
        if not path.is_file():
            raise BcnError(f"{text}: builder file not found")
        return Architecture(path.stem, builder=path, float_twin=float_twin, seed=seed)
    if "(" not in text:
        known = ", ".join(PRESETS)
        raise SpecError(f"unknown architecture '{text}': use a preset ({known}), a spec string or a .py builder")
    return Architecture("custom", parse_spec(text), float_twin, seed=seed)
