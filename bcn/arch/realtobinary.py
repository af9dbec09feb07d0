"""`rtb(z)`: the real-to-binary encoder (Martinez et al. 2020), from larq-zoo's blocks."""

import tensorflow as tf
from larq_zoo.literature.real_to_bin_nets import RealToBinNetBNNFactory, RealToBinNetFactory

from bcn.errors import BcnError

# larq-zoo's RealToBinaryNet without its top: a stride-4 first block (7x7 conv, BN, PReLU,
# max-pool), then blocks 2-9,
# halving the resolution (and doubling the maps) at blocks 4, 6 and 8: 512 maps at stride 32.
BLOCKS = range(2, 10)


def _downsamples(block: int) -> bool:
    return block % 2 == 0 and block > 3


def real_to_binary_encoder(x, float_twin: bool = False):
    """RealToBinaryNet's layers up to its top; the float twin has no quantizers.

    Built from larq-zoo's own block methods on our input tensor (its `build` wants a
    plain tf.Tensor input and downloads ImageNet weights): the same layers in the same
    order, so `load_encoder_weights` takes larq-zoo's no-top weights file.
    """
    factory = RealToBinNetFactory() if float_twin else RealToBinNetBNNFactory()
    name = "r2b"
    x = factory.first_block(x, use_prelu=True, name=f"{name}_block_1")  # as larq-zoo's build: PReLU
    for block in BLOCKS:
        x = factory.block(x, name=f"{name}_block_{block}", downsample=_downsamples(block))
    return x


def load_encoder_weights(encoder: tf.keras.Model, path) -> None:
    """Load a weights-only .h5 of larq-zoo's RealToBinaryNet without top (matched in layer order)."""
    try:
        encoder.load_weights(str(path))
    except Exception as error:  # h5py and Keras raise many types for a mismatched file
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise BcnError(f"{path}: not weights of RealToBinaryNet without top ({reason})") from error
