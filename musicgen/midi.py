"""MIDI <-> piano roll <-> frame tokens.

A token is one frame (1/frames_per_second seconds): the pitches sounding in it, ascending and
joined by "," ("60,64,67"), or the rest token "e" when nothing sounds.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pretty_midi

REST_TOKEN = "e"
PIANO_PROGRAMS = range(0, 8)  # General MIDI's piano family
MAX_SECONDS = 2 * 60 * 60  # longer "songs" are almost always a broken time base
MAX_MIDI_BYTES = 5_000_000  # far above any song's MIDI; bounds the parser's time and memory


class MidiError(ValueError):
    """A MIDI file that cannot be used, with the reason in words (file name first)."""


def load_midi(source: str | Path | bytes, name: str | None = None) -> pretty_midi.PrettyMIDI:
    """Parse a MIDI file (a path or its bytes); raise MidiError saying why it is unusable."""
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), name or "upload"
    else:
        path = Path(source)
        name = name or path.name
        try:
            # Read no more than one byte past the limit: a huge file is refused without loading it.
            with path.open("rb") as file:
                data = file.read(MAX_MIDI_BYTES + 1)
        except OSError as error:
            raise MidiError(f"{name}: cannot be read ({error.strerror or error})") from None
    if not data:
        raise MidiError(f"{name}: the file is empty (0 bytes); export the MIDI again from your DAW or notation program")
    if len(data) > MAX_MIDI_BYTES:
        raise MidiError(f"{name}: {len(data) / 1e6:.0f} MB is larger than the {MAX_MIDI_BYTES / 1e6:.0f} MB a MIDI "
                        "file may have here (a whole song is usually under 100 kB); upload a shorter part")
    if data[:4] != b"MThd":
        header = data[:4].decode("latin-1").encode("unicode_escape").decode("ascii")
        raise MidiError(f"{name}: not a MIDI file (it starts with '{header}', a MIDI file with 'MThd'); "
                        "upload a .mid or .midi exported from your DAW")
    try:
        with warnings.catch_warnings():
            # pretty_midi warns about tempo events on non-zero tracks, common and harmless.
            warnings.simplefilter("ignore")
            midi = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as error:  # mido and pretty_midi raise many kinds for broken files
        detail = f" ({error})" if str(error).strip() else ""
        raise MidiError(f"{name}: the MIDI file is damaged and cannot be read{detail}: it may have been cut off "
                        "while copying; export it again from your DAW") from None
    end_seconds = midi.get_end_time()
    if not np.isfinite(end_seconds) or end_seconds > MAX_SECONDS:
        raise MidiError(f"{name}: lasts {end_seconds:.0f} s, more than the {MAX_SECONDS} s allowed")
    return midi


def bar_offset(midi: pretty_midi.PrettyMIDI, until_seconds: float | None = None) -> float | None:
    """The beats to put before the file's start so that its bar lines (by its time signatures up to
    until_seconds) fall on bars of 4 beats, as a piece's do: 0 for 4/4, 2/2, 2/4 or 8/4; 3 for a
    pickup bar of 1/4 before the 4/4; None where no one offset does (3/4, 6/8, 5/4, an odd bar inside)."""
    return _offset_for(_meters(midi, until_seconds))


def bars_across(midi: pretty_midi.PrettyMIDI, name: str, until_seconds: float | None = None) -> str | None:
    """Why no bar_offset puts the file's bars on bars of 4 beats, in words; None where one does."""
    meters = _meters(midi, until_seconds)
    for count, (start, bar, signature) in enumerate(meters, 1):
        if _offset_for(meters[:count]) is not None:
            continue
        where = f" from bar {bar_number(midi, midi.tick_to_time(int(round(start * midi.resolution))))}" if start else ""
        if not _whole(4 / bar) and not _whole(bar / 4):
            return f"{name} is in {signature}{where}, and this model writes bars of 4 beats (4/4)"
        return (f"{name} has a bar of another length before its {signature}{where}, so from there its bar lines "
                "do not fall every 4 beats, where this model's do")
    return None


