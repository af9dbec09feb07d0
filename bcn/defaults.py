"""Defaults the command line's options and the Python functions share, each set here once.

Plain values only: the runtime (bcn.runtime) reads them on a device without TensorFlow.
"""

# The paper's training recipe (bcn.train.trainer.Recipe; docs/design.md §6): epochs, global batch size, Adam's
# initial learning rate, and how many epochs apart the held-out mAP is measured.
EPOCHS = 200
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
EVAL_EVERY = 5
# bcn train with TF_CONFIG: seconds to wait for every other worker to start before giving up.
WORKER_TIMEOUT_S = 300.0
# Detections a user sees: bcn detect, the detect step of bcn bench, convert's parity check, the demo's images.
SCORE_THRESHOLD = 0.3
# Detections scored for mAP: low, so the precision-recall curve reaches high recall.
EVAL_SCORE_THRESHOLD = 0.01
# Live streams: reconnect attempts before one counts as lost.
RETRIES = 5
# Live streams: seconds without data before a read gives up (FFmpeg's own open and read timeout).
STALL_TIMEOUT_S = 5.0
# bcn bench: measured and unmeasured runs per model and thread count.
BENCH_RUNS = 50
BENCH_WARMUP = 5
# bcn convert: images for the parity check; images whose activation ranges calibrate the int8 models.
PARITY_SAMPLES = 8
CALIBRATION_IMAGES = 200
# bcn convert: the precision of the binary model's full-precision layers (stem, transitions, decoder, heads).
REST_PRECISION = "float32"
# Interpreter threads: the most any engine is asked for (bcn's LCE delegate refuses more).
MAX_THREADS = 256
