"""The key of a melody someone brings, read as the training songs' melodies sit in theirs.

The network learned songs moved to C major / A minor by their whole notes (melody and piano,
Krumhansl-Schmuckler). A tune brought alone has no piano, and the same estimate on a melody alone
names its song's key for 65% of held-out POP909 excerpts (a fifth off for most of the rest), so the
accompaniment is written in the wrong frame. This correction keeps the pitch-class shares of the
training songs' melodies once each song is moved to C major / A minor, and reads a melody's key as
the shift under which its notes are likeliest by those shares (82% on the same excerpts;
docs/measurements/accompaniment.md). Saved beside the weights as melody_key.json.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..midi import MAJOR_PROFILE, MINOR_PROFILE

MELODY_KEY_FILE = "melody_key.json"


def pitch_class_durations(notes: np.ndarray) -> np.ndarray:
    """How long each of the 12 pitch classes sounds, in beats, over notes (start, end, pitch, ...)."""
    if not len(notes):
        return np.zeros(12)
    return np.bincount(notes[:, 2].astype(int) % 12, weights=notes[:, 1] - notes[:, 0], minlength=12)


@dataclass
class MelodyKey:
    FILE = MELODY_KEY_FILE
    stage = "reading a melody"  # its hook: key_of(melody notes) -> (semitones to C major / A minor, mode)

    shares: np.ndarray  # (12,): each pitch class's share of the training melodies' time, in C major / A minor

    @classmethod
    def measured(cls, scores) -> MelodyKey | None:
        """From training Scores (each moved to C major / A minor here); None without a melody."""
        from ..score import MELODY

        durations = np.zeros(12)
        for score in scores:
            melody = score.transposed(score.key_shift()).parts.get(MELODY)
            if melody is not None:
                durations += pitch_class_durations(melody)
        if not durations.sum():
            return None
        smoothed = durations + 1e-3 * durations.sum()  # a pitch class never sung is rare, not impossible
        return cls(smoothed / smoothed.sum())

    def key_of(self, notes: np.ndarray) -> tuple[int, str]:
        """(semitones -6..5 that move the melody to C major / A minor, "major" or "minor"): the shift
        under which the melody's durations are likeliest by the songs' shares; the mode, the
        Krumhansl profile (C major or A minor) the moved melody fits better."""
        durations = pitch_class_durations(notes)
        if not durations.sum():
            return 0, "major"
        log_shares = np.log(self.shares)
        # Moved by s, pitch class c sounds as (c + s) % 12.
        likelihood = [float(durations @ np.roll(log_shares, -shift)) for shift in range(12)]
        shift = int(np.argmax(likelihood))
        moved = np.roll(durations, shift)
        major = np.corrcoef(moved, MAJOR_PROFILE)[0, 1]
        minor = np.corrcoef(moved, np.roll(MINOR_PROFILE, 9))[0, 1]
        return (shift + 6) % 12 - 6, "major" if major >= minor else "minor"

    @classmethod
    def load(cls, folder: str | Path) -> MelodyKey | None:
        path = Path(folder) / MELODY_KEY_FILE
        if not path.exists():
            return None
        shares = np.asarray(json.loads(path.read_text(encoding="utf-8"))["shares"], float)
        if shares.shape != (12,) or not np.all(shares > 0):
            raise ValueError(f"{path}: shares must be 12 positive numbers")
        return cls(shares / shares.sum())

    def save(self, folder: str | Path) -> None:
        shares = [round(float(value), 6) for value in self.shares]
        (Path(folder) / MELODY_KEY_FILE).write_text(json.dumps({"shares": shares}) + "\n", encoding="utf-8")
