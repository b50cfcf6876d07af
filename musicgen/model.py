"""build_model(config, vocab) -> keras.Model: the original study's network, and our measured variant."""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from .config import Config
from .midi import token_pitches
from .representations.events import STYLE_POSITION
from .vocab import Vocab


def pitch_table(vocab: Vocab) -> np.ndarray:
    """(vocab size, 128): which pitches each token sounds (all zeros for the rest)."""
    table = np.zeros((len(vocab), 128), dtype=np.float32)
    for index, token in enumerate(vocab.tokens):
        table[index, list(token_pitches(token))] = 1.0
    return table


def build_model(config: Config, vocab: Vocab) -> keras.Model:
    """Embedding (+ pitches) -> n x (Bidirectional) GRU with dropout -> Dense + LeakyReLU -> softmax.

    With config.pitch_input the GRUs also see each frame's pitches, so chords that share notes
    look alike to the network even when one of them is rare (measured: docs/measurements/frames-quality.md).
    The GRUs keep Keras' default activations and no recurrent dropout, so on a GPU they run
    as cuDNN kernels.
    """
    frames = keras.Input(shape=(config.seq_len,), dtype="int32", name="frames")
    x = layers.Embedding(len(vocab), config.embedding_dim, name="embedding")(frames)
    if config.pitch_input:
        # A fixed lookup: its weights are the token -> pitches table, saved with the model.
        pitches = layers.Embedding(len(vocab), 128, trainable=False, name="pitches")
        x = layers.Concatenate(name="token_and_pitches")([x, pitches(frames)])
    for layer in range(config.rnn_layers):
        last = layer == config.rnn_layers - 1
        gru = layers.GRU(config.rnn_units, return_sequences=not last, name=f"gru_{layer + 1}")
        x = layers.Bidirectional(gru, name=f"bigru_{layer + 1}")(x) if config.bidirectional else gru(x)
        x = layers.Dropout(config.dropout, name=f"dropout_{layer + 1}")(x)
    x = layers.Dense(config.dense_units, name="dense")(x)
    x = layers.LeakyReLU(name="leaky_relu")(x)
    next_frame = layers.Dense(len(vocab), activation="softmax", name="next_frame")(x)
    model = keras.Model(frames, next_frame, name="musicgen")
    if config.pitch_input:
        model.get_layer("pitches").set_weights([pitch_table(vocab)])
    return model


@keras.saving.register_keras_serializable(package="musicgen")
class StyleEveryStep(layers.Layer):
    """Adds to every step's embedding, from the style token on, a learned projection of the style
    token's embedding: the style read at every step rather than once.

    Read once at the start of a sequence, a GRU(512) carried next to nothing of it: under "JJ Lin"
    instead of "any", held-out JJ Lin songs scored within 0.01% (docs/measurements/steering.md). The
    projection starts at zero, so a network trained without it goes on as it was. Off by default
    (Config.style_every_step): the POP909 model fine-tuned with it scored them worse still.
    """

    def __init__(self, position: int = STYLE_POSITION, **kwargs):
        super().__init__(**kwargs)
        self.position = position

    def build(self, input_shape):
        dim = input_shape[-1]
        self.projection = self.add_weight(shape=(dim, dim), initializer="zeros", name="projection")

    def call(self, embedded):
        from keras import ops

        style = ops.matmul(embedded[:, self.position], self.projection)  # (batch, dim)
        read = ops.cast(ops.arange(ops.shape(embedded)[1]) >= self.position, embedded.dtype)  # causal
        return embedded + read[None, :, None] * style[:, None, :]

    def get_config(self):
        return {**super().get_config(), "position": self.position}


def build_sequence_model(config: Config, vocab_size: int) -> keras.Model:
    """Embedding -> n x causal GRU (dropout between) -> Dense logits: every position predicts the next token.

    Trained on whole chunks of config.chunk_tokens tokens; sampled one token at a time with the
    GRU state carried (musicgen.stateful), so the sequence length is left open here. With
    config.style_every_step (a steerable model), the style joins every step's input.
    """
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab_size, config.embedding_dim, name="embedding")(tokens)
    if config.steering_tokens and config.style_every_step:
        x = StyleEveryStep(name="style_every_step")(x)
    for layer in range(config.rnn_layers):
        x = layers.GRU(config.rnn_units, return_sequences=True, name=f"gru_{layer + 1}")(x)
        x = layers.Dropout(config.dropout, name=f"dropout_{layer + 1}")(x)
    next_token = layers.Dense(vocab_size, name="next_token")(x)  # logits
    return keras.Model(tokens, next_token, name="musicgen_events")


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def compile_model(model: keras.Model, config: Config, steps_per_epoch: int = 1, logits: bool = True,
                  **options) -> keras.Model:
    """Nadam and cross-entropy, as the original; with config.average_weights_over, Nadam also keeps
    an exponential moving average of the weights spanning that many epochs' worth of steps.

    Not XLA-compiled: on a CPU that trained 25% slower here (bench/training_speed.py), and cuDNN GRUs
    do not go through XLA on a GPU.
    """
    # Spanning a share of an epoch, not a fixed number of steps: a tiny folder's few steps
    # would otherwise be averaged with the random initial weights.
    span = config.average_weights_over * steps_per_epoch
    # logits: a sequence network (build_sequence_model), trained on sequences of hundreds of steps:
    # clip the gradient norm so one bad chunk cannot blow up the GRU. Else the study's softmax network.
    clipping = {"clipnorm": 1.0} if logits else {}
    optimizer = keras.optimizers.Nadam(config.learning_rate, use_ema=span > 0, **clipping,
                                       ema_momentum=1 - 1 / max(span, 1.0) if span > 0 else 0.99)
    if logits:  # logits per position, padding weighted out
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=optimizer, loss=loss, weighted_metrics=["accuracy"], **options)
        return model
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"], **options)
    return model


def load_keras(path, compile: bool = False) -> keras.Model:
    """The saved network, loaded with safe_mode (nothing in the file runs): every load goes
    through here, so that our own layers (StyleEveryStep) are registered."""
    from .errors import ModelError

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as error:  # a damaged or foreign file: say so rather than show a traceback
        raise ModelError(f"{path} cannot be loaded ({error})") from None
