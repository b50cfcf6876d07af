"""The event network stepped in NumPy: the sampler's arithmetic, without TensorFlow.

The trained network (musicgen.model: a GRU, or the attention decoder) is read once from its .keras
file into NumPy arrays (`keras_arrays`, `load_steps`), and each step is a few small matrix products
on them: for one token of a batch of 1-16 rows that is far less work than a Keras call costs in
overhead. The GRU's gates run as one compiled loop (numba), and a large recurrent matrix is kept
in float16 and multiplied by a compiled loop that converts as it goes (bench/generation.py;
docs/measurements/speed.md); the attention network keeps each block's keys and values in a ring.
`read` and `sequence_log_probabilities` read a whole sequence as the sampler (musicgen.stateful) would.
"""
from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as llvm_ir
import numba
import numpy as np
from numba.extending import intrinsic

from .representations.events import STYLE_POSITION


def alibi_slopes(heads: int) -> np.ndarray:
    """Each head's penalty per token of distance (ALiBi: 2^-8h/H): near heads and far heads."""
    return 2.0 ** (-8.0 * np.arange(1, heads + 1) / heads)


def keras_arrays(path) -> dict[str, list[list[np.ndarray]]]:
    """A .keras file's weights by layer class, in the layers' order (a zip of JSON and HDF5: nothing
    in it runs), so that sampling needs neither TensorFlow nor its start-up time."""
    import io
    import json
    import re
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive:
        layers = json.loads(archive.read("config.json"))["config"]["layers"]
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    seen: dict[str, int] = {}
    arrays: dict[str, list[list[np.ndarray]]] = {}
    for layer in layers:  # the weights file names layers by class, numbered in order
        kind = re.sub("([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", layer["class_name"])).lower()
        count = seen.get(kind, 0)
        seen[kind] = count + 1
        group = weights.get(f"layers/{kind}" + (f"_{count}" if count else ""))
        if group is None:
            continue
        if "forward_layer" in group:  # a Bidirectional wrapper: the forward layer's, then the backward's
            arrays.setdefault(layer["class_name"], []).append(
                [np.asarray(vars_[str(index)], np.float32) for direction in ("forward_layer", "backward_layer")
                 for vars_ in [group[f"{direction}/cell/vars"]] for index in range(len(vars_))])
            continue
        variables = group.get("cell/vars") or group.get("vars")
        if variables is not None and len(variables):
            arrays.setdefault(layer["class_name"], []).append(
                [np.asarray(variables[str(index)], np.float32) for index in range(len(variables))])
    return arrays


def load_steps(path, window: int = 1024):
    """The sampler's weights of a saved event network: StepWeights (a GRU) or AttentionSteps
    attending to the last `window` tokens (the chunks it was trained on)."""
    import json
    import zipfile

    arrays = keras_arrays(path)
    if "DecoderBlock" not in arrays:
        return StepWeights.from_arrays(arrays)
    with zipfile.ZipFile(path) as archive:
        layers = json.loads(archive.read("config.json"))["config"]["layers"]
    heads = next(layer["config"]["heads"] for layer in layers if layer["class_name"] == "DecoderBlock")
    return AttentionSteps.from_arrays(arrays, heads, window)


# A recurrent matrix this big in float32 (a GRU of 296 units or more) is kept in float16 for the
# sampler: the step is then within 2e-8 nats (KL a token) of float32's and 2.9x faster on one
# core whose L2 holds it (docs/measurements/speed.md); a smaller one stays float32 and exact.
HALF_FROM_BYTES = 1 << 20


@intrinsic
def _half_to_float(typing_context, bits):
    """A float16 held as its 16 bits (uint16; numba has no float16 type) -> float32: one
    conversion instruction (F16C), vectorized with the loop around it."""
    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], llvm_ir.HalfType()), llvm_ir.FloatType())
    return numba.types.float32(numba.types.uint16), codegen


