"""build_model(config, vocab_size) -> keras.Model: the original study's network."""
from __future__ import annotations

import keras
from keras import layers

from .config import Config


def build_model(config: Config, vocab_size: int) -> keras.Model:
    """Embedding -> n x Bidirectional GRU with dropout -> Dense + LeakyReLU -> softmax.

    The GRUs keep Keras' default activations and no recurrent dropout, so on a GPU they run
    as cuDNN kernels. (Unrolling them compiles 10x slower under XLA for little gain.)
    """
    frames = keras.Input(shape=(config.seq_len,), dtype="int32", name="frames")
    x = layers.Embedding(vocab_size, config.embedding_dim, name="embedding")(frames)
    for layer in range(config.rnn_layers):
        last = layer == config.rnn_layers - 1
        x = layers.Bidirectional(layers.GRU(config.rnn_units, return_sequences=not last),
                                 name=f"bigru_{layer + 1}")(x)
        x = layers.Dropout(config.dropout, name=f"dropout_{layer + 1}")(x)
    x = layers.Dense(config.dense_units, name="dense")(x)
    x = layers.LeakyReLU(name="leaky_relu")(x)
    next_frame = layers.Dense(vocab_size, activation="softmax", name="next_frame")(x)
    return keras.Model(frames, next_frame, name="musicgen")


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def compile_model(model: keras.Model, config: Config, **options) -> keras.Model:
    """Nadam and cross-entropy, as the original.

    Not XLA-compiled: on a CPU that trained 25% slower here (bench/train.py), and cuDNN GRUs
    do not go through XLA on a GPU.
    """
    model.compile(optimizer=keras.optimizers.Nadam(config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], **options)
    return model
