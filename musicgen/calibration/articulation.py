"""Performed note lengths: the songs' own articulation, given back to the notes a model writes.

Event tokens write a note's length on the sixteenth grid (Duration_*), so every generated note
lasted a whole number of sixteenths, while the songs the model learned from were played: in
POP909 a note written as an eighth lasts anywhere from 0.3 to 0.6 beats, and 17% of all notes are
shorter than a sixteenth. That difference alone let a classifier tell generated pieces from
songs (bench/quality.py, docs/measurements/corrections.md). Articulation keeps, for each part and written length,
the training songs' performed lengths (an inverse CDF, saved beside the weights as
articulation.json), and a piece's notes draw their lengths from it: onsets stay on the grid,
only how long each note sounds changes. Seeded, so a piece is the same piece every time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..score import PARTS, Score

ARTICULATION_FILE = "articulation.json"
# Each inverse CDF is kept at the middle of 32 equal shares (1.6%, 4.7%, ..., 98.4%), so that a
# stray pairing (a short written note matched with a long one held) cannot stretch the tail.
LEVELS = (np.arange(32) + 0.5) / 32
MIN_NOTES = 50  # a written length seen fewer times keeps its written length
SHORTEST_BEATS = 1 / 32  # no drawn length is shorter


@dataclass
class Articulation:
    FILE = ARTICULATION_FILE
    stage = "after decoding"  # its hook: performed(score, seed) -> score: each note played as long as the songs played notes written alike

    # part -> written length in sixteenths -> performed lengths in beats at LEVELS even quantiles
    lengths: dict[str, dict[int, np.ndarray]]

    @classmethod
    def measured(cls, scores, events) -> Articulation:
        """From songs (Scores) and an Events table: each song goes through the tokens and back,
        and its notes are paired with their written selves by part, onset sixteenth and pitch.
        The longest length a token can write is left out: there it means "at least that long"."""
        longest_written = max(map(written_sixteenths, (t for t in events.tokens if t.startswith("Duration_"))))
        performed: dict[str, dict[int, list[float]]] = {}
        for score in scores:
            written = events.decode(events.encode(score), score.tempo_bpm)
            for part, notes in score.parts.items():
                grid = written.parts.get(part)
                if grid is None or not len(notes):
                    continue
                lengths_of = {(round(start * 4), int(pitch)): round((end - start) * 4) for start, end, pitch, _ in grid}
                for start, end, pitch, _ in notes:
                    sixteenths = lengths_of.get((round(start * 4), int(pitch)))
                    if sixteenths and sixteenths != longest_written:
                        performed.setdefault(part, {}).setdefault(sixteenths, []).append(end - start)
        return cls({part: {sixteenths: np.quantile(values, LEVELS)
                           for sixteenths, values in sorted(by_length.items()) if len(values) >= MIN_NOTES}
                    for part, by_length in performed.items()})

    def performed(self, score: Score, seed: tuple[int, ...]) -> Score:
        """score with each note's length drawn from the songs' lengths for its part and written
        length (others as written), never reaching the next onset of the same pitch in its part.
        Each part draws from its own stream in onset order, so a piece that grows keeps the
        lengths it had."""
        parts = {}
        for part, notes in score.parts.items():
            notes = notes[np.lexsort((notes[:, 2], notes[:, 0]))].copy()
            stream = PARTS.index(part) if part in PARTS else len(PARTS)
            draws = np.random.default_rng([*seed, 5, stream]).random(len(notes))
            for sixteenths, quantiles in self.lengths.get(part, {}).items():
                chosen = np.round((notes[:, 1] - notes[:, 0]) * 4) == sixteenths
                notes[chosen, 1] = notes[chosen, 0] + np.maximum(np.interp(draws[chosen], LEVELS, quantiles),
                                                                 SHORTEST_BEATS)
            notes[:, 1] = np.minimum(notes[:, 1], next_onset_of_pitch(notes))
            parts[part] = notes
        return Score(parts, score.tempo_bpm, score.beats_per_bar, score.chords)

    def save(self, folder: str | Path) -> None:
        table = {part: {str(sixteenths): [round(float(value), 4) for value in quantiles]
                        for sixteenths, quantiles in by_length.items()}
                 for part, by_length in self.lengths.items()}
        (Path(folder) / ARTICULATION_FILE).write_text(json.dumps(table) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> Articulation | None:
        """The folder's articulation, or None (a model trained before it: lengths as written)."""
        path = Path(folder) / ARTICULATION_FILE
        if not path.is_file():
            return None
        table = json.loads(path.read_text(encoding="utf-8"))
        return cls({part: {int(sixteenths): np.asarray(quantiles, float) for sixteenths, quantiles in by_length.items()}
                    for part, by_length in table.items()})


def written_sixteenths(duration_token: str) -> int:
    """How many sixteenths a miditok Duration token writes ("Duration_1.2.4": 1 beat + 2/4)."""
    beats, steps, resolution = duration_token[len("Duration_"):].split(".")
    return round(4 * (int(beats) + int(steps) / int(resolution)))


def next_onset_of_pitch(notes: np.ndarray) -> np.ndarray:
    """Each note's next later onset of the same pitch (inf when none): a longer note would be
    cut off, or would cut off that one, in a MIDI file."""
    following = np.full(len(notes), np.inf)
    for pitch in np.unique(notes[:, 2]):
        rows = np.flatnonzero(notes[:, 2] == pitch)
        onsets = np.unique(notes[rows, 0])
        following[rows] = np.append(onsets, np.inf)[np.searchsorted(onsets, notes[rows, 0], side="right")]
    return following
