"""What a person asks of a piece beyond its length: a chord progression, a key, a tempo, a style,
where in a song it starts.

`Steering.parse` turns the words of the CLI, the app and the API into checked values (bad
words raise ValueError naming them and what is accepted); compose turns them into forced
tokens. Keys work by transposition: a model trained in C major / A minor writes in its own
key and mode, and the piece is moved to the one asked for; the progression the person typed is
moved the other way before it is forced, so it sounds as typed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chords import (chord_name, chord_pitch_classes, chord_root, key_name, parse_key, parse_progression,
                     progression_name, transpose_chord)
from .config import ANY_STYLE, check_start
from .midi import key_of

TEMPO_RANGE = (30.0, 300.0)
# POP909's section letters (docs/sampling.md), in words: upper case has a melody, lower case has none.
SECTION_NAMES = {"A": "verse", "B": "chorus", "C": "other sung section", "D": "other sung section",
                 "E": "other sung section", "X": "other sung section", "i": "intro", "b": "bridge",
                 "o": "outro", "x": "other, no melody"}
FORM_LETTERS = "".join(SECTION_NAMES)
MAX_FORM_BARS = 256
# Presets offered in the app: name -> form.
FORMS = {
    "verse-chorus": "i4 A8 B8 A8 B8 o4",
    "verse-chorus-bridge": "i4 A8 B8 A8 B8 b4 B8 o4",
    "AABA": "A8 A8 B8 A8",
    "a loop": "A4 A4 A4 A4",
}


def parse_form(text: str | None) -> tuple[tuple[str, int], ...]:
    """ "i4 A8 B8 A8 o4" or "i4A8B8A8o4" -> (("i", 4), ("A", 8), ...); ValueError naming what is wrong."""
    import re

    text = (text or "").strip()
    if not text:
        return ()
    compact = re.sub(r"\s+", "", text)
    sections = re.findall(r"([A-Za-z])(\d+)", compact)
    if "".join(f"{letter}{bars}" for letter, bars in sections) != compact:
        raise ValueError(f"form {text!r} is not letters each followed by its bars, like \"i4 A8 B8 A8 B8 o4\"")
    for letter, bars in sections:
        if letter not in FORM_LETTERS:
            raise ValueError(f"form {text!r}: {letter!r} is no section letter; use A-E or X (with a melody), "
                             "i (intro), b (bridge), o (outro), x (other, no melody)")
        if not 1 <= int(bars) <= 64:
            raise ValueError(f"form {text!r}: a section is 1-64 bars, not {bars}")
    total = sum(int(bars) for _, bars in sections)
    if total > MAX_FORM_BARS:
        raise ValueError(f"form {text!r} is {total} bars; at most {MAX_FORM_BARS}")
    return tuple((letter, int(bars)) for letter, bars in sections)


def form_name(form) -> str:
    return " ".join(f"{letter}{bars}" for letter, bars in form)


def sections_in_words(labels) -> str:
    """A piece's section labels with what their letters are: "A x A2 (A verse, x other, no melody)"."""
    letters = dict.fromkeys(label[0] for label in labels if label[:1] in SECTION_NAMES)
    return " ".join(labels) + (f" ({', '.join(f'{letter} {SECTION_NAMES[letter]}' for letter in letters)})"
                               if letters else "")


# Presets offered in the app: name -> progression in C major (moved to the chosen key).
PROGRESSIONS = {
    "I-V-vi-IV (pop)": "C G Am F",
    "4-5-3-6-2-5-1 (Mandopop)": "F G Em Am Dm G C C",
    "Canon (Pachelbel)": "C G Am Em F C F G",
    "vi-IV-I-V": "Am F C G",
    "ii-V-I (jazz)": "Dm7 G7 Cmaj7 Cmaj7",
}


def preset_chords(preset: str, key: str | None = None) -> str:
    """A preset's progression (PROGRESSIONS) in key (default C major / its relative), as chord names."""
    progression = parse_progression(PROGRESSIONS[preset])
    parsed = parse_key(key)
    shift = 0 if parsed is None else (parsed[0] - (0 if parsed[1] == "major" else 9)) % 12
    return " ".join(chord_name(transpose_chord(chord, shift)) for chord in progression)