def _meters(midi: pretty_midi.PrettyMIDI, until_seconds: float | None) -> list[tuple[float, float, str]]:
    """(first beat, beats a bar, "3/4") of each time signature that starts before until_seconds."""
    until = midi.get_end_time() if until_seconds is None else until_seconds
    return [(midi.time_to_tick(change.time) / midi.resolution, change.numerator * 4 / change.denominator,
             f"{change.numerator}/{change.denominator}")
            for change in sorted(midi.time_signature_changes, key=lambda change: change.time)
            if change.time < until - 1e-6]


def _offset_for(meters: list[tuple[float, float, str]]) -> float | None:
    if any(not _whole(4 / bar) and not _whole(bar / 4) for _, bar, _ in meters):
        return None
    for offset in [0.0, *sorted({(-start) % 4 for start, _, _ in meters})]:
        if all(_whole((start + offset) / min(bar, 4)) for start, bar, _ in meters):
            return offset
    return None


def _whole(x: float) -> bool:
    return abs(x - round(x)) < 1e-6


def downbeat_beats(midi: pretty_midi.PrettyMIDI) -> list[float]:
    """Each of the file's bar lines (by its time signatures), in beats from its start."""
    return [midi.time_to_tick(seconds) / midi.resolution for seconds in midi.get_downbeats()]


def bar_number(midi: pretty_midi.PrettyMIDI, seconds: float) -> int:
    """The file's own bar number (from 1) at `seconds`, counted by its time signatures."""
    return int(np.searchsorted(midi.get_downbeats(), seconds - 1e-6)) + 1


def select_instruments(midi: pretty_midi.PrettyMIDI, tracks: str) -> list[pretty_midi.Instrument]:
    """The tracks that make the piano roll; drum tracks never enter.

    first: the first pitched track (the original study's choice);
    piano: every piano-family track merged, or every pitched track when there is no piano;
    all:   every pitched track merged.
    """
    pitched = [instrument for instrument in midi.instruments if not instrument.is_drum]
    if tracks == "first":
        return pitched[:1]
    if tracks == "piano":
        pianos = [instrument for instrument in pitched if instrument.program in PIANO_PROGRAMS]
        return pianos or pitched
    if tracks == "all":
        return pitched
    raise ValueError(f"tracks must be first, piano or all, not {tracks!r}")


def piano_roll(midi: pretty_midi.PrettyMIDI, tracks: str, frames_per_second: int) -> np.ndarray:
    """A boolean array (frames, 128): which pitches sound in each frame.

    Note starts and ends are rounded to the nearest frame; notes shorter than half a frame vanish.
    """
    notes = [note for instrument in select_instruments(midi, tracks) for note in instrument.notes]
    if not notes:
        return np.zeros((0, 128), dtype=bool)
    times = np.array([(note.start, note.end) for note in notes], dtype=np.float64)
    pitches = np.array([note.pitch for note in notes])
    start_frames, end_frames = np.round(times * frames_per_second).astype(np.int64).T
    roll = np.zeros((int(end_frames.max()), 128), dtype=bool)
    for start, end, pitch in zip(start_frames, end_frames, pitches):
        roll[start:end, pitch] = True
    return roll


def roll_to_tokens(roll: np.ndarray) -> list[str]:
    """One token per frame of a (frames, 128) piano roll."""
    return [",".join(map(str, np.flatnonzero(frame))) or REST_TOKEN for frame in roll]


def token_pitches(token: str) -> tuple[int, ...]:
    """The MIDI pitches of a token, ascending; () for the rest token."""
    return () if token == REST_TOKEN else tuple(int(pitch) for pitch in token.split(","))


def tokens_to_roll(tokens: list[str]) -> np.ndarray:
    roll = np.zeros((len(tokens), 128), dtype=bool)
    for frame, token in enumerate(tokens):
        roll[frame, list(token_pitches(token))] = True
    return roll