@numba.njit(cache=True, nogil=True, fastmath=True)
def _half_product(matrix, h, out):
    """out (n, rows) = matrix (n, k: float16 bits) @ h.T (h: rows, k), four outputs at a time.
    Half the bytes of float32: the GRU's 1.5 MB fits a core's 2 MB L2, where its 3 MB in float32
    streamed from L3 every step (one BLAS thread: 141 -> 49 us; docs/measurements/speed.md)."""
    n, k = matrix.shape
    for row in range(h.shape[0]):
        x = h[row]
        for j in range(0, n - n % 4, 4):
            s0 = s1 = s2 = s3 = np.float32(0.0)
            for i in range(k):
                s0 += _half_to_float(matrix[j, i]) * x[i]
                s1 += _half_to_float(matrix[j + 1, i]) * x[i]
                s2 += _half_to_float(matrix[j + 2, i]) * x[i]
                s3 += _half_to_float(matrix[j + 3, i]) * x[i]
            out[j, row], out[j + 1, row], out[j + 2, row], out[j + 3, row] = s0, s1, s2, s3
        for j in range(n - n % 4, n):
            total = np.float32(0.0)
            for i in range(k):
                total += _half_to_float(matrix[j, i]) * x[i]
            out[j, row] = total


@numba.njit(inline="always", fastmath=True)
def _tanh(x):
    """tanh in float32 as a rational function (Eigen's, within 3e-7 of NumPy's over the floats):
    unlike libm's, it vectorizes, so the cell below costs 7 us a step instead of 20."""
    x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))  # tanh = +-1 in float32 beyond
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return x * p / q


@numba.njit(cache=True, nogil=True, fastmath=True)
def _gru_cell(inputs, inner, h, candidate_bias, out):
    """A GRU layer's new state from its input projection (rows, 3 units) and recurrent product
    (3 units, rows), arranged as StepWeights.__post_init__ says: one pass instead of seven NumPy
    calls (bench/generation.py; docs/measurements/speed.md)."""
    units = h.shape[1]
    for row in range(h.shape[0]):
        for j in range(units):
            update = _tanh(inputs[row, j] + inner[j, row])  # 2 sigmoid - 1 of z and r
            reset = _tanh(inputs[row, units + j] + inner[units + j, row])
            candidate = _tanh(inputs[row, 2 * units + j] + (reset + 1) * (inner[2 * units + j, row] + candidate_bias[j]))
            out[row, j] = 0.5 * ((h[row, j] + candidate) + update * (h[row, j] - candidate))  # z h + (1 - z) candidate


