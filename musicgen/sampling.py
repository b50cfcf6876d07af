"""Primers, and generate(): frames sampled one at a time from a model, as a pure function."""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from .config import Config
from .memory import PieceMemory
from .midi import REST_TOKEN, MidiError, key_shift, load_midi, midi_to_tokens, note_number, transpose
from .vocab import Vocab


MAX_HISTORY_FRAMES = 3000  # what a continuation remembers of the file: its last 10 minutes at 5 frames/s


@dataclass
class Primer:
    """The frames the model starts from: ids of shape (seq_len,) or (variations, seq_len)."""

    ids: np.ndarray
    description: str
    notes: list[str] = field(default_factory=list)  # what was changed to fit the vocabulary
    transpose: int = 0  # semitones that put generated frames back in the primer's key
    # The music the piece continues (ids), for its memory; empty when the piece starts afresh.
    history: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # Events: bars of the primer that belong to the piece (a note primer's first bar), bars of
    # the primer the piece leaves out (a continuation's), and the tempo a continuation keeps.
    bars: int = 0
    skip_bars: int = 0
    tempo_bpm: float | None = None
    # Events: ids forced after ids (musicgen.stateful.Forcing.opening): a steerable model's header,
    # a note primer's note; DRAW where the model chooses.
    opening: list = field(default_factory=list)


def random_primer(vocab: Vocab, seq_len: int, seed: int, variations: int = 1) -> Primer:
    """seq_len random tokens per variation, drawn as often as they occur in training."""
    counts = np.asarray(vocab.counts, dtype=np.float64)
    weights = counts / counts.sum() if counts.sum() > 0 else None
    ids = np.stack([np.random.default_rng([seed, variation, 1]).choice(len(vocab), seq_len, p=weights)
                    for variation in range(variations)]).astype(np.int32)
    return Primer(ids, "random")


def note_primer(vocab: Vocab, note: str | int, seq_len: int) -> Primer:
    """seq_len - 1 rests and one note (60, "C4", "F#5"); a note the model never saw becomes the nearest."""
    pitch = note_number(note)
    token_id = vocab.nearest_id(str(pitch))
    ids = np.zeros(seq_len, dtype=np.int32)
    ids[-1] = token_id
    notes = []
    if vocab.tokens[token_id] != str(pitch):
        notes.append(f"note {note} ({pitch}) never occurs in the training data; "
                     f"started from the nearest known token {vocab.tokens[token_id]!r}")
    return Primer(ids, f"note {note}", notes)


def last_frames(ids, seq_len: int, rest_id: int = 0) -> np.ndarray:
    """The last seq_len ids, left-padded with rests when there are fewer (as training windows are)."""
    ids = np.asarray(ids, dtype=np.int32)[-seq_len:]
    return np.concatenate([np.full(seq_len - len(ids), rest_id, np.int32), ids])


def midi_primer(source: str | Path | bytes, vocab: Vocab, config: Config, name: str | None = None) -> Primer:
    """The last seq_len frames of a MIDI file (left-padded with rests when it is shorter), and the
    file's last MAX_HISTORY_FRAMES frames as the history the piece's memory starts from."""
    midi = load_midi(source, name=name)
    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "upload")
    tokens = midi_to_tokens(midi, config.tracks, config.frames_per_second)
    if not tokens:
        tokens = midi_to_tokens(midi, "all", config.frames_per_second)
    if not any(token != REST_TOKEN for token in tokens):
        if any(instrument.notes for instrument in midi.instruments if not instrument.is_drum):
            raise MidiError(f"{label}: its notes are all shorter than half a frame "
                            f"({0.5 / config.frames_per_second:g} s), too short to hear as notes here")
        drums = any(instrument.is_drum and instrument.notes for instrument in midi.instruments)
        raise MidiError(f"{label}: " + ("it holds only drums, and this model writes pitched music: upload a file "
                                        "with a melody or chords" if drums else
                                        "it has no notes to continue; upload a file with a melody or chords"))
    # A model trained in C major / A minor hears the piece in that key and answers in the piece's own.
    shift = key_shift(tokens) if config.key_normalize else 0
    remembered = transpose(tokens[-MAX_HISTORY_FRAMES:], shift)
    tail = remembered[-config.seq_len:]
    unseen = sum(token not in vocab for token in tail)
    history = vocab.encode(remembered)
    notes = [f"{unseen} of the last {len(tail)} frames were chords the model never saw; "
             "they were replaced by the nearest known ones"] if unseen else []
    return Primer(last_frames(history, config.seq_len), f"continuation of {label}", notes,
                  transpose=-shift, history=history)