def roll_notes(roll: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pitches, start frames, end frames) of the notes in a piano roll, pitch by pitch.

    Consecutive frames holding a pitch are one note.
    """
    edges = np.diff(np.pad(roll.astype(np.int8), ((1, 1), (0, 0))), axis=0).T  # (128, frames + 1)
    # np.nonzero walks pitch by pitch, frame by frame, so the onsets and offsets pair up.
    pitches, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return pitches, starts, ends


# Krumhansl & Kessler's key profiles: how well each pitch class fits a major / minor key on C.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def key_shift(tokens: list[str]) -> int:
    """Semitones (-6..5) that move the piece's estimated key to C major or A minor.

    The key is the Krumhansl-Schmuckler estimate: the profile best correlated with how long
    each pitch class sounds.
    """
    durations = np.zeros(12)
    for token in tokens:
        for pitch in token_pitches(token):
            durations[pitch % 12] += 1
    return key_shift_of(durations)


def key_shift_of(durations: np.ndarray) -> int:
    """key_shift for how long each of the 12 pitch classes sounds (0 when nothing sounds)."""
    return key_of(durations)[0]


def key_of(durations: np.ndarray) -> tuple[int, str]:
    """(semitones -6..5 to C major / A minor, "major" or "minor") of the best-fitting Krumhansl
    profile for how long each pitch class sounds; (0, "major") when nothing sounds."""
    if not np.any(durations) or np.ptp(durations) == 0:  # nothing, or every pitch class alike: no key
        return 0, "major"
    best_fit, best = -np.inf, (0, "major")
    for tonic in range(12):
        for profile, tonic_in_c, mode in ((MAJOR_PROFILE, 0, "major"), (MINOR_PROFILE, 9, "minor")):
            fit = np.corrcoef(durations, np.roll(profile, tonic))[0, 1]
            if fit > best_fit:
                best_fit, best = fit, (int((tonic_in_c - tonic + 6) % 12 - 6), mode)
    return best


def transpose(tokens: list[str], semitones: int) -> list[str]:
    """Every pitch moved by semitones; pitches pushed outside 0-127 are dropped."""
    if not semitones:
        return list(tokens)
    moved = []
    for token in tokens:
        pitches = [pitch + semitones for pitch in token_pitches(token) if 0 <= pitch + semitones <= 127]
        moved.append(",".join(map(str, pitches)) or REST_TOKEN)
    return moved


def midi_to_tokens(midi: pretty_midi.PrettyMIDI, tracks: str, frames_per_second: int) -> list[str]:
    return roll_to_tokens(piano_roll(midi, tracks, frames_per_second))


def tokens_to_midi(tokens: list[str], frames_per_second: float, program: int = 0,
                   velocity: int = 90, tempo_bpm: float | None = None) -> pretty_midi.PrettyMIDI:
    """A one-track PrettyMIDI: consecutive frames holding a pitch become one note.

    The tempo metadata defaults to one frame per eighth note, so a DAW's grid lines up with
    the frames.
    """
    tempo_bpm = tempo_bpm or 30.0 * frames_per_second
    midi = pretty_midi.PrettyMIDI(initial_tempo=float(tempo_bpm))
    instrument = pretty_midi.Instrument(program=int(program))
    seconds_per_frame = 1.0 / frames_per_second
    for pitch, start, end in zip(*roll_notes(tokens_to_roll(tokens))):
        instrument.notes.append(pretty_midi.Note(
            velocity=int(velocity), pitch=int(pitch),
            start=start * seconds_per_frame, end=end * seconds_per_frame))
    instrument.notes.sort(key=lambda note: (note.start, note.pitch))
    midi.instruments.append(instrument)
    return midi


def note_number(text: str | int) -> int:
    """A MIDI note number from 60, "60", "C4", "F#5" or "Bb3"; ValueError when it is neither."""
    text = str(text).strip()
    try:
        number = int(text) if text.lstrip("-").isdigit() else pretty_midi.note_name_to_number(text)
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"{text!r} is not a note: use a MIDI number (0-127) or a name like C4 or F#5") from None
    if not 0 <= number <= 127:
        raise ValueError(f"note {text} is outside MIDI's range 0-127")
    return number
