"""The chords under a melody someone brings, read from the whole tune by a small network trained on
the songs' own chords.

An accompaniment follows the chords it is given (0.94 of its notes on their tones), so what it
writes under a bare tune is as good as the chords read from that tune. Read half bar by half bar
from the notes sounding there and the network's prior, they agree with the songs' own chords at the
root 37% of the time; a tune's harmony shows over several bars (the held note over the next bar's
chord, the phrase's cadence), so this member reads all of it at once: per half bar, what the melody
sounds there (time by pitch class, the pitch class held into it, onsets by pitch class, whether it
opens a bar) through a bidirectional GRU tagger to the likeliest of musicgen.chords' 96 chords.
docs/measurements/accompaniment.md has what it is worth. Saved beside the weights as
harmony.keras (a Keras file, read here by NumPy: no TensorFlow at sampling time).
"""
from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..chords import CHORD_COUNT, NO_CHORD, chord_at

HARMONY_FILE = "harmony.keras"
HALF_BAR_BEATS = 2.0  # POP909's chords change at the bar line and at its half (4/4)
FEATURES = 37  # time by pitch class, held pitch class, onsets by pitch class, opens a bar
CHUNK_HALVES = 64  # training sequences: 32 bars each (a phrase's harmony shows within a few bars)
UNITS = 64


