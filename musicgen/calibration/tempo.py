"""The training songs' tempi, each with how busy the song is: a generated piece is played at the
tempo of songs (of its style, where it has one) whose opening is about as busy as its own.

The tokens carry no tempo. In POP909 a faster song has fewer onsets a beat (over 92 held-out
songs' 60 s segments the tempo and the inter-onset interval in beats correlate at 0.69): drawn
independently of the notes, pieces came out too busy or too sparse for their tempo about twice as
often (docs/measurements/corrections.md). Saved as tempos.json, one line per song:
[BPM, onsets per beat, onsets in its first 1..OPENING_BARS bars, style]; older folders hold plain
tempi, [bpm, onsets] pairs or no styles, and are read as what they hold.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import ANY_STYLE
from ..score import BEATS_PER_BAR, Score

TEMPO_FILE = "tempos.json"
OPENING_BARS = 32  # a 60 s piece is refitted after 10 bars, a 3-minute one after 31


def tempo_entry(score: Score, style: str = ANY_STYLE) -> list:
    """A training song's line of tempos.json."""
    return [score.tempo_bpm, score.onsets_per_beat(), score.opening_onsets(OPENING_BARS), style]


@dataclass
class TempoTable:
    tempos: list[float]  # BPM, one a song
    onsets_per_beat: list[float] | None = None  # how busy each song is; None in the oldest folders
    opening_onsets: list[list[int]] | None = None  # onsets in each song's first 1..OPENING_BARS bars
    styles: list[str] | None = None  # each song's style (its artist where the model learned them)

    stage = "before sampling"  # the correction family's hook (musicgen.calibration)
    FILE = TEMPO_FILE

    @classmethod
    def of(cls, entries: list) -> TempoTable:
        """The table from tempos.json's lines (any of the layouts it has had)."""
        entries = [entry if isinstance(entry, (list, tuple)) else [entry] for entry in entries] or [[100.0]]
        onsets = ([float(entry[1]) for entry in entries]
                  if all(len(entry) > 1 and entry[1] is not None for entry in entries) else None)
        opening = ([[int(count) for count in entry[2]] for entry in entries]
                   if all(len(entry) > 2 and entry[2] for entry in entries) else None)
        return cls([float(entry[0]) for entry in entries], onsets, opening,
                   [str(entry[3]) if len(entry) > 3 else ANY_STYLE for entry in entries])

    @classmethod
    def measured(cls, scores: list[Score], styles: list[str]) -> TempoTable:
        return cls.of([tempo_entry(score, style) for score, style in zip(scores, styles)])

    @property
    def fastest(self) -> float:
        """The tempo a piece is sampled for before its own is fitted: the songs' 95th percentile
        (the very fastest would double the bars sampled)."""
        return float(np.round(np.percentile(self.tempos, 95)))

    def fitting_tempo(self, score: Score, rng: np.random.Generator, beats: float | None = None,
                      style: str = ANY_STYLE, opening: bool = True) -> float:
        """A tempo for a piece, drawn from the songs whose onsets per beat are nearest the piece's
        (the square root of their number, on a log scale); over the same opening bars where the
        table has them (the piece's `beats` so far, else its whole length), or over the whole songs
        for a piece that is no opening (begun inside a song); under a style, from that style's songs
        (POP909's JJ Lin plays at a median 67 BPM, Teresa Teng at 92). Songs open sparser than they
        go on: matched against whole songs, a piece's first bars looked like a fast song's."""
        tempos = np.asarray(self.tempos)
        if self.opening_onsets is not None and beats and opening:
            bars = max(1, round(beats / BEATS_PER_BAR))
            onsets = np.array([counts[min(bars, len(counts)) - 1] / (BEATS_PER_BAR * min(bars, len(counts)))
                               for counts in self.opening_onsets])
        else:
            onsets = np.asarray(self.onsets_per_beat)
        songs = np.arange(len(tempos))
        if style != ANY_STYLE:
            wanted = " ".join(style.split()).lower()  # case and spaces forgiven, as the tokens' styles
            of_style = np.flatnonzero([name.lower() == wanted for name in self.styles])
            songs = of_style if len(of_style) else songs  # a table from before styles: every song
        distance = np.abs(np.log(np.maximum(onsets[songs], 1e-3)) - np.log(max(score.onsets_per_beat(beats), 1e-3)))
        nearest = songs[np.argsort(distance, kind="stable")[:max(1, round(np.sqrt(len(songs))))]]
        return float(np.round(tempos[nearest[rng.integers(len(nearest))]]))

    def drawn(self, seed: int, count: int) -> list[float]:
        """count tempi drawn from the songs' (for a model whose table knows no onsets)."""
        rng = np.random.default_rng([seed, 3])
        return [float(np.round(self.tempos[rng.integers(len(self.tempos))])) for _ in range(count)]

    def save(self, folder: str | Path) -> None:
        if self.opening_onsets is not None:
            lines = [[round(tempo, 2), round(onsets, 4), opening, style] for tempo, onsets, opening, style
                     in zip(self.tempos, self.onsets_per_beat, self.opening_onsets, self.styles)]
        elif self.onsets_per_beat is not None:
            lines = [[round(tempo, 2), round(onsets, 4)] for tempo, onsets in zip(self.tempos, self.onsets_per_beat)]
        else:
            lines = [round(tempo, 2) for tempo in self.tempos]
        (Path(folder) / TEMPO_FILE).write_text(json.dumps(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> TempoTable | None:
        path = Path(folder) / TEMPO_FILE
        return cls.of(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None
