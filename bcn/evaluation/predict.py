"""Run a detector over data set samples: detections in original-image pixels."""

import numpy as np

from bcn.centernet import HEADS
from bcn.decode import Detections, decode
from bcn.defaults import EVAL_SCORE_THRESHOLD
from bcn.errors import BcnError
from bcn.images import read_image, read_rgb
from bcn.preprocess import letterbox

# Low threshold and top-100: mAP needs the whole precision-recall curve.
EVAL_TOP_K = 100


def load_keras_model(path):
    """A trained .h5/.keras CenterNet with larq's layers registered; one-line error if it is not one."""
    from bcn.extras import import_tensorflow

    import_tensorflow("loading a Keras model")
    from bcn.arch.model import load_model  # imports larq and larq-zoo, whose layers then load

    return load_model(path)


def _heads(model, outputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(heatmap, size, offset) from the model's outputs, by name where the names say."""
    names = [name.split("/")[0] for name in model.output_names]
    outputs = [np.asarray(o) for o in outputs]
    if set(HEADS) <= set(names):
        return tuple(outputs[names.index(head)] for head in HEADS)
    return tuple(outputs)


def predict_keras(
    model,
    samples,
    input_size: int | None = None,
    batch_size: int = 8,
    score_threshold: float = EVAL_SCORE_THRESHOLD,
    top_k: int = EVAL_TOP_K,
    progress=None,
) -> dict[str, Detections]:
    """Detections (original-image pixels, bcn convention) of a Keras CenterNet on each sample.

    Images are letterboxed as in bcn.preprocess, run in batches, decoded with
    bcn.decode. `input_size` defaults to the model's input size. Returns
    image_id -> Detections. `progress` wraps the batch loop (e.g. tqdm).
    """
    input_size = input_size or model.input_shape[1]
    if not input_size:
        raise BcnError(f"model {model.name} has no fixed input size; pass input_size")
    results = {}
    batches = [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
    for batch in progress(batches) if progress else batches:
        inputs, boxes = zip(*(letterbox(read_rgb(sample.image_path), input_size) for sample in batch))
        heatmaps, sizes, offsets = _heads(model, model(np.stack(inputs), training=False))
        for sample, placement, heatmap, size, offset in zip(batch, boxes, heatmaps, sizes, offsets):
            detections = decode(heatmap, size, offset, top_k=top_k, score_threshold=score_threshold)
            detections.boxes = placement.to_original(detections.boxes)
            results[sample.image_id] = detections
    return results


def predict_tflite(
    model_path,
    samples,
    class_names,
    input_size: int | None = None,
    score_threshold: float = EVAL_SCORE_THRESHOLD,
    top_k: int = EVAL_TOP_K,
    progress=None,
    engine: str | None = None,
) -> dict[str, Detections]:
    """Detections of a converted .tflite model, run through bcn's on-device runtime.

    The model must detect `class_names` (the data set's); `input_size` is only for a
    .tflite without bcn metadata; `engine` is "lce" or "tflite" (None: the runtime's choice).
    """
    try:
        from bcn.runtime.detector import Detector
    except ImportError as error:
        raise BcnError(
            f"{model_path}: evaluating a .tflite needs bcn.runtime.detector, which is not available ({error})"
        ) from None
    detector = Detector(model_path, engine=engine, input_size=input_size, classes=class_names)
    if list(detector.classes) != list(class_names):
        raise BcnError(
            f"{model_path}: the model detects {', '.join(detector.classes)} but the data set has "
            f"{', '.join(class_names)}"
        )
    results = {}
    for sample in progress(samples) if progress else samples:
        found = detector.detect(read_image(sample.image_path), score_threshold=score_threshold, top_k=top_k)
        results[sample.image_id] = Detections(
            boxes=np.asarray([d.box for d in found], np.float32).reshape(-1, 4),
            scores=np.asarray([d.score for d in found], np.float32),
            classes=np.asarray([d.class_id for d in found], np.int32),
        )
    return results