def half_bar_features(notes: np.ndarray, halves: int) -> np.ndarray:
    """(halves, FEATURES) float32 from melody notes (start, end, pitch, ...) in beats: the share of
    each half bar each pitch class sounds, the pitch class sounding at its start, the share of its
    onsets on each pitch class, and 1 where the half bar opens a bar."""
    sounding = np.zeros((halves, 12), np.float32)
    held = np.zeros((halves, 12), np.float32)
    onsets = np.zeros((halves, 12), np.float32)
    rows = np.asarray(notes, float).reshape(len(notes), -1) if len(notes) else np.zeros((0, 3))
    for start, end, pitch in rows[:, :3]:
        pitch_class = int(pitch) % 12
        first, last = int(start // HALF_BAR_BEATS), int(np.ceil(end / HALF_BAR_BEATS))
        for half in range(max(first, 0), min(last, halves)):
            begin = half * HALF_BAR_BEATS
            overlap = min(end, begin + HALF_BAR_BEATS) - max(start, begin)
            if overlap > 0:
                sounding[half, pitch_class] += overlap / HALF_BAR_BEATS
            if start <= begin + 1e-6 < end:
                held[half, pitch_class] = 1.0
        if 0 <= first < halves:
            onsets[first, pitch_class] += 1.0
    onsets /= np.maximum(onsets.sum(axis=1, keepdims=True), 1.0)
    opens_bar = (np.arange(halves) % 2 == 0).astype(np.float32)[:, None]
    return np.concatenate([sounding, held, onsets, opens_bar], axis=1)


def chords_at_half_bars(chords: np.ndarray, halves: int) -> np.ndarray:
    """The chord sounding at the start of each of `halves` half bars (NO_CHORD where none), from
    (start_beat, end_beat, chord) rows: what the tagger learns and is scored against."""
    return chord_at(chords, np.arange(halves) * HALF_BAR_BEATS + 1e-3)


def song_examples(score) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A training song, moved to C major / A minor as the network learned it: its half bars'
    features, the chord at each half bar's start, and 1 where the melody sounds under a chord."""
    from ..score import MELODY

    moved = score.transposed(score.key_shift())
    melody = moved.parts.get(MELODY)
    if melody is None or not len(melody) or not len(moved.chords):
        return None
    halves = int(np.ceil(moved.end_beats / HALF_BAR_BEATS))
    features = half_bar_features(melody, halves)
    chords = chords_at_half_bars(moved.chords, halves)
    labelled = (features[:, :12].sum(axis=1) > 0) & (chords != NO_CHORD)
    return features, np.maximum(chords, 0).astype(np.int32), labelled.astype(np.float32)


def padded(examples: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Songs cut into CHUNK_HALVES-long pieces and padded (weight 0 past each end)."""
    pieces = [tuple(array[start:start + CHUNK_HALVES] for array in example)
              for example in examples for start in range(0, len(example[0]), CHUNK_HALVES)]
    length = max(len(features) for features, _, _ in pieces)
    inputs = np.zeros((len(pieces), length, FEATURES), np.float32)
    targets = np.zeros((len(pieces), length), np.int32)
    weights = np.zeros((len(pieces), length), np.float32)
    for row, (features, chords, labelled) in enumerate(pieces):
        inputs[row, :len(features)], targets[row, :len(chords)], weights[row, :len(labelled)] = features, chords, labelled
    return inputs, targets, weights


def build_tagger():
    import keras

    inputs = keras.Input((None, FEATURES), name="half_bars")
    hidden = keras.layers.Dense(UNITS, activation="relu")(inputs)
    for _ in range(2):
        hidden = keras.layers.Bidirectional(keras.layers.GRU(UNITS, return_sequences=True))(hidden)
    return keras.Model(inputs, keras.layers.Dense(CHORD_COUNT, activation="softmax")(hidden), name="harmony")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))  # clipped: no overflow warnings, same value


def gru_over(inputs: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
             backwards: bool = False) -> np.ndarray:
    """A Keras GRU (gates z, r, h; reset_after) over a (steps, features) sequence, its state at each
    step; backwards reads from the end, each output kept at its own step (as Bidirectional does)."""
    units = recurrent.shape[0]
    projected = inputs @ kernel + bias[0]
    state = np.zeros(units, np.float32)
    out = np.empty((len(inputs), units), np.float32)
    for step in (range(len(inputs) - 1, -1, -1) if backwards else range(len(inputs))):
        hidden = state @ recurrent + bias[1]
        update = sigmoid(projected[step, :units] + hidden[:units])
        reset = sigmoid(projected[step, units:2 * units] + hidden[units:2 * units])
        candidate = np.tanh(projected[step, 2 * units:] + reset * hidden[2 * units:])
        state = update * state + (1.0 - update) * candidate
        out[step] = state
    return out


@dataclass
class Harmony:
    FILE = HARMONY_FILE
    stage = "harmonizing a melody"  # its hook: chords_of(melody notes, halves) -> a chord per half bar

    data: bytes  # the .keras file as saved
    dense_in: list  # [kernel, bias]
    recurrent: list  # per Bidirectional layer: [forward kernel, recurrent, bias, backward kernel, recurrent, bias]
    dense_out: list

    @classmethod
    def from_bytes(cls, data: bytes) -> Harmony:
        from ..steps import keras_arrays

        arrays = keras_arrays(io.BytesIO(data))
        if len(arrays.get("Dense", [])) != 2 or not arrays.get("Bidirectional"):
            raise ValueError(f"{HARMONY_FILE}: not a Dense -> bidirectional GRUs -> Dense tagger "
                             f"(layers: {', '.join(arrays)})")
        return cls(data, arrays["Dense"][0], arrays["Bidirectional"], arrays["Dense"][1])

    @classmethod
    def fitted(cls, scores, epochs: int = 30, batch_size: int = 16, seed: int = 0,
               progress: bool = False) -> Harmony | None:
        """Trained on training Scores with chords (each moved to C major / A minor): a tenth of the
        songs held apart to stop on (Keras' EarlyStopping), when there are ten or more. None when no
        half bar has both a melody note and a chord."""
        import keras

        examples = [example for score in scores if (example := song_examples(score)) is not None]
        if not examples or not sum(float(labelled.sum()) for _, _, labelled in examples):
            return None
        keras.utils.set_random_seed(seed)
        order = np.random.default_rng(seed).permutation(len(examples))
        apart = len(examples) // 10
        fit_on = padded([examples[index] for index in order[apart:]])
        tagger = build_tagger()
        tagger.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
        stop_on = padded([examples[index] for index in order[:apart]]) if apart else None
        monitor = "val_loss" if stop_on else "loss"
        tagger.fit(fit_on[0], fit_on[1], sample_weight=fit_on[2], batch_size=batch_size, epochs=epochs,
                   validation_data=stop_on, verbose=2 if progress else 0,
                   callbacks=[keras.callbacks.EarlyStopping(monitor, patience=3, restore_best_weights=True)])
        saved = build_tagger()  # the weights alone, without the optimizer's
        saved.set_weights(tagger.get_weights())
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / HARMONY_FILE
            saved.save(path)
            return cls.from_bytes(path.read_bytes())

    def probabilities(self, notes: np.ndarray, halves: int) -> np.ndarray:
        """(halves, 96): each chord's probability at each half bar under melody notes in the model's key."""
        hidden = np.maximum(half_bar_features(notes, halves) @ self.dense_in[0] + self.dense_in[1], 0.0)
        for forward_kernel, forward_recurrent, forward_bias, *backward in self.recurrent:
            hidden = np.concatenate([gru_over(hidden, forward_kernel, forward_recurrent, forward_bias),
                                     gru_over(hidden, *backward, backwards=True)], axis=1)
        logits = hidden @ self.dense_out[0] + self.dense_out[1]
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def chords_of(self, notes: np.ndarray, halves: int) -> np.ndarray:
        """The likeliest chord (musicgen.chords' numbers) at each of `halves` half bars under melody
        notes (start, end, pitch, ...) in beats, moved to C major / A minor."""
        if halves <= 0:
            return np.zeros(0, int)
        return self.probabilities(notes, halves).argmax(axis=1)

    @classmethod
    def load(cls, folder: str | Path) -> Harmony | None:
        path = Path(folder) / HARMONY_FILE
        return cls.from_bytes(path.read_bytes()) if path.exists() else None

    def save(self, folder: str | Path) -> None:
        (Path(folder) / HARMONY_FILE).write_bytes(self.data)