@dataclass(frozen=True)
class Steering:
    chords: tuple[int, ...] = ()  # one chord a 4-beat bar, repeating, in the key they were typed in
    key: tuple[int, str] | None = None  # (tonic pitch class, "major" | "minor")
    tempo_bpm: float | None = None
    style: str = ANY_STYLE
    start: str | None = None  # "opening" | "middle"; None: the model's default (Config.start)
    form: tuple[tuple[str, int], ...] = ()  # sections (letter, bars) in order; () = none asked

    @classmethod
    def parse(cls, chords: str | None = None, key: str | None = None, tempo: float | str | None = None,
              style: str | None = None, start: str | None = None, form: str | None = None) -> Steering:
        """Checked choices from words; ValueError with what is wrong and what is accepted."""
        tempo_bpm = None
        tempo = tempo.strip() if isinstance(tempo, str) else tempo
        if tempo not in (None, "", 0):
            try:
                tempo_bpm = float(tempo)
            except (TypeError, ValueError):
                raise ValueError(f"tempo {tempo!r} is not a number of beats per minute") from None
            if not TEMPO_RANGE[0] <= tempo_bpm <= TEMPO_RANGE[1]:
                raise ValueError(f"tempo must be between {TEMPO_RANGE[0]:g} and {TEMPO_RANGE[1]:g} BPM, "
                                 f"not {tempo_bpm:g}")
        style = " ".join((style or "").split())
        style = ANY_STYLE if style.lower() in ("", ANY_STYLE) else style
        start = (start or "").strip().lower() or None
        if start is not None:
            check_start(start)
        return cls(tuple(parse_progression(chords)), parse_key(key), tempo_bpm, style, start, parse_form(form))

    @property
    def is_free(self) -> bool:
        return (not self.chords and self.key is None and self.tempo_bpm is None and self.style == ANY_STYLE
                and self.start is None and not self.form)

    def target_key(self) -> tuple[int, str] | None:
        """The key asked for, or the one the progression implies, or None (the model's own)."""
        if self.key is not None or not self.chords:
            return self.key
        weights = np.zeros(12)
        for chord in self.chords:
            weights[list(chord_pitch_classes(chord))] += 1.0
            weights[chord_root(chord)] += 1.0
        shift, mode = key_of(weights)
        return (((0 if mode == "major" else 9) - shift) % 12, mode)

    def shift(self) -> int:
        """Semitones (-6..5) from the model's C major / A minor to the piece's key."""
        key = self.target_key()
        if key is None:
            return 0
        tonic, mode = key
        return int((tonic - (0 if mode == "major" else 9) + 6) % 12 - 6)

    def model_chords(self) -> list[int]:
        """The progression as the model should see it: moved into C major / A minor."""
        return [transpose_chord(chord, -self.shift()) for chord in self.chords]

    def model_chords_for(self, shift: int) -> list[int]:
        """The progression moved by shift semitones: typed in a melody's key, heard in the model's."""
        return [transpose_chord(chord, shift) for chord in self.chords]

    def describe(self) -> str:
        """ "C G Am F, Eb major, 96 BPM, style JJ Lin" (only what was asked)."""
        words = []
        if self.chords:
            words.append(progression_name(list(self.chords)))
        if self.key is not None:
            words.append(key_name(*self.key))
        if self.tempo_bpm:
            words.append(f"{self.tempo_bpm:g} BPM")
        if self.style != ANY_STYLE:
            words.append(f"style {self.style}")
        if self.start:
            words.append("as songs begin" if self.start == "opening" else "from inside a song")
        if self.form:
            words.append(f"form {form_name(self.form)}")
        return ", ".join(words)

    def to_json(self) -> dict:
        return {"chords": list(self.chords), "key": list(self.key) if self.key else None,
                "tempo_bpm": self.tempo_bpm, "style": self.style, "start": self.start,
                "form": [list(section) for section in self.form]}

    @classmethod
    def from_json(cls, data: dict | None) -> Steering:
        data = data or {}
        key = data.get("key")
        return cls(tuple(data.get("chords") or ()), (int(key[0]), str(key[1])) if key else None,
                   data.get("tempo_bpm"), data.get("style") or ANY_STYLE, data.get("start"),
                   tuple((str(letter), int(bars)) for letter, bars in data.get("form") or ()))


@dataclass(frozen=True)
class Sections:
    """A form laid out bar by bar: each bar's section, where each section starts, and which earlier
    bar each bar of a returning section plays again."""

    form: tuple[tuple[str, int], ...]

    @property
    def bars(self) -> int:
        return sum(bars for _, bars in self.form)

    def starts(self) -> list[tuple[int, str]]:
        """(first bar, label) of each section; labels count returns: A, B, A2, B2 ..."""
        out, bar, seen = [], 0, {}
        for letter, bars in self.form:
            seen[letter] = seen.get(letter, 0) + 1
            out.append((bar, letter if seen[letter] == 1 else f"{letter}{seen[letter]}"))
            bar += bars
        return out

    def copy_distances(self) -> list[int]:
        """For each bar, how many bars back the bar it plays again lies (0: none): a section whose
        letter came before plays that first section's bars again, as far as they go."""
        distances, first_of, bar = [], {}, 0
        for letter, bars in self.form:
            if letter in first_of:
                first_start, first_bars = first_of[letter]
                distances += [bar + offset - (first_start + offset) if offset < first_bars else 0
                              for offset in range(bars)]
            else:
                first_of[letter] = (bar, bars)
                distances += [0] * bars
            bar += bars
        return distances

    def without_melody(self) -> list[bool]:
        """For each bar, whether its section has no melody (a lower-case letter)."""
        return [letter.islower() for letter, bars in self.form for _ in range(bars)]

    def bar_in_section(self) -> list[int]:
        """For each bar, its place in its section (a progression starts again at each section)."""
        return [offset for _, bars in self.form for offset in range(bars)]
