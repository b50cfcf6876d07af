"""build_model(config, vocab) -> keras.Model: the original study's network, and our measured variant."""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from .config import Config
from .midi import token_pitches
from .steps import alibi_slopes
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


def layer_norm(x, gamma, beta, ops):
    """LayerNormalization over the last axis (epsilon 1e-5), with `ops` = keras.ops (DecoderBlock's)."""
    mean = ops.mean(x, axis=-1, keepdims=True)
    centered = x - mean
    return centered / ops.sqrt(ops.mean(centered * centered, axis=-1, keepdims=True) + 1e-5) * gamma + beta


@keras.saving.register_keras_serializable(package="musicgen")
class DecoderBlock(layers.Layer):
    """One pre-norm causal decoder block: x + attention(norm(x)), then + feed-forward(norm(x)).

    Attention is told how far back each token is by ALiBi's penalty (a head's slope times the
    distance) instead of position embeddings, so the sampler's key/value cache can slide past the
    training length. Its weights are its own (no sublayers), in the order musicgen.steps'
    AttentionSteps reads them.
    """

    def __init__(self, heads: int = 4, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.dropout = heads, dropout
        self.seed_generator = keras.random.SeedGenerator(0)

    def build(self, input_shape):
        width = input_shape[-1]

        def weight(name, shape, initializer="glorot_uniform"):
            return self.add_weight(shape=shape, initializer=initializer, name=name)

        self.norm_1 = (weight("norm_1_gamma", (width,), "ones"), weight("norm_1_beta", (width,), "zeros"))
        self.qkv = (weight("qkv_kernel", (width, 3 * width)), weight("qkv_bias", (3 * width,), "zeros"))
        self.out = (weight("out_kernel", (width, width)), weight("out_bias", (width,), "zeros"))
        self.norm_2 = (weight("norm_2_gamma", (width,), "ones"), weight("norm_2_beta", (width,), "zeros"))
        self.ffn_in = (weight("ffn_in_kernel", (width, 4 * width)), weight("ffn_in_bias", (4 * width,), "zeros"))
        self.ffn_out = (weight("ffn_out_kernel", (4 * width, width)), weight("ffn_out_bias", (width,), "zeros"))

    def dropped(self, x, training):
        if not training or not self.dropout:
            return x
        return keras.random.dropout(x, self.dropout, seed=self.seed_generator)

    def call(self, x, training=False):
        from keras import ops

        batch, length, width = ops.shape(x)[0], ops.shape(x)[1], x.shape[-1]
        heads, size = self.heads, width // self.heads
        h = layer_norm(x, *self.norm_1, ops)
        qkv = ops.reshape(ops.matmul(h, self.qkv[0]) + self.qkv[1], (batch, length, 3, heads, size))
        q, k, v = (ops.transpose(qkv[:, :, index], (0, 2, 1, 3)) for index in range(3))  # (batch, heads, T, size)
        steps = ops.arange(length)
        distance = ops.cast(steps[:, None] - steps[None, :], x.dtype)  # how far back each key is
        slopes = ops.convert_to_tensor(alibi_slopes(heads), x.dtype)
        # One additive bias: the distance penalty, and no key ahead (causal). No dropout on the
        # attention weights: over (batch, heads, T, T) it cost more than the products.
        bias = ops.where(distance >= 0, -slopes[:, None, None] * distance[None], -1e9)
        scores = ops.matmul(q * float(1 / np.sqrt(size)), ops.transpose(k, (0, 1, 3, 2))) + bias[None]
        attention = ops.softmax(scores, axis=-1)
        mixed = ops.reshape(ops.transpose(ops.matmul(attention, v), (0, 2, 1, 3)), (batch, length, width))
        x = x + self.dropped(ops.matmul(mixed, self.out[0]) + self.out[1], training)
        h = layer_norm(x, *self.norm_2, ops)
        inner = ops.gelu(ops.matmul(h, self.ffn_in[0]) + self.ffn_in[1], approximate=True)
        return x + self.dropped(ops.matmul(inner, self.ffn_out[0]) + self.ffn_out[1], training)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "dropout": self.dropout}


def build_attention_model(config: Config, vocab_size: int) -> keras.Model:
    """Embedding -> config.attention_layers x DecoderBlock -> LayerNormalization -> Dense logits:
    every position predicts the next token, attending to all before it (no position embedding:
    ALiBi). Sampled one token at a time with a key/value cache (musicgen.steps.AttentionSteps)."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab_size, config.attention_width, name="embedding")(tokens)
    x = layers.Dropout(config.dropout, name="embedding_dropout")(x)
    for layer in range(config.attention_layers):
        x = DecoderBlock(config.attention_heads, config.dropout, name=f"block_{layer + 1}")(x)
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    next_token = layers.Dense(vocab_size, name="next_token")(x)  # logits
    return keras.Model(tokens, next_token, name="musicgen_attention")


def build_network(config: Config, vocab_size: int) -> keras.Model:
    """The event network config.network names."""
    if config.network == "attention":
        return build_attention_model(config, vocab_size)
    return build_sequence_model(config, vocab_size)


def read_logits(network, inputs: np.ndarray, window: int = 1024, batch: int = 8) -> np.ndarray:
    """The network's logits at every position of inputs (rows, T). An attention network reads what
    its sampler's cache holds, at most `window` tokens back: windows overlapping by half (read
    together, a batch at a time), each position scored in the last half of one. A GRU, or a
    short input, is read in one go."""
    length = inputs.shape[1]
    if network.name != "musicgen_attention" or length <= window:
        return np.asarray(network.predict(inputs, batch_size=max(1, len(inputs)), verbose=0), np.float64)
    half = window // 2
    starts = list(range(0, length - window, half)) + [length - window]  # the last one ends at the end
    windows = np.concatenate([inputs[:, start:start + window] for start in starts])  # (windows x rows, window)
    read = np.asarray(network.predict(windows, batch_size=batch, verbose=0), np.float64)
    read = read.reshape(len(starts), len(inputs), window, -1)
    out = np.empty(inputs.shape + read.shape[3:])
    done = 0  # positions scored so far
    for start, logits in zip(starts, read):
        out[:, done:start + window] = logits[:, done - start:]
        done = start + window
    return out


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
    # XLA: the attention network trains 15% faster with it on this CPU (fused softmax and bias).
    options.setdefault("jit_compile", config.network == "attention")
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
