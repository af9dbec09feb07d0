"""The paper's modular notation: `stem encoder decoder heads` as text.

    qn(512) qn([4x128, 4x256, 4x324, 4x512]) tp(2)([64, 64, 32]) h(32)
    qn(512) qn([2x128, 4x256, 8x324:f, 10x512:f]) tp(4)([128, 64, 16]) h(64)
    qn(512) qn([2x128, 4x256, 8x324, 10x512]:p0.5) tp(4)([128, 64, 16]) h(64)
    rn(512) tp(4)([256, 128, 32]) h(64)
    rtb(512) tp(4)([32, 16, 4]) h(64)

`qn(z)` is the QuickNet stem for input size z, `qn([n1xf1, ...])` the QuickNet
encoder with n_i residual blocks of f_i maps per scale, `tp(k)([f1, ...])` the
transposed-conv decoder with k x k kernels, `h(f)` the CenterNet heads. `rn(z)` is
the ResNet-50 backbone and `rtb(z)` the real-to-binary encoder (stem and encoder in
one). Spaces are optional; `×` may stand for `x`.

Partial binarization: a scale `nxf` may end in `:b` (its blocks binary, the default),
`:f` (full precision), a mask of n letters `b`/`f` (one per block, e.g. `4x256:bffb`)
or `:pP` (each block binary with probability P, a number from 0 to 1 written as 0.x,
drawn from a seed). `]:MODE` after the list applies MODE to every scale that names none.

An encoder has at most MAX_ENCODER_BLOCKS residual blocks in all: a deeper spec is
refused as it is parsed, before anything is built.
"""

import random
import re
from dataclasses import dataclass, replace

from bcn.centernet import OUTPUT_STRIDE
from bcn.errors import BcnError

# The seed of random binarization masks when none is given.
DEFAULT_SEED = 0

BINARY, FLOAT = "b", "f"

# The most residual blocks an encoder may have, all scales together (the paper's deepest has 24).
MAX_ENCODER_BLOCKS = 64

# What may follow `:p` up to the next delimiter, and how P must be written.
_PROBABILITY_TEXT = re.compile(r"[^\s,()\[\]:]*")
_PROBABILITY = re.compile(r"\d+(\.\d*)?|\.\d+")


class SpecError(BcnError):
    """A spec string that does not follow the notation."""


@dataclass(frozen=True)
class Section:
    """One encoder scale: `blocks` residual blocks of `filters` maps.

    `mode` says which blocks are binary: "b" all, "f" none, a mask of b/f letters (one
    per block), or "p0.5" (each block binary with probability 0.5, drawn from a seed).
    """

    blocks: int
    filters: int
    mode: str = BINARY

    @property
    def probability(self) -> float | None:
        return float(self.mode[1:]) if self.mode.startswith("p") else None

    def __str__(self) -> str:
        return f"{self.blocks}x{self.filters}" + (f":{self.mode}" if self.mode != BINARY else "")


def _probability_mode(p: float) -> str:
    return f"p{p:g}"


