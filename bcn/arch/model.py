"""Build a CenterNet detector from a preset name, a spec string or a builder file."""

import importlib.util
import os
import warnings
from pathlib import Path

import tensorflow as tf

from bcn.arch.decoder import transposed_conv_decoder
from bcn.arch.heads import centernet_heads
from bcn.arch.notation import DEFAULT_SEED, ArchSpec
from bcn.arch.quicknet import quicknet_encoder, quicknet_stem
from bcn.arch.realtobinary import load_encoder_weights, real_to_binary_encoder
from bcn.arch.resnet import resnet50_backbone
from bcn.arch.resolve import Architecture, resolve
from bcn.centernet import HEADS
from bcn.errors import BcnError

# Layer-name prefixes that mark the four modules of the notation.
SECTIONS = ("stem", "encoder", "decoder", "heads")
KERAS_3_HINT = (
    "bcn needs tf.keras (Keras 2) models: build with `import tensorflow as tf` and tf.keras, not `import keras`"
)


def _load_builder(path: Path):
    module_spec = importlib.util.spec_from_file_location(f"bcn_user_arch_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SystemExit as error:
        raise BcnError(f"{path}: cannot load builder (it called sys.exit({error.code!r}))") from None
    except Exception as error:  # a user's file: report, don't trace back
        raise BcnError(f"{path}: cannot load builder ({type(error).__name__}: {error})") from error
    if not callable(getattr(module, "build", None)):
        raise BcnError(f"{path}: defines no build(input_size, num_classes, float_twin) function")
    return module.build


def _is_keras_3(thing) -> bool:
    """True for an object of Keras 3 (the `keras` package), which tf.keras (tf_keras) cannot use."""
    return type(thing).__module__.split(".")[0] == "keras"


def _run_builder(path: Path, input_size: int, num_classes: int, float_twin: bool) -> tf.keras.Model:
    """The model a user's builder file returns, checked to be a tf.keras CenterNet; its failures in one line."""
    build = _load_builder(path)
    try:
        model = build(input_size, num_classes, float_twin)
    except BcnError:
        raise
    except SystemExit as error:
        raise BcnError(f"{path}: build() called sys.exit({error.code!r}) instead of returning a model") from None
    except Exception as error:  # a user's code: report, don't trace back
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
        raise BcnError(f"{path}: build() failed ({type(error).__name__}{': ' + reason if reason else ''})") from error
    if _is_keras_3(model):
        raise BcnError(f"{path}: build() returned a Keras 3 model; {KERAS_3_HINT}")
    if not isinstance(model, tf.keras.Model):
        raise BcnError(f"{path}: build() returned {type(model).__name__}, not a Keras model")
    check_outputs(model, str(path))
    return model


def _prefix_new_layers(inputs, outputs, section: str, seen: set) -> None:
    """Name the layers between `inputs` and `outputs` not yet seen `<section>_<name>`."""
    for layer in tf.keras.Model(inputs, outputs).layers:
        if id(layer) not in seen and not isinstance(layer, tf.keras.layers.InputLayer):
            seen.add(id(layer))
            if layer.name not in HEADS:
                layer._name = f"{section}_{layer.name}"


def build_from_spec(
    spec: ArchSpec,
    num_classes: int = 20,
    float_twin: bool = False,
    name: str = "bcn",
    seed: int = DEFAULT_SEED,
    encoder_weights=None,
) -> tf.keras.Model:
    """The detector for a parsed spec; outputs heatmap, size, offset at stride 4.

    `seed` draws the binary blocks of a random (`pP`) encoder; `float_twin` makes every
    block full precision. `encoder_weights`: a weights-only .h5 for the encoder
    (larq-zoo's RealToBinaryNet without top, for `rtb`).
    """
    image = tf.keras.Input((spec.input_size, spec.input_size, 3), name="image")
    seen: set = set()
    if spec.backbone == "rn":
        x = resnet50_backbone(image)
    elif spec.backbone == "rtb":
        x = real_to_binary_encoder(image, float_twin)
    else:
        x = quicknet_stem(image, spec.encoder[0].filters)
        _prefix_new_layers(image, x, "stem", seen)
        masks = spec.binary_masks(seed)
        if float_twin:
            masks = tuple((False,) * len(mask) for mask in masks)
        x = quicknet_encoder(x, spec.encoder, masks)
    if encoder_weights is not None:
        if spec.backbone != "rtb":
            raise BcnError(f"{encoder_weights}: encoder weights files are for rtb(z) only")
        load_encoder_weights(tf.keras.Model(image, x), encoder_weights)
    _prefix_new_layers(image, x, "encoder", seen)
    x = transposed_conv_decoder(x, spec.decoder_kernel, spec.decoder_filters)
    _prefix_new_layers(image, x, "decoder", seen)
    outputs = centernet_heads(x, spec.head_filters, num_classes)
    _prefix_new_layers(image, list(outputs), "heads", seen)
    return tf.keras.Model(image, list(outputs), name=name)


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(spec: ArchSpec, num_classes: int, batch_size: int | None = None) -> None:
    """Refuse a spec whose float32 weights (with gradients and Adam's two slots when training
    a `batch_size`), and activations, cannot fit in this machine's memory, before building it."""
    params, maps = spec.least_size(num_classes)
    weights = 4 * params * (4 if batch_size else 1)
    activations = 4 * maps * (batch_size or 0)
    total, memory = weights + activations, _memory_bytes()
    if total > memory:
        what = f"{params:,} parameters" + (f" and {maps:,} activations per image x {batch_size}" if batch_size else "")
        raise BcnError(
            f"{spec}: needs at least {total / 2**30:,.1f} GiB ({what}) but this machine has "
            f"{memory / 2**30:.1f} GiB; use fewer filters, a smaller input size or a smaller batch"
        )


def build_model(
    arch: Architecture | str,
    input_size: int | None = None,
    num_classes: int = 20,
    float_twin: bool = False,
    seed: int | None = None,
    encoder_weights=None,
) -> tf.keras.Model:
    """Build the untrained detector; `input_size` overrides the spec's z, `seed` the architecture's."""
    if isinstance(arch, str):
        arch = resolve(arch, float_twin)
    float_twin = float_twin or arch.float_twin
    seed = arch.seed if seed is None else seed
    if num_classes <= 0:
        raise BcnError(f"number of classes must be positive, got {num_classes}")
    if arch.builder is not None:
        return _run_builder(arch.builder, input_size or 512, num_classes, float_twin)
    spec = arch.spec.with_input_size(input_size) if input_size else arch.spec
    check_fits(spec, num_classes)
    name = f"{arch.name}_float" if float_twin and not arch.float_twin else arch.name
    return build_from_spec(spec, num_classes, float_twin, name=name, seed=seed, encoder_weights=encoder_weights)


def check_outputs(model: tf.keras.Model, source: str) -> None:
    """Fail unless `model` is a CenterNet: heatmap, size, offset at the same stride."""
    names = [getattr(t, "name", "").split("/")[0] for t in model.outputs]
    shapes = [tuple(t.shape) for t in model.outputs]
    ok = (
        len(shapes) == 3
        and shapes[1][-1] == 2
        and shapes[2][-1] == 2
        and all(len(s) == 4 and s[1:3] == shapes[0][1:3] for s in shapes)
    )
    if not ok:
        raise BcnError(
            f"{source}: not a CenterNet model: expected outputs heatmap (H, W, C), size "
            f"(H, W, 2), offset (H, W, 2); got {', '.join(map(str, shapes))} ({', '.join(names)})"
        )


def save_model(model: tf.keras.Model, path) -> None:
    """Save `model` to `path` (.h5 or .keras, as the name says), without Keras' warning that HDF5 is legacy:
    bcn's tools read .h5 on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")
        model.save(path)


def custom_objects() -> dict:
    """What Keras needs to load a bcn model (larq's layers register themselves)."""
    from bcn.arch.quicknet import BlurPool

    return {"BlurPool": BlurPool}


def load_model(path) -> tf.keras.Model:
    """Load a bcn Keras model (.h5 or .keras) for inference, with one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise BcnError(f"{path}: file not found")
    try:
        model = tf.keras.models.load_model(path, compile=False, custom_objects=custom_objects())
    except Exception as error:  # Keras raises many types for a file that is not a model
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise BcnError(f"{path}: not a loadable Keras model ({reason})") from error
    check_outputs(model, str(path))
    return model
