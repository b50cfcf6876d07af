"""Chords and keys in words and numbers: "Am7" <-> (root 9, quality "min7"), "Eb major" <-> (3, "major").

A chord is an int, root * 8 + quality index (NO_CHORD = -1), so arrays of them stay plain numbers.
Used three ways: POP909's annotations read into a Score (`harte_chord`), chords estimated from
the notes where a folder has no annotation (`estimate_chords`, template matching over the eight
qualities), and the names a person types (`parse_progression`, `parse_key`).
"""
from __future__ import annotations

import re

import numpy as np

ROOT_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# quality -> (suffix a person types, pitch classes above the root)
QUALITIES = {
    "maj": ("", (0, 4, 7)), "min": ("m", (0, 3, 7)), "7": ("7", (0, 4, 7, 10)),
    "maj7": ("maj7", (0, 4, 7, 11)), "min7": ("m7", (0, 3, 7, 10)), "sus2": ("sus2", (0, 2, 7)),
    "sus4": ("sus4", (0, 5, 7)), "dim": ("dim", (0, 3, 6)),
}
QUALITY_NAMES = tuple(QUALITIES)
NO_CHORD = -1
CHORD_COUNT = 12 * len(QUALITIES)
# POP909's Harte qualities beyond the eight, mapped to the nearest of them.
HARTE_QUALITIES = {"maj6": "maj", "aug": "maj", "min6": "min", "minmaj7": "min", "hdim7": "dim", "dim7": "dim",
                   "sus4(b7)": "sus4", "9": "7", "maj9": "maj7", "min9": "min7", "1": "maj", "5": "maj"}
LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
ACCEPTED_CHORDS = "C, Cm, C7, Cmaj7, Cm7, Cdim, Csus2, Csus4 on any root A-G, with # or b (e.g. F#m, Bb7)"
ACCEPTED_KEYS = "a root A-G (with # or b) and major or minor, e.g. 'Eb major', 'F# minor', 'Am'"


def chord_of(root: int, quality: str) -> int:
    return (root % 12) * len(QUALITIES) + QUALITY_NAMES.index(quality)


def chord_root(chord: int) -> int:
    return chord // len(QUALITIES)


def chord_quality(chord: int) -> str:
    return QUALITY_NAMES[chord % len(QUALITIES)]


def chord_name(chord: int) -> str:
    """The name a person reads: "Am7", "Eb", "N" for no chord."""
    if chord == NO_CHORD:
        return "N"
    return ROOT_NAMES[chord_root(chord)] + QUALITIES[chord_quality(chord)][0]


def chord_pitch_classes(chord: int) -> frozenset[int]:
    if chord == NO_CHORD:
        return frozenset()
    root = chord_root(chord)
    return frozenset((root + step) % 12 for step in QUALITIES[chord_quality(chord)][1])


def transpose_chord(chord: int, semitones: int) -> int:
    if chord == NO_CHORD:
        return NO_CHORD
    return chord_of(chord_root(chord) + semitones, chord_quality(chord))


def _root(text: str) -> int | None:
    """"C" -> 0, "Eb" -> 3, "F#" -> 6; None when text is not a root."""
    match = re.fullmatch(r"([A-Ga-g])([#b]?)", text)
    if not match:
        return None
    return (LETTERS[match.group(1).upper()] + {"#": 1, "b": -1, "": 0}[match.group(2)]) % 12


def parse_chord(name: str) -> int:
    """ "Am7" -> its chord; ValueError naming it and what is accepted otherwise."""
    match = re.fullmatch(r"([A-Ga-g][#b]?)(.*)", name.strip())
    suffixes = {suffix: quality for quality, (suffix, _) in QUALITIES.items()}
    suffixes.update({"maj": "maj", "min": "min", "M7": "maj7", "min7": "min7"})
    if match and match.group(2) in suffixes:
        return chord_of(_root(match.group(1)), suffixes[match.group(2)])
    raise ValueError(f"unknown chord {name.strip()!r}: use {ACCEPTED_CHORDS}")


def parse_progression(text: str | None) -> list[int]:
    """ "C G Am F" (spaces, commas or bars between) -> one chord per bar; [] for empty text."""
    names = [name for name in re.split(r"[\s,|]+", text or "") if name]
    return [parse_chord(name) for name in names]


def progression_name(chords: list[int]) -> str:
    return " ".join(chord_name(chord) for chord in chords)


def parse_key(text: str | None) -> tuple[int, str] | None:
    """ "Eb major" -> (3, "major"), "F# minor" / "F#m" -> (6, "minor"); None for empty text or "any"."""
    text = (text or "").strip()
    if not text or text.lower() in ("any", "auto"):
        return None
    match = re.fullmatch(r"([A-Ga-g][#b]?)\s*(major|minor|maj|min|m)?", text, flags=re.IGNORECASE)
    root = _root(match.group(1)) if match else None
    if root is None:
        raise ValueError(f"unknown key {text!r}: use {ACCEPTED_KEYS}")
    mode = (match.group(2) or "major").lower()
    return root, "minor" if mode in ("minor", "min", "m") else "major"


def key_name(tonic: int, mode: str) -> str:
    """(3, "major") -> "Eb major" (the spelling pretty_midi's key signatures read too)."""
    return f"{ROOT_NAMES[tonic % 12]} {mode}"


