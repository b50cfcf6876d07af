"""Beat-aligned event tokens for melody and accompaniment: miditok's REMI over symusic.

A piece reads Bar, Position_p (sixteenths, 0-15), then for each note starting there
Program_x (73 = Melody, 0 = Accompaniment), Pitch_n, Velocity_v (8 levels), Duration_d
(sixteenths up to 4 beats, eighths up to 8); so a held note and a re-struck one differ, and
every onset sits on the bar grid. The tokenizer's JSON (`tokenizer.json`) is saved beside the
weights; it is plain JSON, nothing is unpickled.

Steerable models (`conditions.json` beside the tokenizer) add three kinds of our own, outside
miditok's table: a header after BOS, Style_<artist> ("any" when unknown) and Mode_major /
Mode_minor, then at every bar line Position_0 Chord_<name> (the chord sounding there; "N" for
none) and a Position_p Chord_<name> wherever the chord changes inside the bar, before the notes it
governs. The chords are POP909's annotations where a song has them, else estimated from its notes
(musicgen.chords). So a person's progression can be forced bar by bar while the notes are sampled.
Models trained with start tokens (conditions.json's "starts") end the header with Start_opening
(the sequence begins where its song begins) or Start_middle (at a bar line inside the song).

The grammar (`Grammar`) is the order above as data: sampling masks every token that would
break it, so every sampled sequence decodes, positions only move forward within a bar, and a
steerable model's every bar opens with its chord.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..chords import CHORD_COUNT, NO_CHORD, chord_at, chord_name, chord_pitch_classes, estimate_chords
from ..config import ANY_STYLE, STARTS, check_start  # Start_<where>: from its song's beginning, or from a bar inside it
from ..score import ACCOMPANIMENT, MELODY, PART_PROGRAMS, Score

TOKENIZER_FILE = "tokenizer.json"
CONDITIONS_FILE = "conditions.json"  # {"styles": [...], "starts": bool}: present when the model is steerable
STYLE_POSITION = 1  # a steerable sequence opens BOS, its style, its mode (Events.header)
MODES = ("major", "minor")
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
# ... and in a steerable model: the header, and a chord after a position ...
STEERABLE_FOLLOWERS = {**FOLLOWERS, "BOS": ("Style",), "Style": ("Mode",), "Mode": ("Bar",),
                       "Position": ("Program", "Chord"), "Chord": ("Program", "Position", "Bar")}
# ... and with start tokens, where the sequence starts after the mode.
STARTING_FOLLOWERS = {**STEERABLE_FOLLOWERS, "Mode": ("Start",), "Start": ("Bar",)}
MIDITOK_KINDS = ("Bar", "Position", "Program", "Pitch", "Velocity", "Duration")
COMPLETE = ("Duration", "Bar", "Position", "BOS", "Chord", "Style", "Mode", "Start")  # states after which a sequence may end
# Melody first (conditions.json's "melody_first"): each bar is Bar, its section when one begins
# there, its melody notes (Position_p Program_73 Pitch Velocity Duration, positions forward), then
# its chord (which starts the accompaniment at position 0) and the accompaniment in REMI's order.
# The grammar's states in the melody's half of a bar are named apart (M...).
MELODY_HALF = ("Bar", "Section", "Bars", "MPosition", "MProgram", "MPitch", "MVelocity", "MDuration")
MELODY_FIRST_COMPLETE = (*COMPLETE, "Bars", "MDuration")
# Sections (conditions.json's "sections"): Section_<letter> Bars_<n> after the bar line where a
# section of the song's form begins (POP909's letters: musicgen.steering.FORM_LETTERS).
SECTION_LETTERS = "ABCDEXibox"
MAX_SECTION_BARS = 16  # Bars_16 stands for 16 or more (POP909: 8 bars median, 12 at the 90th percentile)


def chord_token(chord: int) -> str:
    return f"Chord_{chord_name(chord)}"


CHORD_TOKENS = {chord_token(chord): chord for chord in (NO_CHORD, *range(CHORD_COUNT))}  # token -> chord


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
        self.steerable = "Mode_major" in vocab
        self.starts = "Start_middle" in vocab
        self.followers = (STARTING_FOLLOWERS if self.starts else STEERABLE_FOLLOWERS) if self.steerable else FOLLOWERS
        self.kinds = [""] * size
        self.positions = np.full(size, -1)
        for token, index in vocab.items():
            kind, _, value = token.partition("_")
            self.kinds[index] = kind
            if kind == "Position":
                self.positions[index] = int(value)
        self.kind_of = np.array(self.kinds)
        self.masks = {kind: np.isin(self.kind_of, followers) for kind, followers in self.followers.items()}
        self.is_position = self.kind_of == "Position"
        self.is_chord = self.kind_of == "Chord"
        self.is_program = self.kind_of == "Program"
        self.is_no_chord = np.zeros(size, bool)
        if "Chord_N" in vocab:
            self.is_no_chord[vocab["Chord_N"]] = True
        self.bar_id = vocab["Bar_None"]
        self.bos_id = vocab["BOS_None"]
        self.position_ids = {int(self.positions[i]): i for i in np.flatnonzero(self.is_position)}

    melody_first = False
    complete_kinds = COMPLETE
    chord_opening_kinds = ("BarStart",)  # states where a bar's first chord is written

    def start(self) -> tuple[str, int]:
        return ("BOS", -1)

    def allowed(self, state: tuple[str, int]) -> np.ndarray:
        kind, position = state
        if self.steerable and kind == "Bar":  # a steerable bar opens with Position_0 and its chord
            return self.is_position & (self.positions == 0)
        if kind == "BarStart":
            return self.is_chord.copy()
        mask = self.masks.get(kind, self.masks["Duration"]).copy()
        if position >= 0:
            mask &= ~self.is_position | (self.positions > position)
        return mask

    def advance(self, state: tuple[str, int], token_id: int) -> tuple[str, int]:
        kind = self.kinds[token_id]
        if kind == "Bar":
            return ("Bar", -1)
        if kind == "Position":
            opening = self.steerable and state[0] == "Bar"
            return ("BarStart" if opening else "Position", int(self.positions[token_id]))
        if kind in self.followers:
            return (kind, state[1])
        return state  # a special token changes nothing

    def compiled(self) -> CompiledGrammar:
        """The grammar as tables over numbered states, for a sampler that keeps a batch's states
        as an int array (built once from allowed() and advance(), which stay the definition)."""
        if getattr(self, "_compiled", None) is None:
            self._compiled = CompiledGrammar(self)
        return self._compiled

    def state_after(self, ids) -> tuple[str, int]:
        state = self.start()
        for token_id in ids:
            state = self.advance(state, int(token_id))
        return state


class CompiledGrammar:
    """Grammar states numbered: masks[state] (allowed ids), transitions[state, id] (the next
    state), complete[state] (a sequence may end there), bar_start[state] (a bar's chord comes next)."""

    def __init__(self, grammar: Grammar):
        positions = range(-1, int(grammar.positions.max()) + 1)
        kinds = list(dict.fromkeys(["BOS", "BarStart", *grammar.followers]))
        self.states = [(kind, position) for kind in kinds for position in positions]
        number = {state: index for index, state in enumerate(self.states)}
        size = len(grammar.kinds)
        self.masks = np.stack([grammar.allowed(state) for state in self.states])
        self.transitions = np.array([[number.get(grammar.advance(state, token), index) for token in range(size)]
                                     for index, state in enumerate(self.states)], np.int32)
        self.complete = np.array([kind in grammar.complete_kinds for kind, _ in self.states])
        self.bar_start = np.array([kind in grammar.chord_opening_kinds for kind, _ in self.states])
        # States in a bar's melody half (a melody-first grammar's; none in REMI's order).
        self.melody_half = np.array([grammar.melody_first and kind in MELODY_HALF for kind, _ in self.states])
        self.number = number

    def state_of(self, state: tuple[str, int]) -> int:
        return self.number[state]


class MelodyFirstGrammar(Grammar):
    """The grammar of a melody-first model (MELODY_HALF above): a bar line, its section, its
    melody (positions forward, the melody's Program only), its chord, its accompaniment (positions
    forward again, any other Program)."""

    melody_first = True
    complete_kinds = MELODY_FIRST_COMPLETE
    chord_opening_kinds = ("Bar", "Bars", "MDuration")

    def __init__(self, vocab: dict[str, int], melody_program_id: int):
        super().__init__(vocab)
        header = {kind: followers for kind, followers in self.followers.items() if kind in ("BOS", "Style", "Mode", "Start")}
        self.followers = {**header, **{kind: () for kind in (*MELODY_HALF, "Chord", "Position", "Program", "Pitch",
                                                             "Velocity", "Duration")}}
        self.is_section = self.kind_of == "Section"
        self.is_bars = self.kind_of == "Bars"
        self.melody_program_id = melody_program_id
        self.is_melody_program = np.arange(len(self.kinds)) == melody_program_id
        self.is_accompaniment_program = self.is_program & ~self.is_melody_program
        of_kind = lambda *kinds: np.isin(self.kind_of, kinds)  # noqa: E731
        self.may_follow = {  # by the kind of state: the ids that may come next
            "Bar": self.is_section | self.is_position | self.is_chord, "Section": self.is_bars,
            "Bars": self.is_position | self.is_chord, "MPosition": self.is_melody_program,
            "MProgram": of_kind("Pitch"), "MPitch": of_kind("Velocity"), "MVelocity": of_kind("Duration"),
            "MDuration": self.is_melody_program | self.is_position | self.is_chord,
            "Chord": self.is_accompaniment_program | self.is_position | (self.kind_of == "Bar"),
            "Position": self.is_accompaniment_program | self.is_chord,
            "Program": of_kind("Pitch"), "Pitch": of_kind("Velocity"), "Velocity": of_kind("Duration"),
            "Duration": self.is_accompaniment_program | self.is_position | (self.kind_of == "Bar"),
        }

    def allowed(self, state: tuple[str, int]) -> np.ndarray:
        kind, position = state
        if kind not in self.may_follow:  # the header
            return self.masks.get(kind, np.zeros(len(self.kinds), bool)).copy()
        mask = self.may_follow[kind].copy()
        if position >= 0:
            mask &= ~self.is_position | (self.positions > position)
        return mask

    def advance(self, state: tuple[str, int], token_id: int) -> tuple[str, int]:
        kind = self.kinds[token_id]
        in_melody = state[0] in MELODY_HALF
        if kind in ("Bar", "Section", "Bars"):
            return (kind, -1)
        if kind == "Position":
            return ("MPosition" if in_melody else "Position", int(self.positions[token_id]))
        if kind == "Chord":
            return ("Chord", 0 if in_melody else state[1])
        if kind in ("Program", "Pitch", "Velocity", "Duration"):
            return (("M" if in_melody else "") + kind, state[1])
        if kind in self.followers:  # the header
            return (kind, -1)
        return state


def struck_once(notes: np.ndarray) -> np.ndarray:
    """The notes of one part with each (onset, pitch) once, the longest kept: a model can write
    the same pitch twice at one position (3% of the default model's accompaniment notes), which
    a MIDI file would play as one note twice as loud, or stack in a DAW."""
    longest_first = notes[np.lexsort((notes[:, 0] - notes[:, 1], notes[:, 2], notes[:, 0]))]
    _, first = np.unique(longest_first[:, [0, 2]], axis=0, return_index=True)
    return longest_first[np.sort(first)]


class Events:
    """The "events" representation: Score <-> ids through miditok's REMI."""

    name = "events"

    def __init__(self, tokenizer, styles: list[str] | None = None, starts: bool = False,
                 melody_first: bool = False, sections: bool = False):
        self.tokenizer = tokenizer
        self.vocab: dict[str, int] = dict(tokenizer.vocab)
        self.miditok_size = len(self.vocab)
        # Steerable: the styles a model learned ("any" first); None for a model without conditions.
        self.styles = None if styles is None else [ANY_STYLE, *(s for s in styles if s != ANY_STYLE)]
        if self.styles is not None:
            extra = [f"Style_{style}" for style in self.styles] + [f"Mode_{mode}" for mode in MODES]
            extra += list(CHORD_TOKENS)
            extra += [f"Start_{where}" for where in STARTS] if starts else []
            extra += section_tokens() if sections and melody_first else []  # sections open a bar's melody
            self.vocab.update({token: self.miditok_size + index for index, token in enumerate(extra)})
        self.tokens = [token for token, _ in sorted(self.vocab.items(), key=lambda item: item[1])]
        self.melody_first = melody_first and self.styles is not None
        melody_program_id = self.vocab[f"Program_{PART_PROGRAMS[MELODY]}"]
        self.grammar = MelodyFirstGrammar(self.vocab, melody_program_id) if self.melody_first else Grammar(self.vocab)
        self._pitch_ids = {int(token[6:]): index for token, index in self.vocab.items() if token.startswith("Pitch_")}
        self.pitch_of = np.full(len(self.tokens), -1)  # each id's pitch, -1 for ids that are not pitches
        self.pitch_of[list(self._pitch_ids.values())] = list(self._pitch_ids)
        self.melody_program_id = self.vocab[f"Program_{PART_PROGRAMS[MELODY]}"]
        # Each id's pitch classes where it is a chord (all False elsewhere, and for Chord_N).
        self.chord_tones = np.zeros((len(self.tokens), 12), bool)
        for token, chord in CHORD_TOKENS.items():
            if token in self.vocab and chord != NO_CHORD:
                self.chord_tones[self.vocab[token], list(chord_pitch_classes(chord))] = True

    @classmethod
    def new(cls, styles: list[str] | None = None, starts: bool = False, melody_first: bool = False,
            sections: bool = False) -> Events:
        """Steerable models only (styles given): starts, the header says where in its song a sequence
        starts; melody_first, each bar's melody before its accompaniment; sections, section tokens."""
        from miditok import REMI

        steerable = styles is not None
        return cls(REMI(tokenizer_config()), styles, starts=starts and steerable,
                   melody_first=melody_first and steerable, sections=sections and steerable)

    @classmethod
    def load(cls, folder: str | Path) -> Events:
        from miditok import REMI

        folder = Path(folder)
        tokenizer = REMI(params=folder / TOKENIZER_FILE)
        conditions = folder / CONDITIONS_FILE
        conditions = json.loads(conditions.read_text(encoding="utf-8")) if conditions.is_file() else {}
        return cls(tokenizer, conditions.get("styles"), bool(conditions.get("starts")),
                   bool(conditions.get("melody_first")), bool(conditions.get("sections")))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.tokenizer.save(folder / TOKENIZER_FILE)
        if self.steerable:
            conditions = {"styles": self.styles, **({"starts": True} if self.starts else {}),
                          **({"melody_first": True} if self.melody_first else {}),
                          **({"sections": True} if self.sections else {})}
            (folder / CONDITIONS_FILE).write_text(json.dumps(conditions, ensure_ascii=False) + "\n", encoding="utf-8")

    @property
    def steerable(self) -> bool:
        return self.styles is not None

    @property
    def sections(self) -> bool:
        """Whether the model reads and writes section tokens (Section_<letter> Bars_<n>)."""
        return "Section_A" in self.vocab

    def section_ids(self, letter: str, bars: int) -> list[int]:
        """Section_<letter> Bars_<n> (n at most MAX_SECTION_BARS), or [] for a model without sections."""
        if not self.sections:
            return []
        return [self.vocab[f"Section_{letter}"], self.vocab[f"Bars_{min(max(1, bars), MAX_SECTION_BARS)}"]]

    @property
    def starts(self) -> bool:
        """Whether the header says where in its song a sequence starts (Start_opening / Start_middle)."""
        return self.grammar.starts

    def start_ids(self, where: str = "opening") -> list[int]:
        """The header's last token, Start_<where>, for a model with start tokens; [] for others."""
        return [self.vocab[f"Start_{check_start(where)}"]] if self.starts else []

    def style_id(self, style: str) -> int:
        """The id of a style by name (case and spaces forgiven); ValueError listing the styles otherwise."""
        return self.vocab[f"Style_{self.style_name(style)}"]

    def style_name(self, style: str) -> str:
        """A style as the model names it (case and spaces forgiven); ValueError listing the styles otherwise."""
        wanted = " ".join(style.split()).lower() or ANY_STYLE
        for name in self.styles or []:
            if name.lower() == wanted:
                return name
        known = ", ".join(self.styles) if self.styles else "none (this model was trained without styles)"
        raise ValueError(f"unknown style {style!r}: this model knows {known}")

    def header(self, style: str = ANY_STYLE, mode: str | None = None, where: str | None = None,
               unnamed_mode: int | None = None) -> list[int]:
        """How a piece opens: BOS, then for a steerable model the style, the mode (when given; else
        `unnamed_mode` when given, e.g. the sampler's placeholder for a token it draws) and, for a
        model with start tokens, where in its song the piece starts (when given)."""
        ids = [self.bos_id]
        if self.steerable:
            ids.append(self.style_id(style))
            if mode is not None:
                ids.append(self.vocab[f"Mode_{mode}"])
            elif unnamed_mode is not None:
                ids.append(unnamed_mode)
            if where is not None:
                ids += self.start_ids(where)
        return ids

    def starts_inside(self, ids) -> bool:
        """Whether a sequence's header says it starts at a bar inside its song (Start_middle)."""
        middle = self.start_ids("middle")
        return bool(middle) and middle[0] in np.asarray(ids[:8])  # the header: BOS, style, mode, start

    def chord_id(self, chord: int) -> int:
        return self.vocab[chord_token(chord)]

    def mode_of(self, ids) -> str | None:
        """The mode a sequence's header names, or None."""
        for token_id in ids:
            token = self.tokens[int(token_id)]
            if token.startswith("Mode_"):
                return token[5:]
        return None

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def bos_id(self) -> int:
        return self.grammar.bos_id

    def encode(self, score: Score, style: str = ANY_STYLE, where: str = "opening",
               sections: list[tuple[int, str, int]] | None = None) -> np.ndarray:
        """BOS (and a steerable model's header, under `style`, starting at `where` in its song), then the
        score's tokens (notes quantized to sixteenths by miditok; chords, annotated or estimated, at bar
        lines and changes); for a melody-first model each bar's melody first. sections: (first bar,
        letter, bars) of the score's form, written where the model has section tokens."""
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
        header = self.header(style, score.key()[1], where)
        if not midi.tracks:
            return np.array(header, np.int32)
        sequence = self.tokenizer.encode(midi)
        sequence = sequence[0] if isinstance(sequence, list) else sequence
        if not self.steerable:
            return np.array([*header, *sequence.ids], np.int32)
        chords = score.chords if len(score.chords) else estimate_chords(score.all_notes(), score.end_beats)
        tokens = with_chords(list(sequence.tokens), chords, score.beats_per_bar)
        if self.melody_first:
            tokens = to_melody_first(tokens, {bar: (letter, bars) for bar, letter, bars in sections or ()}
                                     if self.sections else None)
        return np.array([*header, *(self.vocab[token] for token in tokens)], np.int32)

    def in_time_order(self, ids) -> list[int]:
        """ids in REMI's order (each bar's notes by position, its sections left out): what miditok
        decodes; a melody-first model's ids are put back in time order, others' returned as they are."""
        if not self.melody_first:
            return [int(i) for i in ids]
        return [self.vocab[token] for token in to_time_order([self.tokens[int(i)] for i in ids])]

    def decode(self, ids, tempo_bpm: float = 120.0) -> Score:
        """The Score that ids make (special tokens skipped), at tempo_bpm."""
        kept = [i for i in self.in_time_order(ids) if self.grammar.kinds[i] in MIDITOK_KINDS]
        parts = {MELODY: np.zeros((0, 4)), ACCOMPANIMENT: np.zeros((0, 4))}
        if kept:
            decoded = self.tokenizer.decode(kept)
            for track in decoded.tracks:
                part = PROGRAM_PARTS.get(track.program, ACCOMPANIMENT)
                rows = np.array([(n.time, n.time + n.duration, n.pitch, n.velocity) for n in track.notes], float)
                if len(rows):
                    rows[:, :2] /= decoded.ticks_per_quarter
                    parts[part] = np.concatenate([parts[part], rows])
        return Score({part: struck_once(notes) for part, notes in parts.items() if len(notes)}, tempo_bpm,
                     chords=self.chords_of(ids))

    def chords_of(self, ids, beats_per_bar: int = 4) -> np.ndarray:
        """The (start_beat, end_beat, chord) rows that a sequence's Chord tokens name."""
        starts, chords, bar, position = [], [], -1, 0
        names = CHORD_TOKENS
        for token_id in self.in_time_order(ids):
            token = self.tokens[int(token_id)]
            if token == "Bar_None":
                bar, position = bar + 1, 0
            elif token.startswith("Position_"):
                position = int(token[9:])
            elif token in names:
                starts.append(bar * beats_per_bar + position / 4)
                chords.append(names[token])
        if not starts:
            return np.zeros((0, 3))
        ends = [*starts[1:], (bar + 1) * beats_per_bar]
        rows = np.column_stack([starts, ends, chords]).astype(float)
        return rows[(rows[:, 2] != NO_CHORD) & (rows[:, 1] > rows[:, 0])]

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


def with_chords(tokens: list[str], chords: np.ndarray, beats_per_bar: int = 4) -> list[str]:
    """REMI tokens with Position_0 Chord_x at every bar line (the chord sounding there) and
    Position_p Chord_x wherever the chord changes inside a bar (sixteenths, rounded)."""
    steps = beats_per_bar * 4
    changes: dict[int, list[tuple[int, int]]] = {}
    bars = tokens.count("Bar_None")
    for bar in range(bars):
        at_bar = int(chord_at(chords, [bar * beats_per_bar + 1e-3])[0])
        changes[bar] = [(0, at_bar)]
    for start, _, chord in chords:
        step = int(round(start * 4))
        bar, position = divmod(step, steps)
        if position and bar in changes and changes[bar][-1][1] != int(chord):
            changes[bar].append((position, int(chord)))
    out, pending, bar = [], [], -1
    for token in tokens:
        if token == "Bar_None":
            out += [item for position, chord in pending for item in (f"Position_{position}", chord_token(chord))]
            bar += 1
            pending = list(changes.get(bar, []))
            out.append(token)
            continue
        if token.startswith("Position_"):
            position = int(token[9:])
            while pending and pending[0][0] < position:
                earlier, chord = pending.pop(0)
                out += [f"Position_{earlier}", chord_token(chord)]
            out.append(token)
            if pending and pending[0][0] == position:
                out.append(chord_token(pending.pop(0)[1]))
            continue
        out.append(token)
    out += [item for position, chord in pending for item in (f"Position_{position}", chord_token(chord))]
    return out


def section_tokens() -> list[str]:
    return [f"Section_{letter}" for letter in SECTION_LETTERS] + [f"Bars_{n}" for n in range(1, MAX_SECTION_BARS + 1)]


MELODY_PROGRAM_TOKEN = f"Program_{PART_PROGRAMS[MELODY]}"


def _bars(tokens: list[str]) -> tuple[list[str], list[list[str]]]:
    """(the tokens before the first bar line, each bar's tokens after its Bar_None)."""
    head, bars = [], []
    for token in tokens:
        if token == "Bar_None":
            bars.append([])
        elif bars:
            bars[-1].append(token)
        else:
            head.append(token)
    return head, bars


def _events_of(bar: list[str], melody_first: bool) -> dict[int, dict[str, list]]:
    """A bar's tokens as {position: {"chord": [token], "melody": [notes], "accompaniment": [notes]}},
    a note being its four tokens (an incomplete one at the end is dropped). melody_first: the
    bar is in melody-first order (its first Chord starts the accompaniment, at position 0)."""
    events: dict[int, dict[str, list]] = {}
    position, in_melody, index = 0, melody_first, 0
    while index < len(bar):
        token = bar[index]
        kind = token.partition("_")[0]
        if kind == "Position":
            position = int(token[9:])
        elif kind == "Chord":
            if in_melody:
                in_melody, position = False, 0
            events.setdefault(position, {}).setdefault("chord", []).append(token)
        elif kind == "Program" and index + 3 < len(bar):
            part = "melody" if token == MELODY_PROGRAM_TOKEN else "accompaniment"
            events.setdefault(position, {}).setdefault(part, []).append(bar[index:index + 4])
            index += 3
        index += 1
    return events


def to_melody_first(tokens: list[str], sections: dict[int, tuple[str, int]] | None = None) -> list[str]:
    """Steerable REMI tokens (every bar opening Position_0 Chord_x) in melody-first order: per bar,
    Bar, Section_<letter> Bars_<n> where sections (bar -> (letter, bars)) says one begins, the
    melody's notes by position, then the bar's chord and the accompaniment by position."""
    head, bars = _bars(tokens)
    out = list(head)
    for number, bar in enumerate(bars):
        out.append("Bar_None")
        if sections and number in sections:
            letter, length = sections[number]
            out += [f"Section_{letter}", f"Bars_{min(max(1, length), MAX_SECTION_BARS)}"]
        events = _events_of(bar, melody_first=False)
        for position in sorted(events):
            if events[position].get("melody"):
                out.append(f"Position_{position}")
                out += [token for note in events[position]["melody"] for token in note]
        opening = events.get(0, {}).get("chord") or ["Chord_N"]
        out += opening
        for position in sorted(events):
            chord = events[position].get("chord", []) if position else []
            notes = [token for note in events[position].get("accompaniment", []) for token in note]
            if position and (chord or notes):
                out.append(f"Position_{position}")
            out += chord + notes
    return out


def to_time_order(tokens: list[str]) -> list[str]:
    """Melody-first tokens back in REMI's order (sections left out): per bar and position, its
    chord, then the melody's notes, then the accompaniment's."""
    head, bars = _bars(tokens)
    out = list(head)
    for bar in bars:
        out.append("Bar_None")
        events = _events_of(bar, melody_first=True)
        for position in sorted(events):
            at = events[position]
            out.append(f"Position_{position}")
            out += at.get("chord", [])
            out += [token for part in ("melody", "accompaniment") for note in at.get(part, []) for token in note]
    return out
