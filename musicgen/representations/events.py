"""Beat-aligned event tokens for melody and accompaniment: miditok's REMI over symusic.

A piece reads Bar, Position_p (sixteenths, 0-15), then for each note starting there
Program_x (73 = Melody, 0 = Accompaniment), Pitch_n, Velocity_v (8 levels), Duration_d
(sixteenths up to 4 beats, eighths up to 8); so a held note and a re-struck one differ, and
every onset sits on the bar grid. The tokenizer's JSON (`tokenizer.json`) is saved beside the
weights; it is plain JSON, nothing is unpickled.

The grammar (`Grammar`) is the order above as data: sampling masks every token that would
break it, so every sampled sequence decodes, and positions only move forward within a bar.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..score import ACCOMPANIMENT, MELODY, PART_PROGRAMS, Score

TOKENIZER_FILE = "tokenizer.json"
TICKS_PER_BEAT = 480
PROGRAM_PARTS = {program: part for part, program in PART_PROGRAMS.items()}
# What may follow each kind of token (the REMI order with one token stream for both parts).
FOLLOWERS = {
    "BOS": ("Bar",),
    "Bar": ("Bar", "Position"),
    "Position": ("Program",),
    "Program": ("Pitch",),
    "Pitch": ("Velocity",),
    "Velocity": ("Duration",),
    "Duration": ("Program", "Position", "Bar"),
}


def tokenizer_config():
    from miditok import TokenizerConfig

    return TokenizerConfig(
        pitch_range=(21, 109), beat_res={(0, 4): 4, (4, 8): 2}, num_velocities=8,
        special_tokens=["PAD", "BOS", "EOS"], use_programs=True, programs=sorted(PROGRAM_PARTS),
        one_token_stream_for_programs=True, use_time_signatures=False, use_pitchdrum_tokens=False)


class Grammar:
    """Which ids may come next, as boolean masks; a state is (kind of the last token, position in bar)."""

    def __init__(self, vocab: dict[str, int]):
        size = max(vocab.values()) + 1
        self.kinds = [""] * size
        self.positions = np.full(size, -1)
        for token, index in vocab.items():
            kind, _, value = token.partition("_")
            self.kinds[index] = kind
            if kind == "Position":
                self.positions[index] = int(value)
        self.kind_of = np.array(self.kinds)
        self.masks = {kind: np.isin(self.kind_of, followers) for kind, followers in FOLLOWERS.items()}
        self.is_position = self.kind_of == "Position"
        self.bar_id = vocab["Bar_None"]
        self.bos_id = vocab["BOS_None"]

    def start(self) -> tuple[str, int]:
        return ("BOS", -1)

    def allowed(self, state: tuple[str, int]) -> np.ndarray:
        kind, position = state
        mask = self.masks.get(kind, self.masks["Duration"]).copy()
        if position >= 0:
            mask &= ~self.is_position | (self.positions > position)
        return mask

    def advance(self, state: tuple[str, int], token_id: int) -> tuple[str, int]:
        kind = self.kinds[token_id]
        if kind == "Bar":
            return ("Bar", -1)
        if kind == "Position":
            return ("Position", int(self.positions[token_id]))
        if kind in FOLLOWERS:
            return (kind, state[1])
        return state  # a special token changes nothing

    def state_after(self, ids) -> tuple[str, int]:
        state = self.start()
        for token_id in ids:
            state = self.advance(state, int(token_id))
        return state


class Events:
    """The "events" representation: Score <-> ids through miditok's REMI."""

    name = "events"

    def __init__(self, tokenizer, tempos: list[float] | None = None):
        self.tokenizer = tokenizer
        self.vocab: dict[str, int] = dict(tokenizer.vocab)
        self.tokens = [token for token, _ in sorted(self.vocab.items(), key=lambda item: item[1])]
        self.grammar = Grammar(self.vocab)
        # The training songs' tempi (BPM): a generated piece draws its tempo from them.
        self.tempos = list(tempos or [100.0])
        self._pitch_ids = {int(token[6:]): index for token, index in self.vocab.items() if token.startswith("Pitch_")}

    @classmethod
    def new(cls, tempos: list[float] | None = None) -> Events:
        from miditok import REMI

        return cls(REMI(tokenizer_config()), tempos)

    @classmethod
    def load(cls, folder: str | Path) -> Events:
        from miditok import REMI

        folder = Path(folder)
        tokenizer = REMI(params=folder / TOKENIZER_FILE)
        extra = folder / "tempos.json"
        tempos = json.loads(extra.read_text(encoding="utf-8")) if extra.is_file() else None
        return cls(tokenizer, tempos)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.tokenizer.save(folder / TOKENIZER_FILE)
        (folder / "tempos.json").write_text(json.dumps([round(t, 2) for t in self.tempos]) + "\n", encoding="utf-8")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def bos_id(self) -> int:
        return self.grammar.bos_id

    def encode(self, score: Score) -> np.ndarray:
        """BOS, then the score's tokens (notes quantized to sixteenths by miditok)."""
        import symusic

        midi = symusic.Score(TICKS_PER_BEAT)
        for part, notes in score.parts.items():
            if not len(notes):
                continue
            track = symusic.Track(name=part, program=PART_PROGRAMS[part])
            starts = np.round(notes[:, 0] * TICKS_PER_BEAT).astype(np.int64)
            ends = np.maximum(np.round(notes[:, 1] * TICKS_PER_BEAT).astype(np.int64), starts + 1)
            for start, end, pitch, velocity in zip(starts, ends, notes[:, 2].astype(int), notes[:, 3].astype(int)):
                track.notes.append(symusic.Note(int(start), int(end - start), int(pitch), max(1, min(127, int(velocity)))))
            midi.tracks.append(track)
        if not midi.tracks:
            return np.array([self.bos_id], np.int32)
        sequence = self.tokenizer.encode(midi)
        sequence = sequence[0] if isinstance(sequence, list) else sequence
        return np.array([self.bos_id, *sequence.ids], np.int32)

    def decode(self, ids, tempo_bpm: float = 120.0) -> Score:
        """The Score that ids make (special tokens skipped), at tempo_bpm."""
        kept = [int(i) for i in ids if self.grammar.kinds[int(i)] in FOLLOWERS and self.grammar.kinds[int(i)] != "BOS"]
        parts = {MELODY: np.zeros((0, 4)), ACCOMPANIMENT: np.zeros((0, 4))}
        if kept:
            decoded = self.tokenizer.decode(kept)
            for track in decoded.tracks:
                part = PROGRAM_PARTS.get(track.program, ACCOMPANIMENT)
                rows = np.array([(n.time, n.time + n.duration, n.pitch, n.velocity) for n in track.notes], float)
                if len(rows):
                    rows[:, :2] /= decoded.ticks_per_quarter
                    parts[part] = np.concatenate([parts[part], rows])
        return Score({part: notes for part, notes in parts.items() if len(notes)}, tempo_bpm)

    def transposition(self, semitones: int) -> np.ndarray:
        """An id -> id table moving every Pitch token by semitones (out-of-range pitches stay)."""
        table = np.arange(len(self), dtype=np.int32)
        for pitch, index in self._pitch_ids.items():
            if pitch + semitones in self._pitch_ids:
                table[index] = self._pitch_ids[pitch + semitones]
        return table

    def pitch_range(self, ids) -> tuple[int, int]:
        """The lowest and highest pitch in ids, or (60, 60) when there is none."""
        by_id = {index: pitch for pitch, index in self._pitch_ids.items()}
        pitches = [by_id[int(i)] for i in ids if int(i) in by_id]
        return (min(pitches), max(pitches)) if pitches else (60, 60)

    def note_primer(self, pitch: int) -> np.ndarray:
        """BOS, Bar, Position_0 and one melody note of a beat: what "start from C4" means here."""
        pitch = int(np.clip(pitch, min(self._pitch_ids), max(self._pitch_ids)))
        velocity = next(t for t in self.tokens if t.startswith("Velocity_") and int(t[9:]) >= 90)
        tokens = ["Bar_None", "Position_0", f"Program_{PART_PROGRAMS[MELODY]}", f"Pitch_{pitch}", velocity,
                  "Duration_1.0.4"]
        return np.array([self.bos_id, *(self.vocab[token] for token in tokens)], np.int32)
