"""The melody's intervals, recalibrated: a bias on the melody pitch's logits by its distance from
the previous melody note.

Read note by note, the network expects a step of 1-2 semitones for 34% of the songs' melody notes
where the songs take one 44-45% of the time (docs/measurements/corrections.md): its melodies leap and repeat
more than the songs'. One number per interval class (0-11 semitones, 12 or more), fitted by
maximum likelihood on the training songs' melody notes with the network's own logits, corrects
that systematic lean. Saved beside the weights (melody_intervals.json); the sampler adds it where
the next token is a melody pitch, and the evaluation scores the songs with it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MELODY_FILE = "melody_intervals.json"
CLASSES = 13  # |interval| of 0-11 semitones, and 12 or more


def interval_class(pitches, previous: int) -> np.ndarray:
    return np.minimum(np.abs(np.asarray(pitches) - previous), CLASSES - 1)


def melody_contexts(ids, program_id: int, pitch_of: np.ndarray) -> list[tuple[int, int]]:
    """(t, previous melody pitch) for each t at which ids[t] opens a melody note (so ids[t + 1] is
    its pitch) and an earlier melody note exists."""
    contexts, previous = [], -1
    for t in range(len(ids) - 1):
        if ids[t] == program_id and pitch_of[ids[t + 1]] >= 0:
            if previous >= 0:
                contexts.append((t, previous))
            previous = int(pitch_of[ids[t + 1]])
    return contexts


def last_melody_pitch(ids, program_id: int, pitch_of: np.ndarray) -> int:
    """The pitch of the last melody note that ids write (-1 when none)."""
    struck = [int(pitch_of[ids[t + 1]]) for t in range(len(ids) - 1)
              if ids[t] == program_id and pitch_of[ids[t + 1]] >= 0]
    return struck[-1] if struck else -1


@dataclass
class MelodyIntervals:
    FILE = MELODY_FILE
    stage = "at the logits"  # its hook: offsets(previous_pitch, pitch_of) -> what joins the logits where a melody pitch comes next

    bias: np.ndarray  # (CLASSES,): added to a melody pitch's logit by its interval class

    @classmethod
    def fit(cls, pitch_logits: np.ndarray, classes: np.ndarray, targets: np.ndarray) -> MelodyIntervals:
        """Maximum likelihood of targets (indices into the pitch columns) under softmax(logits +
        bias[classes]); (notes, pitches) logits and classes. The bias is relative to unison."""
        from scipy.optimize import minimize

        rows = np.arange(len(targets))

        def loss_and_gradient(bias):
            adjusted = pitch_logits + bias[classes]
            adjusted -= adjusted.max(axis=1, keepdims=True)
            probabilities = np.exp(adjusted)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            loss = -np.log(probabilities[rows, targets] + 1e-300).mean()
            expected = np.zeros(CLASSES)
            np.add.at(expected, classes, probabilities)  # expected count of each class
            observed = np.bincount(classes[rows, targets], minlength=CLASSES)
            return loss, (expected - observed) / len(targets)

        if not len(targets):
            return cls(np.zeros(CLASSES))
        bias = minimize(loss_and_gradient, np.zeros(CLASSES), jac=True, method="L-BFGS-B").x
        return cls(bias - bias[0])

    def offsets(self, previous: int, pitch_of: np.ndarray) -> np.ndarray:
        """(vocab,) additions to the logits when the next token is a melody pitch: 0 for ids that
        are not pitches."""
        offsets = np.zeros(len(pitch_of), np.float32)
        is_pitch = pitch_of >= 0
        offsets[is_pitch] = self.bias[interval_class(pitch_of[is_pitch], previous)]
        return offsets

    def adjust(self, ids, logits: np.ndarray, program_id: int, pitch_of: np.ndarray) -> np.ndarray:
        """logits[t] predicts ids[t + 1] (a network reading ids): the bias added where a melody
        pitch comes next. Changes logits in place and returns it."""
        for t, previous in melody_contexts(ids, program_id, pitch_of):
            if t < len(logits):
                logits[t] += self.offsets(previous, pitch_of)
        return logits

    def save(self, folder: str | Path) -> None:
        (Path(folder) / MELODY_FILE).write_text(json.dumps([round(float(b), 4) for b in self.bias]) + "\n",
                                                encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> MelodyIntervals | None:
        """The folder's bias, or None (a model without one: the network's melody as it is)."""
        path = Path(folder) / MELODY_FILE
        if not path.is_file():
            return None
        bias = np.asarray(json.loads(path.read_text(encoding="utf-8")), float)
        if bias.shape != (CLASSES,):
            raise ValueError(f"{path} should hold {CLASSES} numbers")
        return cls(bias)


def fit_on_songs(logits_of, songs_ids: list[np.ndarray], program_id: int, pitch_of: np.ndarray) -> MelodyIntervals:
    """The bias that best explains these songs' melody notes under the network's own logits
    (logits_of(ids): the network's logits reading ids[:-1], (len(ids) - 1, vocab))."""
    pitch_ids = np.flatnonzero(pitch_of >= 0)
    column_of = np.full(len(pitch_of), -1)
    column_of[pitch_ids] = np.arange(len(pitch_ids))
    logits_rows, classes, targets = [], [], []
    for ids in songs_ids:
        contexts = melody_contexts(ids, program_id, pitch_of)
        if not contexts:
            continue
        logits = logits_of(ids)
        for t, previous in contexts:
            logits_rows.append(logits[t, pitch_ids])
            classes.append(interval_class(pitch_of[pitch_ids], previous))
            targets.append(column_of[ids[t + 1]])
    if not targets:
        return MelodyIntervals(np.zeros(CLASSES))
    return MelodyIntervals.fit(np.array(logits_rows), np.array(classes), np.array(targets))
