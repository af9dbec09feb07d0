"""Named architectures of the paper, in its notation (DESIGN.md §3, Tables 1-2)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    spec: str
    float_twin: bool = False
    note: str = ""


PRESETS = {
    "q0": Preset(
        "qn(512) qn([4x64, 4x128, 4x256, 4x512]) tp(2)([64, 64, 32]) h(32)",
        note="stock QuickNet encoder (larq-zoo's widths)",
    ),
    "q1": Preset(
        "qn(512) qn([4x128, 4x256, 4x324, 4x512]) tp(2)([64, 64, 32]) h(32)",
        note="paper Table 1: 26.8 GMACs, rb 0.9553, mAP 54.6",
    ),
    "q2": Preset(
        "qn(512) qn([2x128, 4x256, 8x324, 10x512]) tp(4)([128, 64, 16]) h(64)",
        note="paper Table 1: 31.0 GMACs, rb 0.9112, mAP 56.4",
    ),
    "q2e": Preset(
        "qn(512) qn([2x128, 4x256, 8x324, 10x512]) tp(4)([128, 64, 16]) h(64)",
        float_twin=True,
        note="q2 with binarization removed: 31.0 GMACs, rb 0, mAP 57.5",
    ),
    "q3": Preset(
        "qn(512) qn([2x96, 4x192, 8x256, 10x384]) tp(4)([128, 64, 16]) h(64)",
        note="narrower q2 (our reading of the paper's variant)",
    ),
    "q4": Preset(
        "qn(512) qn([4x128, 6x256, 12x324, 14x512]) tp(4)([128, 64, 16]) h(64)",
        note="deeper q2 (our reading of the paper's variant)",
    ),
    "q5": Preset(
        "qn(512) qn([2x64, 4x128, 8x192, 10x256]) tp(2)([64, 32, 16]) h(32)",
        note="narrow and deep, smallest of the family (our reading of the paper's variant)",
    ),
    "rn50": Preset(
        "rn(512) tp(4)([256, 128, 32]) h(64)",
        note="full-precision ResNet-50 CenterNet: 32.9 GMACs, mAP 61.4",
    ),
}
