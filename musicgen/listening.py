"""What a listener notices in one piece, measured on its Score: how long its notes hold, how
busy and how polyphonic it is, how its melody moves, which pitch classes it favours, whether its
bars come back.

The evaluation (evaluate.listening) compares these numbers between generated pieces and real songs;
the sampler's choice among candidate pieces (musicgen.calibration.likeness) reads the same numbers, so that
what is measured and what is chosen on are one definition.
"""
from __future__ import annotations

import numpy as np

from .score import ACCOMPANIMENT, MELODY, Score

HOLD_SECONDS = 10.0
# Note lengths in beats: up to a sixteenth, eighth, dotted eighth, quarter, half, whole, longer.
LENGTH_EDGES_BEATS = np.array([0, 0.26, 0.51, 0.76, 1.01, 2.01, 4.01, 1e9])


def in_c(score: Score) -> Score:
    """The piece moved to C major / A minor by its own key estimate.

    Both sides of a comparison go through this: the model trains on songs in every key (key
    normalization, then transposition augmentation), so its pieces come in any key, and a
    song's 60 s segment may sit in another key than the whole song.
    """
    return score.transposed(score.key_shift())


def note_table(score: Score) -> tuple[np.ndarray, np.ndarray]:
    """(notes sorted by onset then pitch, the part index of each: 0 melody, 1 accompaniment)."""
    rows, parts = [], []
    for index, name in enumerate((MELODY, ACCOMPANIMENT)):
        notes = score.parts.get(name)
        if notes is not None and len(notes):
            rows.append(notes)
            parts.append(np.full(len(notes), index))
    if not rows:
        return np.zeros((0, 4)), np.zeros(0, int)
    notes, parts = np.concatenate(rows), np.concatenate(parts)
    order = np.lexsort((notes[:, 2], notes[:, 0]))
    return notes[order], parts[order]


def piece_statistics(score: Score) -> dict | None:
    """Listening numbers of one piece (None when silent)."""
    notes, parts = note_table(score)
    if not len(notes):
        return None
    spb = score.seconds_per_beat
    seconds = max(score.end_beats, 1e-9) * spb
    lengths_beats = notes[:, 1] - notes[:, 0]
    onsets = np.unique(notes[:, 0])
    pitch_classes = np.bincount(notes[:, 2].astype(int) % 12, weights=lengths_beats, minlength=12)
    length_histogram = np.histogram(lengths_beats, bins=LENGTH_EDGES_BEATS)[0]
    on_grid = np.abs(notes[:, 0] * 4 - np.round(notes[:, 0] * 4)) < 0.05
    # Polyphony: notes sounding, on average, at each sixteenth where anything sounds.
    grid = np.arange(0, score.end_beats, 0.25) + 0.125
    sounding = ((notes[:, 0][None, :] <= grid[:, None]) & (notes[:, 1][None, :] > grid[:, None])).sum(axis=1)
    melody = notes[parts == 0]
    steps = np.abs(np.diff(melody[:, 2])) if len(melody) > 1 else np.zeros(0)
    return {
        "longest_note_seconds": float(lengths_beats.max() * spb),
        "notes_per_second": len(notes) / seconds,
        "polyphony": float(sounding[sounding > 0].mean()) if (sounding > 0).any() else 0.0,
        "on_grid_share": float(on_grid.mean()),
        "both_parts": bool((parts == 0).any() and (parts == 1).any()),
        "pitch_count": float(len(np.unique(notes[:, 2]))),
        "pitch_class_histogram": (pitch_classes / max(pitch_classes.sum(), 1e-9)).tolist(),
        "pitch_range": float(notes[:, 2].max() - notes[:, 2].min()),
        "average_pitch_interval": float(steps.mean()) if len(steps) else 0.0,
        "inter_onset_interval": float(np.diff(onsets).mean() * spb) if len(onsets) > 1 else 0.0,
        "note_length_histogram": (length_histogram / length_histogram.sum()).tolist(),
        # For the classifier: melodic steps of 1-2 semitones, repetition of bar patterns.
        "melody_step_share": float(np.mean((steps >= 1) & (steps <= 2))) if len(steps) else 0.0,
        "melody_leap_share": float(np.mean(steps > 7)) if len(steps) else 0.0,
        "mean_length_beats": float(lengths_beats.mean()),
        "silence_share": float(np.mean(sounding == 0)) if len(sounding) else 1.0,
        "repetition": bar_repetition(notes, score.beats_per_bar),
        "melody_share": float(np.mean(parts == 0)),
    }


def bar_repetition(notes: np.ndarray, bar_beats: int) -> float:
    """The share of bars whose (position, pitch) pattern occurred in an earlier bar of the piece."""
    bars: dict[int, set] = {}
    for start, _, pitch, _ in notes:
        bar = int(start // bar_beats)
        bars.setdefault(bar, set()).add((round((start % bar_beats) * 4), int(pitch)))
    seen, repeats = set(), 0
    for bar in sorted(bars):
        pattern = frozenset(bars[bar])
        repeats += pattern in seen
        seen.add(pattern)
    return repeats / max(len(bars), 1)


CLASSIFIER_FEATURES = ("notes_per_second", "polyphony", "mean_length_beats", "silence_share",
                       "melody_step_share", "melody_leap_share", "pitch_range", "pitch_count",
                       "repetition", "melody_share", "average_pitch_interval")
# Each number of classifier_vector, in order: the pitch-class profile's entropy and its four largest
# shares (largest first), then the share of notes in each length bin.
CLASSIFIER_VECTOR_NAMES = (*CLASSIFIER_FEATURES, "pitch_class_entropy", "top_pitch_class", "second", "third", "fourth",
                           *[f"length_bin_{i}" for i in range(len(LENGTH_EDGES_BEATS) - 1)])


def classifier_vector(statistics: dict) -> list[float]:
    """The numbers the classifiers hear a piece by, named in CLASSIFIER_VECTOR_NAMES."""
    profile = np.asarray(statistics["pitch_class_histogram"])
    entropy = float(-(profile[profile > 0] * np.log(profile[profile > 0])).sum())
    return [statistics[name] for name in CLASSIFIER_FEATURES] + [entropy, *sorted(profile)[::-1][:4],
                                                                 *statistics["note_length_histogram"]]


def segments(score: Score, seconds: float) -> list[Score]:
    """The score cut into whole segments of about `seconds` (whole bars), tails dropped."""
    bar_beats = score.beats_per_bar
    bars = max(1, round(seconds / (bar_beats * score.seconds_per_beat)))
    span = bars * bar_beats
    return [score.cropped(start, start + span) for start in np.arange(0, score.end_beats - span + 1e-6, span)]


def statistics(scores: list[Score], groups: list | None = None) -> tuple[list[dict], list]:
    """(piece_statistics of each score that is not silent, the group of each)."""
    groups = list(range(len(scores))) if groups is None else groups
    kept = [(stats, group) for stats, group in zip(map(piece_statistics, scores), groups) if stats]
    return [stats for stats, _ in kept], [group for _, group in kept]