@dataclass(frozen=True)
class ArchSpec:
    """A parsed architecture: what each of the four modules is made of."""

    backbone: str  # "qn" (QuickNet stem + encoder), "rn" (ResNet-50) or "rtb" (real-to-binary)
    input_size: int
    encoder: tuple[Section, ...]  # empty for "rn" and "rtb"
    decoder_kernel: int
    decoder_filters: tuple[int, ...]
    head_filters: int

    @property
    def encoder_stride(self) -> int:
        if self.backbone != "qn":
            return 32
        return OUTPUT_STRIDE * 2 ** (len(self.encoder) - 1)

    @property
    def is_random(self) -> bool:
        """Whether some blocks are binary by chance (their mask depends on the seed)."""
        return any(s.probability is not None for s in self.encoder)

    def binary_masks(self, seed: int = DEFAULT_SEED) -> tuple[tuple[bool, ...], ...]:
        """Per scale, per block: is the block's conv binary?

        One uniform number in [0, 1) is drawn per encoder block, in order, from `seed`;
        a block of a `pP` scale is binary when its number is below P. So p=0 is never
        binary, p=1 always, and with one seed a lower P binarizes a subset of a higher P's blocks.
        """
        draws = random.Random(seed)
        masks = []
        for section in self.encoder:
            numbers = [draws.random() for _ in range(section.blocks)]
            p = section.probability
            if p is not None:
                masks.append(tuple(u < p for u in numbers))
            elif len(section.mode) == section.blocks and section.blocks > 1:
                masks.append(tuple(c == BINARY for c in section.mode))
            else:
                masks.append((section.mode == BINARY,) * section.blocks)
        return tuple(masks)

    def drawn(self, seed: int = DEFAULT_SEED) -> "ArchSpec":
        """The same spec with each random scale's mask drawn from `seed`, written out."""
        if not self.is_random:
            return self
        sections = []
        for section, mask in zip(self.encoder, self.binary_masks(seed)):
            if section.probability is not None:
                mode = (
                    BINARY if all(mask) else FLOAT if not any(mask) else "".join(BINARY if b else FLOAT for b in mask)
                )
                section = replace(section, mode=mode)
            sections.append(section)
        return replace(self, encoder=tuple(sections))

    def with_input_size(self, input_size: int) -> "ArchSpec":
        spec = replace(self, input_size=input_size)
        spec.validate()
        return spec

    def validate(self) -> None:
        """Check the sizes agree with each other (strides, divisibility)."""
        stride = self.encoder_stride
        if self.input_size <= 0 or self.input_size % stride:
            raise SpecError(
                f"input size {self.input_size} must be a positive multiple of {stride} (the encoder's stride)"
            )
        needed = {32: 3}.get(stride, len(self.encoder) - 1)
        if len(self.decoder_filters) != needed:
            raise SpecError(
                f"decoder tp(k)([...]) has {len(self.decoder_filters)} entries but the "
                f"encoder's stride {stride} needs {needed} to come back to stride "
                f"{OUTPUT_STRIDE}"
            )

    def least_size(self, num_classes: int) -> tuple[int, int]:
        """(parameters, activations per image) that the model has at least, counted without building it.

        Only the big terms: each encoder block's 3 x 3 conv, each transition's 1 x 1 conv,
        the decoder's transposed convs and the heads' 3 x 3 convs, and one output map per
        block (ResNet-50's 23.5 M and the real-to-binary encoder's 11 M parameters, larq-zoo's
        count without its top, are taken as they are).
        """
        stride, maps = OUTPUT_STRIDE, 0
        if self.backbone == "rn":
            params, channels, stride = 23_500_000, 2048, 32
        elif self.backbone == "rtb":
            params, channels, stride = 11_000_000, 512, 32
        else:
            params, channels = 0, self.encoder[0].filters
            maps += (self.input_size // stride) ** 2 * channels
            for index, section in enumerate(self.encoder):
                if index:
                    params += channels * section.filters
                    stride *= 2
                params += section.blocks * 9 * section.filters**2
                maps += (self.input_size // stride) ** 2 * section.filters * section.blocks
                channels = section.filters
        for filters in self.decoder_filters:
            stride //= 2
            params += self.decoder_kernel**2 * channels * filters
            maps += (self.input_size // stride) ** 2 * filters
            channels = filters
        params += 3 * 9 * channels * self.head_filters
        maps += (self.input_size // OUTPUT_STRIDE) ** 2 * (3 * self.head_filters + num_classes + 4)
        return params, maps

    def __str__(self) -> str:
        if self.backbone != "qn":
            head = f"{self.backbone}({self.input_size})"
        else:
            modes = {s.mode for s in self.encoder}
            shared = modes.pop() if len(modes) == 1 and len(self.encoder) > 1 else BINARY
            if shared != BINARY and (shared == FLOAT or shared.startswith("p")):
                sections = ", ".join(f"{s.blocks}x{s.filters}" for s in self.encoder)
                head = f"qn({self.input_size}) qn([{sections}]:{shared})"
            else:
                head = f"qn({self.input_size}) qn([{', '.join(map(str, self.encoder))}])"
        decoder = ", ".join(str(f) for f in self.decoder_filters)
        return f"{head} tp({self.decoder_kernel})([{decoder}]) h({self.head_filters})"


_TOKEN = re.compile(r"\s*(?:(?P<decimal>\d*\.\d+)|(?P<int>-?\d+)|(?P<name>[a-z]+)|(?P<punct>[()\[\],:x]))", re.I)
BACKBONES = ("qn", "rn", "rtb")


class _Parser:
    def __init__(self, text: str):
        self.text = text.replace("×", "x")
        self.pos = 0

    def fail(self, expected: str, rule: str | None = None) -> SpecError:
        """The error for an unexpected token at the current position; `rule` says what the notation requires."""
        rest = self.text[self.pos :].strip()
        found = f"'{rest[:12]}'" if rest else "the end"
        column = len(self.text) - len(self.text[self.pos :].lstrip()) + 1
        why = f": {rule}" if rule else ""
        return SpecError(f"bad spec '{self.text}': expected {expected} at column {column}, found {found}{why}")

    def peek(self) -> str | None:
        match = _TOKEN.match(self.text, self.pos)
        return match.group().strip().lower() if match else None

    def take(self, expected: str, what: str | None = None) -> str:
        token = self.peek()
        if token != expected:
            raise self.fail(what or f"'{expected}'")
        self.pos = _TOKEN.match(self.text, self.pos).end()
        return token

    def number(self, what: str) -> int:
        match = _TOKEN.match(self.text, self.pos)
        if not match or match.group("int") is None:
            raise self.fail(what)
        value = int(match.group("int"))
        if value <= 0:
            raise self.fail(f"{what} (a positive number)")
        self.pos = match.end()
        return value

    def call(self, name: str, what: str) -> None:
        self.take(name, what)
        self.take("(")

    def mode(self, blocks: int | None) -> str:
        """After ':': b, f, a mask of `blocks` letters b/f, or pP with 0 <= P <= 1."""
        what = "'b', 'f', 'pP' (0 <= P <= 1)" + (f" or a mask of {blocks} letters b/f" if blocks else "")
        match = _TOKEN.match(self.text, self.pos)
        word = match.group("name") if match else None
        if not word:
            raise self.fail(what)
        word = word.lower()
        if word == "p":
            self.pos = self.probability(match.end(), what)
            return _probability_mode(float(self.text[match.end() : self.pos]))
        if set(word) - {BINARY, FLOAT} or (len(word) > 1 and len(word) != blocks):
            raise self.fail(what)
        self.pos = match.end()
        return word if len(set(word)) > 1 else word[0]

    def probability(self, start: int, what: str) -> int:
        """Where the P of `pP` starting at `start` ends; refused, saying the rule, unless it is 0.x, 0 or 1."""
        text = _PROBABILITY_TEXT.match(self.text, start).group()
        if not _PROBABILITY.fullmatch(text) or not 0 <= float(text) <= 1:
            written = f", not '{text}'" if text else ""
            raise self.fail(what, f"p must be a number from 0 to 1 written as 0.x (e.g. p0.5){written}")
        return start + len(text)

    def encoder(self) -> tuple[Section, ...]:
        self.call("qn", "an encoder 'qn([n x f, ...])'")
        self.take("[")
        sections: list[Section] = []
        while True:
            blocks = self.number("a block count n in 'n x f'")
            self.take("x", "'x' in 'n x f'")
            filters = self.number("a filter count f in 'n x f'")
            mode = None
            if self.peek() == ":":
                self.take(":")
                mode = self.mode(blocks)
            sections.append((blocks, filters, mode))
            if self.peek() != ",":
                break
            self.take(",")
        self.take("]", "',', ':' or ']'")
        shared = BINARY
        if self.peek() == ":":
            self.take(":")
            shared = self.mode(None)
        self.take(")", "')' or ':'")
        depth = sum(blocks for blocks, _, _ in sections)
        if depth > MAX_ENCODER_BLOCKS:
            raise SpecError(
                f"bad spec '{self.text}': the encoder has {depth} residual blocks; at most {MAX_ENCODER_BLOCKS} "
                "are supported (all scales together)"
            )
        return tuple(Section(n, f, shared if mode is None else mode) for n, f, mode in sections)

    def parse(self) -> ArchSpec:
        backbone = self.peek()
        if backbone not in BACKBONES:
            raise self.fail("a stem 'qn(z)', 'rn(z)' or 'rtb(z)'")
        self.call(backbone, "a stem")
        input_size = self.number("the input size z")
        self.take(")")
        encoder = self.encoder() if backbone == "qn" else ()
        self.call("tp", "a decoder 'tp(k)([f, ...])'")
        kernel = self.number("a kernel size k")
        self.take(")")
        self.take("(")
        self.take("[")
        decoder = [self.number("a filter count")]
        while self.peek() == ",":
            self.take(",")
            decoder.append(self.number("a filter count"))
        self.take("]", "',' or ']'")
        self.take(")")
        self.call("h", "heads 'h(f)'")
        heads = self.number("a head filter count f")
        self.take(")")
        if self.text[self.pos :].strip():
            raise self.fail("the end of the spec")
        spec = ArchSpec(backbone, input_size, encoder, kernel, tuple(decoder), heads)
        spec.validate()
        return spec


def parse_spec(text: str) -> ArchSpec:
    """Parse a spec string in the paper's notation, with errors that say where."""
    return _Parser(text).parse()
