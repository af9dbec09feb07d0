"""Named architectures of the paper, in its notation (docs/design.md: Tables 1 and 2).

Each preset is a row of the paper's Table 1 with its Table 2 note and mAP (VOC2007
test, the paper's training, not ours) and, where the paper prints them, its GMACs, rb
and equivalent GFLOP at the preset's input size (C = 20).
"""

from dataclasses import dataclass

Q2_ENCODER = "2x128, 4x256, 8x324, 10x512"
Q2_DECODER = "tp(4)([128, 64, 16]) h(64)"


@dataclass(frozen=True)
class PaperFigures:
    """What the paper prints for a row; None where its cell is empty."""

    row: str  # the paper's name for the row (Table 2's q2a for q2, rn50/2 for rn50-256)
    map: str  # Table 2's mAP; "*" marks ImageNet-pretrained weights
    table2: str  # Table 2's note ("" where it has none)
    gmacs: float | None = None
    rb: float | None = None
    eq_gflop: float | None = None


@dataclass(frozen=True)
class Preset:
    spec: str
    paper: PaperFigures
    float_twin: bool = False
    alias_of: str | None = None

    @property
    def note(self) -> str:
        """The Table 2 row and the paper's mAP, in a line."""
        same = f"= {self.alias_of}; " if self.alias_of else ""
        note = f": '{self.paper.table2}'" if self.paper.table2 else ""
        return f"{same}Table 2, {self.paper.row}{note}, paper's mAP {self.paper.map}"


PRESETS = {
    "q0": Preset(
        "qn(512) qn([4x64, 4x128, 4x256, 4x512]) tp(4)([32, 16, 4]) h(64)",
        PaperFigures("q0", "53.3*", "transfer learning"),
    ),
    "q1": Preset(
        "qn(512) qn([4x128, 4x256, 4x324, 4x512]) tp(2)([64, 64, 32]) h(32)",
        PaperFigures("q1", "54.6", "less features on decoder and head", 26.8, 0.9553, 1.60),
    ),
    "q2": Preset(
        f"qn(512) qn([{Q2_ENCODER}]) {Q2_DECODER}",
        PaperFigures("q2a", "56.4", "increasing depth", 31.0, 0.9112, 3.19),
    ),
    "q2a": Preset(
        f"qn(512) qn([{Q2_ENCODER}]) {Q2_DECODER}",
        PaperFigures("q2a", "56.4", "increasing depth", 31.0, 0.9112, 3.19),
        alias_of="q2",
    ),
    "q2b": Preset(
        f"qn(512) qn([2x128, 4x256, 8x324:f, 10x512:f]) {Q2_DECODER}",
        PaperFigures("q2b", "56.1", "binarize first half of encoder"),
    ),
    "q2c": Preset(
        f"qn(512) qn([2x128:f, 4x256:f, 8x324, 10x512]) {Q2_DECODER}",
        PaperFigures("q2c", "58.2", "binarize second half of encoder"),
    ),
    "q2d": Preset(
        f"qn(512) qn([{Q2_ENCODER}]:p0.5) {Q2_DECODER}",
        # 13.77 is for the paper's own draw of the mask, which it does not print.
        PaperFigures("q2d", "56.9", "random (p=0.5) binarization", eq_gflop=13.77),
    ),
    "q2e": Preset(
        f"qn(512) qn([{Q2_ENCODER}]) {Q2_DECODER}",
        PaperFigures("q2e", "57.5", "removed binarization", 31.0, 0.0, 31.0),
        float_twin=True,
    ),
    "q3": Preset(
        "qn(512) qn([4x64, 4x128, 4x162, 4x256]) tp(4)([64, 32, 8]) h(32)",
        PaperFigures("q3", "51.3", "lighter"),
    ),
    "q4": Preset(
        "qn(512) qn([4x64, 4x128, 4x162, 4x256]) tp(2)([64, 64, 64]) h(32)",
        PaperFigures("q4", "40.0", "less params on encoder"),
    ),
    "q5": Preset(
        "qn(512) qn([8x64, 8x128, 8x162, 8x256]) tp(2)([64, 64, 64]) h(32)",
        PaperFigures("q5", "47.3", "q4, deeper"),
    ),
    "rtb": Preset(
        "rtb(512) tp(4)([32, 16, 4]) h(64)",
        PaperFigures("rtb", "58.4", "real to binary as encoder"),
    ),
    "rn50": Preset(
        "rn(512) tp(4)([256, 128, 32]) h(64)",
        PaperFigures("rn50", "61.4 (72.3*)", "", 32.9, 0.0, 32.9),
    ),
    "rn50-256": Preset(
        "rn(256) tp(4)([256, 128, 32]) h(64)",
        PaperFigures("rn50/2", "63.8*", "transfer learning, 256 input"),
    ),
}
