"""`bcn.converters`: Keras -> TFLite (the LCE flatbuffer and the full-precision baselines),
from the top-level folder converters/ of the repository.

pyproject.toml maps converters/ to bcn.converters, so the files here import each other as
`bcn.converters.X`. Needs the `convert` extra (TensorFlow, larq-compute-engine).
"""