def harte_chord(label: str) -> int:
    """A POP909 chord label ("C:maj", "A:min7", "G:7/3", "N") -> a chord (inversions ignored)."""
    if ":" not in label:
        return NO_CHORD
    root_text, quality = label.split(":", 1)
    root = _root(root_text)
    quality = quality.split("/")[0]
    if root is None:
        return NO_CHORD
    if quality not in QUALITIES:
        quality = HARTE_QUALITIES.get(quality) or next(
            (q for q in ("min7", "maj7", "min", "maj", "dim", "sus2", "sus4") if quality.startswith(q)), "maj")
    return chord_of(root, quality)


# One row per chord: 1 on its tones. Template matching scores a beat's pitch-class weights
# against each, penalizing tones outside the chord so that a triad is not always read as a 7th.
TEMPLATES = np.zeros((CHORD_COUNT, 12))
for _chord in range(CHORD_COUNT):
    TEMPLATES[_chord, list(chord_pitch_classes(_chord))] = 1.0


def best_chord(pitch_class_weights: np.ndarray) -> int:
    """The chord whose tones best cover the weights (in-chord weight minus out-of-chord weight,
    a small cost per tone so that fewer tones win ties); NO_CHORD when nothing sounds."""
    total = float(pitch_class_weights.sum())
    if total <= 0:
        return NO_CHORD
    weights = pitch_class_weights / total
    inside = TEMPLATES @ weights
    scores = inside - (1.0 - inside) - 0.02 * TEMPLATES.sum(axis=1)
    return int(np.argmax(scores))


def estimate_chords(notes: np.ndarray, end_beat: float, beats_per_chord: int = 2) -> np.ndarray:
    """(start_beat, end_beat, chord) rows from notes (start, end, pitch, velocity), one estimate per
    beats_per_chord beats (bass notes count double), equal neighbours merged."""
    rows = []
    for start in np.arange(0, max(end_beat, 0), beats_per_chord):
        end = start + beats_per_chord
        overlap = np.clip(np.minimum(notes[:, 1], end) - np.maximum(notes[:, 0], start), 0, None) if len(notes) else []
        weights = np.zeros(12)
        if len(notes):
            sounding = overlap > 0
            lowest = notes[sounding, 2].min() if sounding.any() else 0
            bass = np.where(notes[:, 2] < lowest + 12, 2.0, 1.0)
            np.add.at(weights, notes[:, 2].astype(int) % 12, overlap * bass)
        chord = best_chord(weights)
        if rows and rows[-1][2] == chord:
            rows[-1][1] = end
        else:
            rows.append([start, end, chord])
    return np.array(rows, float).reshape(-1, 3)


def chord_at(chords: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """The chord sounding at each beat (NO_CHORD outside every row); chords rows sorted by start."""
    beats = np.asarray(beats, float)
    if not len(chords):
        return np.full(len(beats), NO_CHORD)
    index = np.searchsorted(chords[:, 0], beats, side="right") - 1
    inside = (index >= 0) & (beats < chords[np.clip(index, 0, None), 1])
    return np.where(inside, chords[np.clip(index, 0, None), 2], NO_CHORD).astype(int)


def chord_tone_share(notes: np.ndarray, chords: np.ndarray) -> float | None:
    """Share of notes' duration whose pitch class is a tone of the chord at their onset (notes
    under no chord left out); None when no note falls under a chord."""
    if not len(notes):
        return None
    at_onset = chord_at(chords, notes[:, 0])
    under = at_onset != NO_CHORD
    if not under.any():
        return None
    durations = (notes[:, 1] - notes[:, 0])[under]
    hits = np.array([int(pitch) % 12 in chord_pitch_classes(int(chord))
                     for pitch, chord in zip(notes[under, 2], at_onset[under])])
    return float((durations * hits).sum() / durations.sum())


def progression_rows(chords: list[int], bars: int, beats_per_bar: int = 4) -> np.ndarray:
    """A progression (one chord a bar, repeating) as chord rows over `bars` bars."""
    return np.array([[bar * beats_per_bar, (bar + 1) * beats_per_bar, chords[bar % len(chords)]]
                     for bar in range(bars)], float).reshape(-1, 3) if chords else np.zeros((0, 3))


def bar_by_bar(chords: np.ndarray, starts: list[float] | None = None) -> str:
    """Chord rows as a person reads them, bar by bar: "C | G Am | F" (a bar's changes inside it);
    "-" for a bar under no chord. starts: each bar's first beat (a file's own bar lines, a pickup's
    too), else a bar every 4 beats from beat 0; bars up to the last chord's."""
    if not len(chords):
        return ""
    end = float(chords[:, 1].max())
    starts = [start for start in (starts if starts is not None else np.arange(0, end, 4.0)) if start < end - 1e-6]
    words = []
    for start, next_start in zip(starts, [*starts[1:], end]):
        inside = chords[(chords[:, 0] > start) & (chords[:, 0] < next_start)]
        names = [chord_name(int(chord)) for chord in [*chord_at(chords, [start]), *inside[:, 2]]
                 if chord != NO_CHORD]
        names = [name for index, name in enumerate(names) if index == 0 or name != names[index - 1]]
        words.append(" ".join(names) or "-")
    return " | ".join(words)
