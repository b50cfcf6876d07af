"""Stateful sampling of event tokens: the GRU state carried, one step per token, grammar-masked.

The trained network (musicgen.model.build_sequence_model) is read once into NumPy arrays, and
each step is a few small matrix products on them: for one token of a batch of 1-16 rows that
is far less work than a Keras call costs in overhead. The primer is read once; every
variation then goes on from the same state with its own random stream.

`sample()` is a pure function: the same network, primer, settings and seed give the same ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .sampling import choose




@dataclass
class StepWeights:
    """The arrays of Embedding -> GRU x n -> Dense, as Keras stores them (GRU gates z, r, h; reset_after)."""

    embedding: np.ndarray  # (vocab, embedding_dim)
    grus: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (kernel, recurrent_kernel, bias (2, 3 units))
    dense: tuple[np.ndarray, np.ndarray]  # (units, vocab), (vocab,)

    @classmethod
    def of(cls, network) -> StepWeights:
        layers = {layer.name: layer for layer in network.layers}
        grus = [tuple(np.asarray(w, np.float32) for w in layers[name].get_weights())
                for name in sorted((name for name in layers if name.startswith("gru_")), key=lambda n: int(n[4:]))]
        embedding = np.asarray(layers["embedding"].get_weights()[0], np.float32)
        dense = tuple(np.asarray(w, np.float32) for w in layers["next_token"].get_weights())
        return cls(embedding, grus, dense)

    @classmethod
    def from_keras_file(cls, path) -> StepWeights:
        """The same arrays read straight from a .keras file (a zip of JSON and HDF5: nothing in it
        runs), so that sampling needs neither TensorFlow nor its start-up time. ValueError when the
        file does not hold an Embedding -> GRU(s) -> Dense network."""
        import io
        import json
        import re
        import zipfile

        import h5py

        with zipfile.ZipFile(path) as archive:
            layers = json.loads(archive.read("config.json"))["config"]["layers"]
            weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        seen: dict[str, int] = {}
        arrays: dict[str, list[np.ndarray]] = {}
        for layer in layers:  # the weights file names layers by class, numbered in order
            kind = re.sub("([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", layer["class_name"])).lower()
            count = seen.get(kind, 0)
            seen[kind] = count + 1
            group = weights.get(f"layers/{kind}" + (f"_{count}" if count else ""))
            if group is None:
                continue
            variables = group.get("cell/vars") or group.get("vars")
            if variables is not None and len(variables):
                arrays.setdefault(layer["class_name"], []).append(
                    [np.asarray(variables[str(index)], np.float32) for index in range(len(variables))])
        if not (arrays.get("Embedding") and arrays.get("GRU") and arrays.get("Dense")):
            raise ValueError(f"not an Embedding -> GRU -> Dense network (layers: {', '.join(arrays)})")
        return cls(arrays["Embedding"][0][0], [tuple(gru) for gru in arrays["GRU"]], tuple(arrays["Dense"][-1]))

    @property
    def vocab_size(self) -> int:
        return self.dense[1].shape[0]

    @property
    def units(self) -> list[int]:
        return [recurrent.shape[0] for _, recurrent, _ in self.grus]

    def initial_states(self, rows: int) -> list[np.ndarray]:
        return [np.zeros((rows, units), np.float32) for units in self.units]

    def __post_init__(self):
        # The first layer's input projection of every id, once: a step looks its row up. The
        # recurrent bias of the update and reset gates is added there too (it only ever adds);
        # the candidate's stays inside, where the reset gate scales it.
        kernel, _, bias = self.grus[0]
        units = self.units[0]
        self.first_inputs = self.embedding @ kernel + bias[0]
        self.first_inputs[:, :2 * units] += bias[1][:2 * units]

    def step(self, ids: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """(logits (rows, vocab), new states) after reading one id per row."""
        x = None
        new_states = []
        for layer, ((kernel, recurrent, bias), h) in enumerate(zip(self.grus, states)):
            units = h.shape[1]
            if layer == 0:
                inputs = self.first_inputs[ids]
            else:
                inputs = x @ kernel + bias[0]
                inputs[:, :2 * units] += bias[1][:2 * units]
            inner = h @ recurrent
            gates = _sigmoid(inputs[:, :2 * units] + inner[:, :2 * units])  # update z, reset r
            candidate = np.tanh(inputs[:, 2 * units:] + gates[:, units:] * (inner[:, 2 * units:] + bias[1][2 * units:]))
            x = candidate + gates[:, :units] * (h - candidate)  # z * h + (1 - z) * candidate
            new_states.append(x)
        kernel, bias = self.dense
        return x @ kernel + bias, new_states


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # the stable form


def read(weights: StepWeights, ids) -> tuple[np.ndarray, list[np.ndarray]]:
    """(logits after the last id, states) for one sequence of ids, read from the zero state."""
    states = weights.initial_states(1)
    logits = None
    for token_id in np.asarray(ids, np.int64):
        logits, states = weights.step(np.array([token_id]), states)
    return logits, states


def sequence_log_probabilities(weights: StepWeights, ids) -> np.ndarray:
    """log p(ids[t] | ids[:t]) for t >= 1, as the network gives them when read statefully."""
    states = weights.initial_states(1)
    ids = np.asarray(ids, np.int64)
    out = np.empty(len(ids) - 1)
    for position in range(len(ids) - 1):
        logits, states = weights.step(ids[position:position + 1], states)
        row = logits[0] - logits[0].max()
        out[position] = row[ids[position + 1]] - np.log(np.exp(row).sum())
    return out


DRAW = -1  # in Forcing.opening: a token to draw rather than force


@dataclass
class Forcing:
    """Tokens a person's choices fix, fed in place of a draw (a steerable model's header, a note
    primer's first note, a chord progression); everything else is sampled."""

    opening: list[int] = field(default_factory=list)  # ids (or DRAW) right after the primer
    bar_chords: list[int] = field(default_factory=list)  # chord ids, one a bar of the piece, repeating
    position0_id: int = -1  # Position_0: where a bar's chord is written

    def after_bar(self, piece_bar: int, queue: list[int]) -> list[int]:
        """The queue once a bar line is read: Position_0 and the bar's chord first."""
        if not self.bar_chords:
            return queue
        rest = queue[1:] if queue and queue[0] == self.position0_id else queue
        rest = rest[1:] if rest and rest[0] == DRAW else rest  # the bar's chord, drawn: now forced
        return [self.position0_id, self.bar_chords[piece_bar % len(self.bar_chords)], *rest]


