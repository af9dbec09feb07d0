"""Cost accounting: MACs as larq's model summary counts them, rb and Eq. 1 FLOPs."""

from larq.models import ModelProfile

from bcn.arch.model import SECTIONS, build_model
from bcn.arch.notation import DEFAULT_SEED
from bcn.arch.resolve import resolve
from bcn.centernet import HEADS

BINARY_SPEEDUP = 64  # Eq. 1: a binary MAC costs 1/64 of a float one


def equivalent_flops(macs: int, binary_macs: int) -> float:
    """Eq. 1: FLOP = M * rb / 64 + M * (1 - rb)."""
    return binary_macs / BINARY_SPEEDUP + (macs - binary_macs)


def _section_of(layer_name: str) -> str:
    for section in SECTIONS:
        if layer_name.startswith(section + "_"):
            return section
    return "heads" if layer_name in HEADS else "other"


def _counts(profiles) -> dict:
    macs = sum(p.op_count("mac") or 0 for p in profiles)
    binary = sum(p.op_count("mac", 1) or 0 for p in profiles)
    return {
        "macs": macs,
        "binary_macs": binary,
        "binary_ratio": binary / macs if macs else 0.0,
        "eq_flops": equivalent_flops(macs, binary),
        "params": sum(p.weight_count() for p in profiles),
        "binary_params": sum(p.weight_count(1) for p in profiles),
        "size_bytes": sum(p.memory for p in profiles) / 8,
        "size_fp32_bytes": sum(p.fp_equivalent_memory for p in profiles) / 8,
    }


def model_cost(model) -> dict:
    """Totals and a per-section breakdown (stem, encoder, decoder, heads)."""
    profile = ModelProfile(model)
    layers = profile.layer_profiles
    report = _counts(layers)
    report["params"] = model.count_params()
    report["input_size"] = int(model.input_shape[1])
    report["sections"] = {}
    for section in (*SECTIONS, "other"):
        members = [p for p in layers if _section_of(p.name) == section]
        if members and (section != "other" or any(p.weight_count() for p in members)):
            report["sections"][section] = _counts(members)
    return report


def design_cost(
    text: str, input_size: int | None = None, num_classes: int = 20, float_twin: bool = False, seed: int = DEFAULT_SEED
) -> dict:
    """model_cost of a design (preset, spec string or builder file), untrained, with what it was.

    Adds `spec` (the canonical spec at its input size, or the builder's path), `float_twin`,
    `num_classes`, `seed` and, for a random spec, the binarization mask `drawn` by the seed.
    """
    architecture = resolve(text, float_twin, seed, input_size)
    cost = model_cost(build_model(architecture, input_size, num_classes, float_twin))
    spec = architecture.spec.with_input_size(cost["input_size"]) if architecture.spec else None
    cost.update(
        spec=str(spec or architecture),
        float_twin=architecture.float_twin,
        num_classes=num_classes,
        seed=seed,
        drawn=str(spec.drawn(seed)) if spec is not None and spec.is_random else None,
    )
    return cost