@dataclass
class StepWeights:
    """The arrays of Embedding -> GRU x n -> Dense, as Keras stores them (GRU gates z, r, h; reset_after)."""

    embedding: np.ndarray  # (vocab, embedding_dim)
    grus: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (kernel, recurrent_kernel, bias (2, 3 units))
    dense: tuple[np.ndarray, np.ndarray]  # (units, vocab), (vocab,)
    # (embedding_dim, embedding_dim): musicgen.model.StyleEveryStep's, when the network has one
    style_projection: np.ndarray | None = None

    @classmethod
    def of(cls, network) -> StepWeights:
        layers = {layer.name: layer for layer in network.layers}
        grus = [tuple(np.asarray(w, np.float32) for w in layers[name].get_weights())
                for name in sorted((name for name in layers if name.startswith("gru_")), key=lambda n: int(n[4:]))]
        embedding = np.asarray(layers["embedding"].get_weights()[0], np.float32)
        dense = tuple(np.asarray(w, np.float32) for w in layers["next_token"].get_weights())
        style = layers.get("style_every_step")
        return cls(embedding, grus, dense, np.asarray(style.get_weights()[0], np.float32) if style else None)

    @classmethod
    def from_arrays(cls, arrays: dict[str, list[list[np.ndarray]]]) -> StepWeights:
        """From keras_arrays(); ValueError when they are not an Embedding -> GRU(s) -> Dense network."""
        if not (arrays.get("Embedding") and arrays.get("GRU") and arrays.get("Dense")):
            raise ValueError(f"not an Embedding -> GRU -> Dense network (layers: {', '.join(arrays)})")
        style = arrays.get("StyleEveryStep")
        return cls(arrays["Embedding"][0][0], [tuple(gru) for gru in arrays["GRU"]], tuple(arrays["Dense"][-1]),
                   style[0][0] if style else None)

    @property
    def vocab_size(self) -> int:
        return self.dense[1].shape[0]

    @property
    def units(self) -> list[int]:
        return [recurrent.shape[0] for _, recurrent, _ in self.grus]

    def initial_states(self, rows: int) -> list[np.ndarray]:
        return [np.zeros((rows, units), np.float32) for units in self.units]

    def __post_init__(self):
        # The step's constants, arranged once so that a step is few array operations:
        # - sigmoid(a) = (1 + tanh(a / 2)) / 2, so the update and reset columns are halved and
        #   one tanh serves both gates;
        # - the reset gate scales the candidate's recurrent part: (1 + tanh) / 2 * inner, so that
        #   part (and its bias) is halved too;
        # - the recurrent bias of the update and reset gates only ever adds: it joins the input bias;
        # - the first layer's input projection of every id is a table (its row is looked up), and
        #   so is what each style adds to it (style_inputs, None without StyleEveryStep);
        # - the other matrices are kept transposed: W.T @ h.T takes OpenBLAS's matrix-vector path
        #   for one row, and for 2-8 rows beats its small matrix product h @ W (the step: 38 -> 33
        #   us at one row, 156 -> 128 us at eight; bench/generation.py's limit does the same);
        # - a large recurrent matrix is kept in float16 (HALF_FROM_BYTES).
        self.layers = []
        self.style_inputs = None
        for index, (kernel, recurrent, bias) in enumerate(self.grus):
            units = recurrent.shape[0]
            gates = slice(0, 2 * units)
            kernel, recurrent = kernel.copy(), recurrent.copy()
            input_bias, recurrent_bias = bias[0].copy(), bias[1].copy()
            input_bias[gates] += recurrent_bias[gates]
            kernel[:, gates] *= 0.5
            input_bias[gates] *= 0.5
            recurrent *= 0.5
            candidate_bias = 0.5 * recurrent_bias[2 * units:]
            if index == 0:
                if self.style_projection is not None:
                    self.style_inputs = (self.embedding @ self.style_projection) @ kernel
                kernel = self.embedding @ kernel + input_bias  # one row per id
            else:
                kernel = np.ascontiguousarray(kernel.T)
            recurrent = np.ascontiguousarray(recurrent.T)
            if recurrent.nbytes >= HALF_FROM_BYTES:
                recurrent = recurrent.astype(np.float16).view(np.uint16)
            self.layers.append((kernel, input_bias, recurrent, candidate_bias))
        self.output_kernel = np.ascontiguousarray(self.dense[0].T)

    def hidden_step(self, ids: np.ndarray, states: list[np.ndarray], style: np.ndarray | None = None) -> list[np.ndarray]:
        """The new states (the last one is what the Dense layer reads) after one id per row;
        style: style_of() the sequences read, once their style token is (None before)."""
        x = None
        new_states = []
        for index, ((kernel, input_bias, recurrent, candidate_bias), h) in enumerate(zip(self.layers, states)):
            inputs = kernel[ids] if index == 0 else (kernel @ x.T).T + input_bias
            if index == 0 and style is not None:
                inputs = inputs + style
            x = np.empty_like(h)
            _gru_cell(inputs, self.recurrent_product(index, h), h, candidate_bias, x)
            new_states.append(x)
        return new_states

    def recurrent_product(self, layer: int, h: np.ndarray) -> np.ndarray:
        """Layer's recurrent matrix times its state h (rows, units): (3 units, rows), float32."""
        recurrent = self.layers[layer][2]
        if recurrent.dtype != np.uint16:
            return recurrent @ h.T
        inner = np.empty((recurrent.shape[0], h.shape[0]), np.float32)
        _half_product(recurrent, np.ascontiguousarray(h, np.float32), inner)
        return inner

    def step(self, ids: np.ndarray, states: list[np.ndarray], style: np.ndarray | None = None
             ) -> tuple[np.ndarray, list[np.ndarray]]:
        """(logits (rows, vocab), new states) after reading one id per row."""
        states = self.hidden_step(ids, states, style)
        return self.output(states[-1]) + self.dense[1], states

    def output(self, h: np.ndarray) -> np.ndarray:
        """The output layer's product (logits without the bias), (rows, vocab), C-ordered."""
        return np.ascontiguousarray((self.output_kernel @ h.T).T)

    def style_of(self, style_ids: np.ndarray) -> np.ndarray | None:
        """What each row's style (the id at STYLE_POSITION of its sequence) adds to every step's
        input from that token on, (rows, 3 units); None for a network without StyleEveryStep."""
        return None if self.style_inputs is None else self.style_inputs[np.asarray(style_ids, np.int64)]

    def style_in(self, ids) -> np.ndarray | None:
        """style_of() the sequence that ids begin, (1, 3 units); None while they stop short of its style."""
        return self.style_of(np.asarray(ids[STYLE_POSITION:STYLE_POSITION + 1])) if len(ids) > STYLE_POSITION else None