_compiled = weakref.WeakKeyDictionary()


def next_frame_probabilities(model, windows: np.ndarray) -> np.ndarray:
    """The model's next-frame probabilities for each row of windows, from an XLA-compiled pass.

    Rows are padded to a power of two so that a few compiled shapes serve every request. Each
    shape gets its own tf.function: one with a dynamic batch dimension cost 13% more per frame.
    """
    asked = len(windows)
    rows = 1 << (asked - 1).bit_length()
    functions = _compiled.setdefault(model, {})
    if rows not in functions:
        import tensorflow as tf

        functions[rows] = tf.function(lambda batch: model(batch, training=False), jit_compile=True)
    if rows > asked:
        windows = np.concatenate([windows, np.repeat(windows[:1], rows - asked, axis=0)])
    return functions[rows](windows).numpy()[:asked]


def choose(probabilities: np.ndarray, temperature, top_k, top_p, uniforms: np.ndarray) -> np.ndarray:
    """One id per row of probabilities (batch, vocab; each row in proportion, its sum need not be 1),
    using one uniform number per row.

    temperature, top_k and top_p are one value for every row or one value per row.
    temperature 0 is greedy; top_k keeps the k likeliest ids (0 = all); top_p keeps the fewest
    likeliest ids whose probabilities add up to top_p (1 = all).
    """
    probabilities = np.ascontiguousarray(probabilities, dtype=np.float64)
    rows = len(probabilities)
    out = np.empty(rows, np.int64)
    choose_rows(probabilities, per_row(temperature, rows, np.float64), per_row(top_k, rows, np.int64),
                 per_row(top_p, rows, np.float64), per_row(uniforms, rows, np.float64), out)
    return out


def per_row(value, rows: int, dtype) -> np.ndarray:
    """One value per row, as a plain array (the compiled loop is typed for exactly that)."""
    if np.ndim(value) == 0:
        return np.full(rows, value, dtype)
    return np.ascontiguousarray(value, dtype)


@numba.njit(cache=True, nogil=True)
def choose_rows(probabilities, temperature, top_k, top_p, uniforms, out):
    """choose() row by row, compiled (numba; cached on disk, so compiled once per machine), for
    callers that hold one setting per row already; the ids land in out.

    It runs once per token of a stateful sampler, where a dozen NumPy calls of a microsecond
    each would cost a third of the step. Each row is drawn from its whole distribution by its
    uniform number; when that lands on an id that top-k/top-p cut, the number's place inside
    that id's interval (itself uniform) draws again among the kept ids, in order of
    probability. Both ways give each kept id its probability among the kept ids, exactly; the
    cut is rare, so the sort it needs seldom runs.
    """
    for row in range(probabilities.shape[0]):
        weights = probabilities[row]
        if temperature[row] <= 0:
            out[row] = np.argmax(weights)
            continue
        if temperature[row] != 1:
            weights = np.power(weights / weights.max(), 1.0 / temperature[row])
        total = weights.sum()
        target = uniforms[row] * total
        running, pick = 0.0, 0
        for index in range(weights.shape[0]):
            if weights[index] > 0:
                pick = index
                running += weights[index]
                if running > target:
                    break
        # Kept by the cut? The ids ranked above it (ties by index) must be fewer than top_k
        # and hold less than top_p of the total.
        rank, above = 0, 0.0
        for index in range(weights.shape[0]):
            if weights[index] > weights[pick] or (weights[index] == weights[pick] and index < pick):
                rank += 1
                above += weights[index]
        if (top_k[row] <= 0 or rank < top_k[row]) and (top_p[row] >= 1 or above < top_p[row] * total):
            out[row] = pick
            continue
        again = (target - (running - weights[pick])) / weights[pick]
        order = np.argsort(-weights, kind="mergesort")
        kept, mass = 0, 0.0
        while (kept < len(order) and weights[order[kept]] > 0 and (top_k[row] <= 0 or kept < top_k[row])
               and (top_p[row] >= 1 or mass < top_p[row] * total)):
            mass += weights[order[kept]]
            kept += 1
        target, running = again * mass, 0.0
        out[row] = order[kept - 1]
        for rank in range(kept):
            running += weights[order[rank]]
            if running > target:
                out[row] = order[rank]
                break