class Uniforms:
    """Each row's own stream of uniform numbers, drawn a block at a time (the same numbers, in the
    same order, as one draw per step)."""

    BLOCK = 1024

    def __init__(self, streams):
        self.streams, self.used = streams, self.BLOCK

    def next(self) -> np.ndarray:
        if self.used == self.BLOCK:
            self.block = np.stack([stream.random(self.BLOCK) for stream in self.streams])
            self.used = 0
        self.used += 1
        return self.block[:, self.used - 1]


def sample(weights: StepWeights, grammar, primer, bars, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, seed: int = 0, bars_in_primer: int = 0, max_tokens_per_bar: int = 160,
           memory=None, forcing: Forcing | None = None) -> list[np.ndarray]:
    """One id array per entry of `bars`: tokens after primer until that many bars are complete.

    A row stops when it would open bar bars[row] + 1 (so every piece ends on a bar line), or
    after max_tokens_per_bar tokens a bar. bars_in_primer counts the primer's bars that belong
    to the piece. Only tokens the grammar allows are drawn, so every row decodes.
    With a memory (musicgen.memory.PieceMemory), each row also recalls its own piece.
    With a forcing, its tokens replace the draws where it says (a forced progression also
    keeps the model from writing chords of its own).
    """
    bars = np.asarray(bars, np.int64)
    rows = len(bars)
    primer = np.asarray(primer, np.int64)
    table = grammar.compiled()
    logits, states = read(weights, primer)
    logits = np.repeat(logits, rows, axis=0)
    states = [np.repeat(state, rows, axis=0) for state in states]
    grammar_states = np.full(rows, table.state_of(grammar.state_after(primer)))
    memories = [memory.copy() for _ in range(rows)] if memory is not None else None
    streams = [np.random.default_rng([seed, row]) for row in range(rows)]
    uniforms = Uniforms(streams)
    bars_so_far = np.full(rows, bars_in_primer)
    limits = bars * max_tokens_per_bar + 32
    output = np.zeros((rows, int(limits.max()) + 64), np.int32)
    lengths = np.zeros(rows, np.int64)
    active = np.ones(rows, bool)
    forcing = forcing or Forcing()
    queues = [list(forcing.opening) for _ in range(rows)]
    if table.states[grammar_states[0]][0] == "Bar":  # the primer opened the piece's bar: its chord comes first
        queues = [forcing.after_bar(bars_in_primer - 1, queue) for queue in queues]
    not_chord = ~grammar.is_chord[None, :]
    while True:
        masks = table.masks[grammar_states]
        if forcing.bar_chords:  # the person's chords only (forced at each bar's start)
            masks = masks & (not_chord | table.bar_start[grammar_states][:, None])
        shifted = np.where(masks, logits, -np.inf)
        shifted -= shifted.max(axis=1, keepdims=True)
        probabilities = np.exp(shifted)  # unnormalized: choose() draws from the proportions
        if memories is not None:
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            for row in np.flatnonzero(active):
                mixed = memories[row].mix(probabilities[row]) * masks[row]
                probabilities[row] = mixed / mixed.sum()
        chosen = choose(probabilities, temperature, top_k, top_p, uniforms.next()).astype(np.int64)
        for row in range(rows):  # forced tokens: a handful of rows, a few times a bar
            if queues[row] and active[row]:
                forced = queues[row].pop(0)
                chosen[row] = chosen[row] if forced == DRAW else forced
        bar = (chosen == grammar.bar_id) & active
        active &= ~(bar & (bars_so_far >= bars))  # a row ends where its next bar would open
        bar &= active
        bars_so_far += bar
        if forcing.bar_chords:
            for row in np.flatnonzero(bar):
                queues[row] = forcing.after_bar(int(bars_so_far[row]) - 1, queues[row])
        rows_on = np.flatnonzero(active)
        output[rows_on, lengths[rows_on]] = chosen[rows_on]
        lengths[rows_on] += 1
        grammar_states[rows_on] = table.transitions[grammar_states[rows_on], chosen[rows_on]]
        if memories is not None:
            for row in rows_on:
                memories[row].add(int(chosen[row]))
        # Past the cap, stop at the next complete note (a cut note would not decode).
        active &= ~((lengths >= limits) & table.complete[grammar_states])
        if not active.any():
            break
        logits, states = weights.step(chosen, states)
    return [output[row, :lengths[row]].copy() for row in range(rows)]