@dataclass
class AttentionSteps:
    """The arrays of Embedding -> DecoderBlock x n -> LayerNormalization -> Dense (musicgen.model.
    build_attention_model), stepped with a key/value cache: the same interface as StepWeights.

    A row's state is each block's keys and values ((rows, 2, heads, window, size): a ring of the
    last `window` tokens), the position each slot holds, the tokens read so far, and the last
    hidden vector, normalized (what the output layer reads). ALiBi scores a key by its distance alone, so once the
    ring is full the oldest token drops out and nothing else changes. A step writes its token's
    slot in place and returns new counts, so a step tried and thrown away (likeliest_chord) leaves
    nothing the next real step does not overwrite first.
    """

    embedding: np.ndarray  # (vocab, width)
    blocks: list[list[np.ndarray]]  # DecoderBlock's 12 arrays each, in its build() order
    final_norm: tuple[np.ndarray, np.ndarray]
    dense: tuple[np.ndarray, np.ndarray]  # (width, vocab), (vocab,); the final norm's scale and shift folded in
    heads: int = 4
    window: int = 1024  # tokens attended to: the training chunk's length
    style_inputs = None  # no StyleEveryStep

    @classmethod
    def from_arrays(cls, arrays: dict[str, list[list[np.ndarray]]], heads: int, window: int = 1024) -> AttentionSteps:
        return cls(arrays["Embedding"][0][0], arrays["DecoderBlock"], tuple(arrays["LayerNormalization"][-1]),
                   tuple(arrays["Dense"][-1]), heads, window)

    @classmethod
    def of(cls, network) -> AttentionSteps:
        arrays: dict[str, list[list[np.ndarray]]] = {}
        for layer in network.layers:
            if layer.get_weights():
                arrays.setdefault(type(layer).__name__, []).append([np.asarray(w, np.float32) for w in layer.get_weights()])
        return cls.from_arrays(arrays, network.get_layer("block_1").heads)

    def __post_init__(self):
        self.width = self.embedding.shape[1]
        self.size = self.width // self.heads
        self.slopes = alibi_slopes(self.heads).astype(np.float32)
        # Each LayerNormalization's scale and shift folded into the product that reads it, and the
        # queries' 1 / sqrt(size) into theirs: a step normalizes and multiplies, nothing more.
        self.steps = []
        for (gamma_1, beta_1, qkv_kernel, qkv_bias, out_kernel, out_bias, gamma_2, beta_2,
             in_kernel, in_bias, ffn_kernel, ffn_bias) in self.blocks:
            qkv_bias = beta_1 @ qkv_kernel + qkv_bias
            qkv_kernel = gamma_1[:, None] * qkv_kernel
            qkv_kernel[:, :self.width] /= np.sqrt(self.size)
            qkv_bias[:self.width] /= np.sqrt(self.size)
            self.steps.append((qkv_kernel, qkv_bias, out_kernel, out_bias, gamma_2[:, None] * in_kernel,
                               beta_2 @ in_kernel + in_bias, ffn_kernel, ffn_bias))
        gamma, beta = self.final_norm
        kernel, bias = self.dense
        self.dense = (gamma[:, None] * kernel, beta @ kernel + bias)  # dense[1]: the bias the sampler adds
        self.output_kernel = np.ascontiguousarray(self.dense[0])

    @property
    def vocab_size(self) -> int:
        return self.dense[1].shape[0]

    def initial_states(self, rows: int) -> list[np.ndarray]:
        caches = [np.zeros((rows, 2, self.heads, self.window, self.size), np.float32) for _ in self.blocks]
        return [*caches, np.full((rows, self.window), -1, np.int64), np.zeros(rows, np.int64),
                np.zeros((rows, self.width), np.float32)]

    def hidden_step(self, ids: np.ndarray, states: list[np.ndarray], style=None) -> list[np.ndarray]:
        positions, count = states[-3], states[-2]
        step = int(count[0])  # every row has read as many tokens
        slot, filled = step % self.window, min(step + 1, self.window)
        positions[:, slot] = step
        distance = (step - positions[0, :filled]).astype(np.float32)
        bias = np.where(positions[0, :filled] >= 0, -self.slopes[:, None] * distance[None], -np.inf)
        rows = len(ids)
        x = self.embedding[ids]
        for cache, (qkv_kernel, qkv_bias, out_kernel, out_bias, in_kernel, in_bias, ffn_kernel, ffn_bias) in zip(
                states, self.steps):
            qkv = (normalized(x) @ qkv_kernel + qkv_bias).reshape(rows, 3, self.heads, self.size)
            cache[:, :, :, slot] = qkv[:, 1:]  # this token's key and value
            scores = np.matmul(cache[:, 0, :, :filled], qkv[:, 0, :, :, None])[..., 0] + bias  # (rows, heads, filled)
            weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
            weights /= weights.sum(axis=-1, keepdims=True)
            mixed = np.matmul(weights[:, :, None, :], cache[:, 1, :, :filled])  # (rows, heads, 1, size)
            x = x + mixed.reshape(rows, self.width) @ out_kernel + out_bias
            inner = normalized(x) @ in_kernel + in_bias
            inner *= 0.5 + 0.5 * np.tanh(0.7978845608 * (inner + 0.044715 * inner * inner * inner))  # gelu (tanh)
            x = x + inner @ ffn_kernel + ffn_bias
        return [*states[:-2], count + 1, normalized(x)]

    def step(self, ids: np.ndarray, states: list[np.ndarray], style=None) -> tuple[np.ndarray, list[np.ndarray]]:
        states = self.hidden_step(ids, states)
        return self.output(states[-1]) + self.dense[1], states

    def output(self, h: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(h @ self.output_kernel)

    def style_of(self, style_ids) -> None:
        return None

    def style_in(self, ids) -> None:
        return None


def normalized(x: np.ndarray) -> np.ndarray:
    """LayerNormalization's (epsilon 1e-5) without its scale and shift (AttentionSteps folds them in)."""
    centered = x - x.mean(axis=-1, keepdims=True)
    return centered / np.sqrt((centered * centered).mean(axis=-1, keepdims=True) + 1e-5)


def read(weights: StepWeights, ids) -> tuple[np.ndarray, list[np.ndarray]]:
    """(logits after the last id, states) for one sequence of ids, read from the zero state."""
    states = weights.initial_states(1)
    ids = np.asarray(ids, np.int64)
    style = weights.style_in(ids)
    for position, token_id in enumerate(ids):  # the output layer only once, after the last
        states = weights.hidden_step(np.array([token_id]), states, style if position >= STYLE_POSITION else None)
    return weights.output(states[-1]) + weights.dense[1], states


def sequence_log_probabilities(weights: StepWeights, ids) -> np.ndarray:
    """log p(ids[t] | ids[:t]) for t >= 1, as the network gives them when read statefully."""
    states = weights.initial_states(1)
    ids = np.asarray(ids, np.int64)
    style = weights.style_in(ids)
    out = np.empty(len(ids) - 1)
    for position in range(len(ids) - 1):
        logits, states = weights.step(ids[position:position + 1], states, style if position >= STYLE_POSITION else None)
        row = logits[0] - logits[0].max()
        out[position] = row[ids[position + 1]] - np.log(np.exp(row).sum())
    return out


def warm_up() -> None:
    """Compile the step's loops (or load them from numba's disk cache) on tiny arrays."""
    rows = 1
    h = np.zeros((rows, 1), np.float32)
    inner = np.empty((3, rows), np.float32)
    _half_product(np.zeros((3, 1), np.uint16), h, inner)
    _gru_cell(np.zeros((rows, 3), np.float32), inner, h, np.zeros(1, np.float32), np.empty_like(h))