class SamplingRun:
    """One request's sampling state, advanced a frame at a time by whoever runs the model.

    generate() runs one alone; musicgen.batching runs several visitors' runs through the model
    together. A run's frames depend only on its own windows and random streams, so they come out
    the same either way.
    """

    def __init__(self, primer: np.ndarray, frames: int, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int = 0, variations: int = 1, memory: PieceMemory | None = None):
        primer = np.atleast_2d(np.asarray(primer, dtype=np.int32))
        if primer.shape[0] not in (1, variations):
            raise ValueError(f"primer has {primer.shape[0]} rows for {variations} variations")
        self.windows = np.repeat(primer, variations // primer.shape[0], axis=0)
        # Each variation remembers its own piece, starting from what memory holds already.
        self.memories = [memory.copy() for _ in range(variations)] if memory is not None else None
        # Variation v draws from its own stream (seed, v): the same alone or beside others.
        self.streams = [np.random.default_rng([seed, variation]) for variation in range(variations)]
        self.settings = (temperature, top_k, top_p)
        self.output = np.empty((variations, frames), dtype=np.int32)
        self.done_frames = 0

    @property
    def done(self) -> bool:
        return self.done_frames == self.output.shape[1]

    def take(self, chosen: np.ndarray) -> None:
        """Append the next frame of every variation."""
        self.output[:, self.done_frames] = chosen
        self.done_frames += 1
        for memory, token_id in zip(self.memories or (), chosen):
            memory.add(int(token_id))
        self.windows = np.concatenate([self.windows[:, 1:], chosen[:, None].astype(np.int32)], axis=1)


def advance(runs: list[SamplingRun], probabilities: np.ndarray) -> None:
    """Draw the next frame of every run from the model's probabilities for their windows, stacked.

    One choose() for all of them: per-run numpy calls would hold Python's GIL 16 times as long.
    """
    rows = [len(run.windows) for run in runs]
    if any(run.memories for run in runs):
        probabilities = np.array(probabilities, dtype=np.float64)
        first_rows = np.cumsum([0] + rows[:-1])
        for run, first in zip(runs, first_rows):
            for row, memory in enumerate(run.memories or (), start=first):
                probabilities[row] = memory.mix(probabilities[row])
    uniforms = np.array([stream.random() for run in runs for stream in run.streams])
    settings = [np.repeat([run.settings[index] for run in runs], rows) for index in range(3)]
    chosen = choose(probabilities, *settings, uniforms)
    for run, part in zip(runs, np.split(chosen, np.cumsum(rows)[:-1])):
        run.take(part)


def generate(model, primer: np.ndarray, frames: int, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 1.0, seed: int = 0, variations: int = 1,
             memory: PieceMemory | None = None) -> np.ndarray:
    """Ids of shape (variations, frames), sampled frame by frame after primer.

    With a memory (musicgen.memory), each variation also recalls what followed its recent
    frames earlier in its own piece; memory may already hold the piece before the primer.
    The same arguments give the same frames. All variations run through the model as one batch.
    """
    run = SamplingRun(primer, frames, temperature, top_k, top_p, seed, variations, memory)
    while not run.done:
        advance([run], next_frame_probabilities(model, run.windows))
    return run.output
