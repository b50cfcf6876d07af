"""What sampling gives: a Draft (the ids of one request, kept between clicks) and its Pieces."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pretty_midi

from .score import Score


@dataclass
class Piece:
    """One decoded piece: its ids, its MIDI, and what a scheme knows of it."""

    ids: np.ndarray  # frames: the generated frames (without the primer); events: the piece's tokens
    midi: pretty_midi.PrettyMIDI
    tempo_bpm: float | None = None  # events: the piece's tempo
    score: Score | None = None  # events: the piece's notes in beats
    key: str | None = None  # events: its key, as in its MIDI's key signature ("Eb major")
    # frames: the frame tokens (the sets of sounding pitches), which the picture draws as they are
    tokens: list[str] | None = None
    frames_per_second: float | None = None  # frames: how many of them a second, at the piece's speed
    sections: list[tuple[float, str]] = field(default_factory=list)  # a form's (start in seconds, label)

    @property
    def note_count(self) -> int:
        return sum(len(instrument.notes) for instrument in self.midi.instruments)


@dataclass
class Draft:
    """What one request sampled, as plain JSON-able values, so the app can keep it between clicks
    (Continue, Undo) and turn it into pieces again.

    rows: frames: the generated frames of each variation; events: each piece's ids, primer included.
    tempi: events: each piece's tempo in BPM before `speed`. skip_bars: events: primer bars left out.
    """

    source: str
    seed: int
    rows: list
    tempi: list = field(default_factory=list)
    skip_bars: int = 0
    transpose: int = 0  # semitones that put the piece back in its primer's key
    speed: float = 1.0
    program: int | None = None
    steering: dict = field(default_factory=dict)  # Steering.to_json(): chords forced, key, tempo, style
    melody: str | None = None  # an accompaniment's: the MIDI file whose melody the pieces keep, note for note
