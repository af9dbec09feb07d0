"""The paper's modular notation: `stem encoder decoder heads` as text.

    qn(512) qn([4x128, 4x256, 4x324, 4x512]) tp(2)([64, 64, 32]) h(32)
    rn(512) tp(4)([256, 128, 32]) h(64)

`qn(z)` is the QuickNet stem for input size z, `qn([n1xf1, ...])` the QuickNet
encoder with n_i residual blocks of f_i maps per scale, `tp(k)([f1, ...])` the
transposed-conv decoder with k x k kernels, `h(f)` the CenterNet heads. `rn(z)` is
the ResNet-50 backbone (stem and encoder in one). Spaces are optional; `×` may
stand for `x`.
"""

import re
from dataclasses import dataclass

from bcn.errors import BcnError

OUTPUT_STRIDE = 4


class SpecError(BcnError):
    """A spec string that does not follow the notation."""


@dataclass(frozen=True)
class Section:
    blocks: int
    filters: int


@dataclass(frozen=True)
class ArchSpec:
    """A parsed architecture: what each of the four modules is made of."""

    backbone: str  # "qn" (QuickNet stem + encoder) or "rn" (ResNet-50)
    input_size: int
    encoder: tuple[Section, ...]  # empty for "rn"
    decoder_kernel: int
    decoder_filters: tuple[int, ...]
    head_filters: int

    @property
    def encoder_stride(self) -> int:
        if self.backbone == "rn":
            return 32
        return OUTPUT_STRIDE * 2 ** (len(self.encoder) - 1)

    def with_input_size(self, input_size: int) -> "ArchSpec":
        spec = ArchSpec(
            self.backbone,
            input_size,
            self.encoder,
            self.decoder_kernel,
            self.decoder_filters,
            self.head_filters,
        )
        spec.validate()
        return spec

    def validate(self) -> None:
        """Check the sizes agree with each other (strides, divisibility)."""
        stride = self.encoder_stride
        if self.input_size <= 0 or self.input_size % stride:
            raise SpecError(
                f"input size {self.input_size} must be a positive multiple of {stride} "
                f"(the encoder's stride)"
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
        block (ResNet-50's 23.5 M parameters are taken as they are).
        """
        stride, maps = OUTPUT_STRIDE, 0
        if self.backbone == "rn":
            params, channels, stride = 23_500_000, 2048, 32
        else:
            params, channels = 0, self.encoder[0].filters
            maps += (self.input_size // stride) ** 2 * channels
            for index, section in enumerate(self.encoder):
                if index:
                    params += channels * section.filters
                    stride *= 2
                params += section.blocks * 9 * section.filters ** 2
                maps += (self.input_size // stride) ** 2 * section.filters * section.blocks
                channels = section.filters
        for filters in self.decoder_filters:
            stride //= 2
            params += self.decoder_kernel ** 2 * channels * filters
            maps += (self.input_size // stride) ** 2 * filters
            channels = filters
        params += 3 * 9 * channels * self.head_filters
        maps += (self.input_size // OUTPUT_STRIDE) ** 2 * (3 * self.head_filters + num_classes + 4)
        return params, maps

    def __str__(self) -> str:
        if self.backbone == "rn":
            head = f"rn({self.input_size})"
        else:
            sections = ", ".join(f"{s.blocks}x{s.filters}" for s in self.encoder)
            head = f"qn({self.input_size}) qn([{sections}])"
        decoder = ", ".join(str(f) for f in self.decoder_filters)
        return f"{head} tp({self.decoder_kernel})([{decoder}]) h({self.head_filters})"


_TOKEN = re.compile(r"\s*(?:(?P<int>-?\d+)|(?P<name>[a-z]+)|(?P<punct>[()\[\],x]))", re.I)


class _Parser:
    def __init__(self, text: str):
        self.text = text.replace("×", "x")
        self.pos = 0

    def fail(self, expected: str) -> SpecError:
        rest = self.text[self.pos :].strip()
        found = f"'{rest[:12]}'" if rest else "the end"
        column = len(self.text) - len(self.text[self.pos :].lstrip()) + 1
        return SpecError(
            f"bad spec '{self.text}': expected {expected} at column {column}, found {found}"
        )

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

    def parse(self) -> ArchSpec:
        backbone = self.peek()
        if backbone not in ("qn", "rn"):
            raise self.fail("a stem 'qn(z)' or 'rn(z)'")
        self.call(backbone, "a stem")
        input_size = self.number("the input size z")
        self.take(")")
        encoder: list[Section] = []
        if backbone == "qn":
            self.call("qn", "an encoder 'qn([n x f, ...])'")
            self.take("[")
            while True:
                blocks = self.number("a block count n in 'n x f'")
                self.take("x", "'x' in 'n x f'")
                encoder.append(Section(blocks, self.number("a filter count f in 'n x f'")))
                if self.peek() != ",":
                    break
                self.take(",")
            self.take("]", "',' or ']'")
            self.take(")")
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
        spec = ArchSpec(backbone, input_size, tuple(encoder), kernel, tuple(decoder), heads)
        spec.validate()
        return spec


def parse_spec(text: str) -> ArchSpec:
    """Parse a spec string in the paper's notation, with errors that say where."""
    return _Parser(text).parse()
