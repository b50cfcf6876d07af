"""A POP909 song's hand-labelled form, aligned to the bars of its MIDI.

The labels (`human_label1.txt`) and `finalized_chord.txt` count bars from the song's true first bar
line, which the MIDI's beat annotation often does not start at. The shift between the two is
found by matching chord roots beat by beat: `finalized_chord.txt` against the chords read from
`chord_midi.txt` on the MIDI's beats (Score.chords), over shifts of -24..24 beats; the best shift
places every section. A song whose chords agree on fewer than MIN_AGREEMENT of their beats at
the best shift is left without sections, with the reason (the POP909 README measures: 89% of
songs agree on >= 0.6).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from musicgen.chords import NO_CHORD, chord_at, chord_root, harte_chord
from musicgen.score import Score
from musicgen.steering import parse_form

MAX_SHIFT_BEATS = 24
MIN_AGREEMENT = 0.6
MIN_BEATS = 16  # chord beats both files must have in common for a shift to count
CHORD_LINE = re.compile(r"^(\S+)\s+\[[^\]]*\]\s*(?:-?\d+)?\s+(\d+)\s*$")

Section = tuple[int, str, int]  # (first bar of the MIDI's score, letter, bars)


def label_roots(path: Path) -> np.ndarray:
    """The chord root of each beat of a finalized_chord.txt (-1 for none), beat 0 at the labels' bar 0."""
    roots: list[int] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = CHORD_LINE.match(line.strip())
        if not match:
            continue
        name, beats = match.group(1), int(match.group(2))
        chord = NO_CHORD if name.startswith("N") else harte_chord(name)
        roots += [chord_root(chord) if chord != NO_CHORD else -1] * beats
    return np.array(roots, int)


def best_shift(labels: np.ndarray, score: Score) -> tuple[int, float]:
    """(shift in beats, share of beats whose roots agree): label beat b is score beat b + shift."""
    beats = np.arange(int(np.ceil(score.end_beats)))
    chords = chord_at(score.chords, beats + 0.01) if len(score.chords) else np.full(len(beats), NO_CHORD)
    ours = np.array([chord_root(int(chord)) if chord != NO_CHORD else -1 for chord in chords], int)
    best = (0, 0.0)
    # Nearest shifts first: a progression that repeats matches at several; the nearest is kept.
    for shift in sorted(range(-MAX_SHIFT_BEATS, MAX_SHIFT_BEATS + 1), key=abs):
        label_beats = np.arange(len(labels))
        score_beats = label_beats + shift
        inside = (score_beats >= 0) & (score_beats < len(ours))
        pairs = inside.copy()
        pairs[inside] = (labels[inside] >= 0) & (ours[score_beats[inside]] >= 0)
        if pairs.sum() < MIN_BEATS:
            continue
        agreement = float(np.mean(labels[pairs] == ours[score_beats[pairs]]))
        if agreement > best[1]:
            best = (shift, agreement)
    return best


def aligned_sections(folder: Path, score: Score, form: str) -> tuple[list[Section], str]:
    """(the form's sections on the score's bars, "") or ([], why not)."""
    chord_file = Path(folder) / "finalized_chord.txt"
    if not form:
        return [], "no form label"
    if not chord_file.is_file():
        return [], "no finalized_chord.txt to align the form by"
    if not len(score.chords):
        return [], "no chord_midi.txt chords to align the form to"
    shift, agreement = best_shift(label_roots(chord_file), score)
    if agreement < MIN_AGREEMENT:
        return [], f"its chords agree on {agreement:.0%} of beats at best (at least {MIN_AGREEMENT:.0%} needed)"
    bars_in_score = int(np.ceil(score.end_beats / score.beats_per_bar))
    sections, label_bar = [], 0
    for letter, bars in parse_form(form):
        first = int(round((label_bar * score.beats_per_bar + shift) / score.beats_per_bar))
        if 0 <= first < bars_in_score:
            sections.append((first, letter, bars))
        label_bar += bars
    return sections, ""
