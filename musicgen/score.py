"""MIDI <-> Score: a song's parts as notes in beats, with its tempo, on a 4/4 bar grid.

Every note is (start beat, end beat, pitch, velocity), beat 0 being the first downbeat's bar
line, so a token scheme can put notes on bars and sixteenths without knowing where the music
came from. Two ways in:

- POP909-style folders with a `beat_midi.txt` beside the MIDI: onsets are read against the
  annotated beats (the files' tick grids are shifted from them: measured in the dataset's
  README), and bars start at the first annotated downbeat, pickups landing in the bar before.
- Any other MIDI: beats are the file's own ticks (its tempo map), bars start at tick 0.

Parts are roles, not tracks: "Melody" (a track named MELODY, VOCAL, LEAD or VOICE) and
"Accompaniment" (every other pitched track, merged). Drums never enter.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pretty_midi

from .chords import NO_CHORD, harte_chord, transpose_chord
from .midi import MidiError, bar_offset, key_of, load_midi

MELODY, ACCOMPANIMENT = "Melody", "Accompaniment"
PARTS = (MELODY, ACCOMPANIMENT)
# General MIDI programs that sound apart in the audio: a flute's lead line over the piano.
PART_PROGRAMS = {MELODY: 73, ACCOMPANIMENT: 0}
MELODY_TRACK_WORDS = ("melody", "vocal", "lead", "voice")
BEATS_PER_BAR = 4
MIN_DURATION_BEATS = 1 / 32  # shorter notes are grace-note noise for a sixteenth grid


@dataclass
class Score:
    """Notes per part, each row (start_beat, end_beat, pitch, velocity); tempo in beats per minute."""

    parts: dict[str, np.ndarray] = field(default_factory=dict)
    tempo_bpm: float = 120.0
    beats_per_bar: int = BEATS_PER_BAR
    # (start_beat, end_beat, chord) rows (musicgen.chords numbers them), sorted; empty when unknown.
    chords: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def end_beats(self) -> float:
        ends = [notes[:, 1].max() for notes in self.parts.values() if len(notes)]
        return float(max(ends)) if ends else 0.0

    @property
    def seconds(self) -> float:
        return self.end_beats * self.seconds_per_beat

    @property
    def note_count(self) -> int:
        return sum(len(notes) for notes in self.parts.values())

    def onsets_per_beat(self, beats: float | None = None) -> float:
        """Distinct note onsets (to the nearest sixteenth) per beat: how busy the rhythm is; over
        `beats` when given (a piece's whole bars so far), else up to the last note's end."""
        notes = self.all_notes()
        return len(np.unique(np.round(notes[:, 0] * 4))) / max(beats or self.end_beats, 1.0) if len(notes) else 0.0

    def opening_onsets(self, bars: int) -> list[int]:
        """Distinct onsets (to the nearest sixteenth) in the first 1, 2, ... bars (at most `bars`,
        at most the score's own): how busy its opening is, bar by bar."""
        notes = self.all_notes()
        onsets = np.unique(np.round(notes[:, 0] * 4)) / 4 if len(notes) else np.zeros(0)
        own = max(1, int(np.ceil(self.end_beats / self.beats_per_bar)))
        by_bar = np.bincount((onsets // self.beats_per_bar).astype(int), minlength=bars)[:min(bars, own)]
        return np.cumsum(by_bar).tolist()

    def all_notes(self) -> np.ndarray:
        rows = [notes for notes in self.parts.values() if len(notes)]
        return np.concatenate(rows) if rows else np.zeros((0, 4))

    def transposed(self, semitones: int) -> Score:
        """Every pitch moved by semitones; notes pushed outside 0-127 are dropped."""
        moved = {}
        for name, notes in self.parts.items():
            notes = notes.copy()
            notes[:, 2] += semitones
            moved[name] = notes[(notes[:, 2] >= 0) & (notes[:, 2] <= 127)]
        chords = self.chords.copy()
        chords[:, 2] = [transpose_chord(int(chord), semitones) for chord in chords[:, 2]]
        return Score(moved, self.tempo_bpm, self.beats_per_bar, chords)

    def key_shift(self) -> int:
        """Semitones (-6..5) that move the estimated key to C major or A minor (Krumhansl-Schmuckler,
        pitch classes weighted by duration)."""
        return self.key()[0]

    def key(self) -> tuple[int, str]:
        """(key_shift(), "major" or "minor") of the estimated key."""
        notes = self.all_notes()
        if not len(notes):
            return 0, "major"
        return key_of(np.bincount(notes[:, 2].astype(int) % 12, weights=notes[:, 1] - notes[:, 0], minlength=12))

    def cropped(self, start_beat: float, end_beat: float) -> Score:
        """The notes starting in [start_beat, end_beat), moved so that start_beat becomes beat 0."""
        parts = {}
        for name, notes in self.parts.items():
            kept = notes[(notes[:, 0] >= start_beat) & (notes[:, 0] < end_beat)].copy()
            kept[:, :2] -= start_beat
            parts[name] = kept
        chords = self.chords[(self.chords[:, 1] > start_beat) & (self.chords[:, 0] < end_beat)].copy()
        chords[:, :2] = np.clip(chords[:, :2], start_beat, end_beat) - start_beat
        return Score(parts, self.tempo_bpm, self.beats_per_bar, chords)

    def to_midi(self, key_signature: str | None = None) -> pretty_midi.PrettyMIDI:
        """A PrettyMIDI with this tempo, a 4/4 time signature, and one named instrument per part."""
        midi = pretty_midi.PrettyMIDI(initial_tempo=float(self.tempo_bpm))
        midi.time_signature_changes.append(pretty_midi.TimeSignature(self.beats_per_bar, 4, 0.0))
        if key_signature:
            midi.key_signature_changes.append(
                pretty_midi.KeySignature(pretty_midi.key_name_to_key_number(key_signature), 0.0))
        spb = self.seconds_per_beat
        for name in PARTS:
            notes = self.parts.get(name)
            if notes is None or not len(notes):
                continue
            instrument = pretty_midi.Instrument(program=PART_PROGRAMS[name], name=name)
            for start, end, pitch, velocity in notes[np.lexsort((notes[:, 2], notes[:, 0]))]:
                instrument.notes.append(pretty_midi.Note(int(velocity), int(pitch), start * spb, end * spb))
            midi.instruments.append(instrument)
        return midi


def _part_of(track_name: str) -> str:
    name = (track_name or "").strip().lower()
    if any(word in name for word in MELODY_TRACK_WORDS):
        return MELODY
    return ACCOMPANIMENT


def read_beats(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(beat times in seconds, downbeat flags of 4-beat bars) from a POP909 beat_midi.txt, or None."""
    try:
        table = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError):
        return None
    if table.ndim != 2 or table.shape[1] < 2 or len(table) < 2 or np.any(np.diff(table[:, 0]) <= 0):
        return None
    bars = np.diff(np.flatnonzero(table[:, 1] > 0.5))
    if len(bars) and int(np.median(bars)) % 2:
        raise MidiError(f"{path.parent.name}: in {int(np.median(bars))}/4 time (beat_midi.txt); "
                        "this model writes 4/4")
    # The last column marks bars of 4 beats in POP909 (the first, bars of beats_per_measure).
    return table[:, 0], table[:, -1] > 0.5


def _beats_from_annotation(seconds: np.ndarray, beat_times: np.ndarray, downbeats: np.ndarray) -> np.ndarray:
    """Seconds -> beats on the annotated grid, beat 0 a bar line before or at the first downbeat."""
    indices = np.arange(len(beat_times), dtype=np.float64)
    beats = np.interp(seconds, beat_times, indices)
    # np.interp holds the ends flat: go on at the first / last beat's pace beyond them.
    before, after = seconds < beat_times[0], seconds > beat_times[-1]
    beats[before] = (seconds[before] - beat_times[0]) / (beat_times[1] - beat_times[0])
    beats[after] = indices[-1] + (seconds[after] - beat_times[-1]) / (beat_times[-1] - beat_times[-2])
    first_downbeat = int(np.flatnonzero(downbeats)[0]) if downbeats.any() else 0
    # The pickup before the first downbeat fills the end of the bar before it.
    offset = -first_downbeat + BEATS_PER_BAR * int(np.ceil(first_downbeat / BEATS_PER_BAR))
    return beats + offset


def read_chords(path: Path) -> list[tuple[float, float, int]]:
    """(start s, end s, chord) rows of a POP909 chord_midi.txt; [] when it cannot be read."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    for line in lines:
        fields = line.split()
        try:
            rows.append((float(fields[0]), float(fields[1]), harte_chord(fields[2])))
        except (IndexError, ValueError):
            return []
    return rows


def score_from_midi(midi: pretty_midi.PrettyMIDI, beats: tuple[np.ndarray, np.ndarray] | None = None,
                    chords: list[tuple[float, float, int]] | None = None) -> Score:
    """A Score from a parsed MIDI file; `beats` (read_beats) places the notes, else the file's tempo
    map; `chords` (read_chords, in seconds) become the Score's chords on the same beats."""
    pitched = [instrument for instrument in midi.instruments if not instrument.is_drum and instrument.notes]
    rows: dict[str, list] = {MELODY: [], ACCOMPANIMENT: []}
    named_melody = any(_part_of(instrument.name) == MELODY for instrument in pitched)
    for instrument in pitched:
        part = _part_of(instrument.name) if named_melody else ACCOMPANIMENT
        times = np.array([(note.start, note.end, note.pitch, note.velocity) for note in instrument.notes], float)
        rows[part].append(times)
    if beats is not None:
        beat_times, downbeats = beats
        tempo = 60.0 / float(np.median(np.diff(beat_times)))
        convert = lambda seconds: _beats_from_annotation(seconds, beat_times, downbeats)  # noqa: E731
    else:
        tempo_times, tempi = midi.get_tempo_changes()
        tempo = float(tempi[0]) if len(tempi) else 120.0
        convert = lambda seconds: np.array([midi.time_to_tick(s) for s in seconds]) / midi.resolution  # noqa: E731
    parts = {}
    for part, chunks in rows.items():
        if not chunks:
            continue
        notes = np.concatenate(chunks)
        start, end = convert(notes[:, 0]), convert(notes[:, 1])
        notes = np.column_stack([start, np.maximum(end, start + MIN_DURATION_BEATS), notes[:, 2], notes[:, 3]])
        parts[part] = notes[notes[:, 0] >= 0]
    if not np.isfinite(tempo) or tempo <= 0:
        tempo = 120.0
    chord_rows = np.zeros((0, 3))
    if chords:
        table = np.array(chords, float)
        table = table[table[:, 2] != NO_CHORD]
        if len(table):
            chord_rows = np.column_stack([convert(table[:, 0]), convert(table[:, 1]), table[:, 2]])
            chord_rows = chord_rows[(chord_rows[:, 1] > chord_rows[:, 0]) & (chord_rows[:, 1] > 0)]
            chord_rows[:, 0] = np.maximum(chord_rows[:, 0], 0)
    return Score(parts, float(np.clip(tempo, 30, 300)), chords=chord_rows)


def load_score(source: str | Path | bytes, name: str | None = None) -> Score:
    """A Score from a MIDI file (path or bytes), using a beat_midi.txt beside a path when there is one.

    Raises MidiError (with the file's name and the reason) for anything unusable.
    """
    midi = load_midi(source, name=name)
    beats, chords = None, None
    if not isinstance(source, (bytes, bytearray)):
        annotation = Path(source).with_name("beat_midi.txt")
        beats = read_beats(annotation) if annotation.is_file() else None
        chord_file = Path(source).with_name("chord_midi.txt")
        chords = read_chords(chord_file) if chord_file.is_file() else None
    score = score_from_midi(midi, beats, chords)
    if not score.note_count:
        label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "upload")
        drums = any(instrument.is_drum and instrument.notes for instrument in midi.instruments)
        raise MidiError(f"{label}: " + ("it holds only drums, and this model writes melody and accompaniment: "
                                        "upload a file with a pitched part" if drums else
                                        "it has no notes to continue; upload a file with a melody or chords"))
    return score


@dataclass
class Melody:
    """A tune someone brings: its notes in beats on its own file's grid (a Score with one part),
    the parsed file it came from, the instrument the notes are, and how it was found."""

    score: Score
    midi: pretty_midi.PrettyMIDI
    instrument: pretty_midi.Instrument
    found: str  # "the only track", "the track named Vocal", "the highest track (Piano 2), as none is named melody"

    @property
    def end_seconds(self) -> float:
        """When its last note ends: the file's time signatures after it do not concern the tune."""
        return max(note.end for note in self.instrument.notes)

    @property
    def bar_offset(self) -> float | None:
        """Beats before the tune that put its own bar lines on bars of 4 (musicgen.midi.bar_offset)."""
        return bar_offset(self.midi, self.end_seconds)


ONLY_TRACK = "the only track"  # Melody.found of a file with one pitched track: nothing to say


def load_melody(source: str | Path | bytes, name: str | None = None) -> Melody:
    """The melody of a MIDI file: its one pitched track, else the track named melody/vocal/lead/voice,
    else the highest-sounding track (said so in Melody.found). MidiError in words for a file with
    no pitched notes (drums only, empty)."""
    midi = load_midi(source, name=name)
    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "upload")
    pitched = [instrument for instrument in midi.instruments if not instrument.is_drum and instrument.notes]
    if not pitched:
        drums = any(instrument.is_drum and instrument.notes for instrument in midi.instruments)
        raise MidiError(f"{label}: " + ("it holds only drums; a melody to accompany is a pitched part (a voice, "
                                        "a lead instrument)" if drums else "it has no notes to accompany"))
    named = [instrument for instrument in pitched if _part_of(instrument.name) == MELODY]
    if len(pitched) == 1:
        chosen, found = pitched[0], ONLY_TRACK
    elif named:
        chosen, found = named[0], f"the track named {named[0].name.strip()}"
    else:
        chosen = max(pitched, key=lambda instrument: np.mean([note.pitch for note in instrument.notes]))
        found = f"the highest track ({chosen.name.strip() or 'unnamed'}), as none is named melody, vocal or lead"
    tempo_times, tempi = midi.get_tempo_changes()
    notes = np.array([(note.start, note.end, note.pitch, note.velocity) for note in chosen.notes], float)
    start = np.array([midi.time_to_tick(s) for s in notes[:, 0]]) / midi.resolution
    end = np.array([midi.time_to_tick(s) for s in notes[:, 1]]) / midi.resolution
    rows = np.column_stack([start, np.maximum(end, start + MIN_DURATION_BEATS), notes[:, 2], notes[:, 3]])
    tempo = float(tempi[0]) if len(tempi) and np.isfinite(tempi[0]) and tempi[0] > 0 else 120.0
    return Melody(Score({MELODY: rows}, float(np.clip(tempo, 30, 300))), midi, chosen, found)
