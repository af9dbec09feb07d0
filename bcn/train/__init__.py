"""CenterNet training: tf.data input pipeline, targets, losses and the Keras trainer.

`train(...)` (bcn.train.trainer) is the entry point used by `bcn train`.
"""
