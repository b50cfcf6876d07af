"""From a loaded model and a user's choices to pieces: primer -> ids -> MIDI (-> audio, picture).

The one path for the CLI, the app, publishing and evaluation. Event models (the default) are
sampled statefully a token at a time and end on a bar line near the asked length; frame
models (the original study's recipe) a frame at a time through windows.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pretty_midi

from . import audio
from .hub import MusicModel
from .chords import key_name
from .memory import PieceMemory
from .midi import note_number, tokens_to_midi, tokens_to_roll, transpose
from .sampling import Primer, generate, last_frames, midi_primer, note_primer, random_primer
from .score import ACCOMPANIMENT, BEATS_PER_BAR, MELODY, Score, load_score
from .stateful import DRAW, Forcing, sample
from .steering import ANY_STYLE, Steering

MAX_FRAMES = 5 * 60 * 10  # ten minutes at 5 frames per second
MAX_VARIATIONS = 16
MAX_SECONDS = 600  # ten minutes
# A piece with no tempo asked takes its tempo once a third of it is written. Pieces start sparser
# than they go on (onsets per beat over their first quarter 2.04, third 2.11, half 2.21, whole 2.35;
# 64 pieces of the default model), so the later look fits better; a piece sampled meanwhile for a
# fast tempo (123 BPM) can still end near its length down to 44 BPM.
REFIT_SHARE = 3
EVENT_PRIMER_BARS = 16  # what a continuation reads of the file: its last 16 bars


@dataclass
class Piece:
    ids: np.ndarray  # frames: generated frames (without the primer); events: the piece's tokens
    tokens: list[str] | None
    midi: pretty_midi.PrettyMIDI
    tempo_bpm: float | None = None  # events: the piece's tempo
    score: Score | None = None  # events: the piece's notes in beats
    key: str | None = None  # events: its key, as in its MIDI's key signature ("Eb major")

    @property
    def note_count(self) -> int:
        return sum(len(instrument.notes) for instrument in self.midi.instruments)


def make_primer(music_model: MusicModel, spec: str, seed: int, variations: int = 1,
                steering: Steering | None = None) -> Primer:
    """A primer from "random", "note:C4" (or "note:60") or "midi:PATH"; ValueError when spec is neither.

    Event models: steering's style and key shape the primer (see event_primer)."""
    kind, _, value = spec.partition(":")
    steering = steering or Steering()
    check_steering(music_model, steering)
    if music_model.config.representation == "events":
        return event_primer(music_model, kind, value, spec, steering)
    seq_len = music_model.config.seq_len
    if kind == "random" and not value:
        return random_primer(music_model.vocab, seq_len, seed, variations)
    if kind == "note" and value:
        return note_primer(music_model.vocab, value, seq_len)
    if kind == "midi" and value:
        return midi_primer(Path(value), music_model.vocab, music_model.config)
    raise ValueError(f"primer {spec!r} is not random, note:NAME (e.g. note:C4) or midi:PATH")


def check_steering(music_model: MusicModel, steering: Steering) -> None:
    """ValueError when the model cannot do what steering asks (the words say what can)."""
    if steering.is_free:
        return
    if music_model.config.representation != "events":
        raise ValueError("chords, key, tempo, style and start need an event model; this one uses the original study's "
                         "frames (pick the default model, or train one with python -m train)")
    events = music_model.vocab
    if (steering.chords or steering.style != ANY_STYLE) and not events.steerable:
        raise ValueError("this model was trained without chord and style tokens: leave chords and style empty, "
                         "or retrain it with this version (python -m train)")
    if steering.start and not events.starts:
        raise ValueError("this model was trained without start tokens, so it cannot be asked where in a song to "
                         "start: leave the start to the model, or retrain it with this version (python -m train)")
    if events.steerable:
        events.style_id(steering.style)


def event_primer(music_model: MusicModel, kind: str, value: str, spec: str, steering: Steering) -> Primer:
    """Events: random = the model's own opening (BOS and, when steerable, the style and mode, and
    where in a song the piece starts: steering's, else the config's `start`), a note = one melody
    note on beat 1, a MIDI = its last EVENT_PRIMER_BARS bars (both parts, on the beat grid); in
    C major / A minor when the model was trained so, the piece moved to the key asked for (else
    back to the file's key) afterwards."""
    events = music_model.vocab
    key = steering.target_key()
    # After the primer's BOS; with no key asked, the model draws the mode.
    header = events.header(steering.style, key[1] if key else None, steering.start or music_model.config.start,
                           unnamed_mode=DRAW)[1:]
    if kind == "random" and not value:
        return Primer(np.array([events.bos_id], np.int32), "random", opening=header, transpose=steering.shift())
    if kind == "note" and value:
        pitch = note_number(value) - steering.shift()
        note = list(events.note_primer(pitch)[1:])
        if events.steerable:  # the bar's chord comes before its notes
            note = [*note[:2], DRAW, *note[2:]]
        return Primer(np.array([events.bos_id], np.int32), f"note {value}", opening=[*header, *note],
                      transpose=steering.shift())
    if kind == "midi" and value:
        return event_midi_primer(music_model, load_score(Path(value)), Path(value).name, steering)
    raise ValueError(f"primer {spec!r} is not random, note:NAME (e.g. note:C4) or midi:PATH")


def event_midi_primer(music_model: MusicModel, score, label: str, steering: Steering | None = None) -> Primer:
    """The last EVENT_PRIMER_BARS bars of score as a primer that the piece continues from a new bar,
    in the file's key, or moved to the key the steering asks for."""
    events = music_model.vocab
    steering = steering or Steering()
    bar_beats = score.beats_per_bar
    last_bar = int(np.ceil(score.end_beats / bar_beats - 1e-6))
    first_bar = max(0, last_bar - EVENT_PRIMER_BARS)
    tail = score.cropped(first_bar * bar_beats, last_bar * bar_beats + 1e-6)
    shift = tail.key_shift() if music_model.config.key_normalize else 0
    # A file longer than the bars read is continued from its middle.
    ids = events.encode(tail.transposed(shift), steering.style, "middle" if first_bar else "opening")
    back = -shift
    if steering.key is not None:
        back = steering.shift()
        if events.steerable:  # the mode asked for replaces the file's in the header
            ids[2] = events.vocab[f"Mode_{steering.key[1]}"]
    bars_read = int(np.sum(ids == events.grammar.bar_id))
    # Bar tokens up to and including the one that opens the bar after the file's music: the
    # piece is that bar and what follows it.
    read_bars = last_bar - first_bar
    opening = np.full(max(0, read_bars + 1 - bars_read), events.grammar.bar_id, np.int32)
    return Primer(np.concatenate([ids, opening]), f"continuation of {label}", transpose=back, bars=1,
                  skip_bars=read_bars, tempo_bpm=score.tempo_bpm)


def check_request(frames: int, variations: int, temperature: float, top_k: int, top_p: float) -> None:
    """Raise ValueError with a readable reason when a request is out of bounds."""
    if not 1 <= frames <= MAX_FRAMES:
        raise ValueError(f"frames must be between 1 and {MAX_FRAMES}, not {frames}")
    if not 1 <= variations <= MAX_VARIATIONS:
        raise ValueError(f"variations must be between 1 and {MAX_VARIATIONS}, not {variations}")
    if not 0 <= temperature <= 5:
        raise ValueError(f"temperature must be between 0 and 5, not {temperature}")
    if top_k < 0:
        raise ValueError(f"top-k must be 0 (off) or more, not {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top-p must be above 0 and at most 1, not {top_p}")


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


def compose(music_model: MusicModel, primer: Primer, seconds: float, temperature: float, top_k: int,
            top_p: float, seed: int, variations: int = 1, program: int | None = None,
            speed: float = 1.0, steering: Steering | None = None) -> list[Piece]:
    """`variations` pieces of about `seconds` after primer; speed > 1 plays them faster.

    Events: each piece is played at the tempo of training songs about as busy (a continuation keeps the
    file's) and ends on the bar line nearest to `seconds`.
    """
    draft = sample_draft(music_model, primer, seconds, temperature, top_k, top_p, seed, variations,
                         program, speed, steering=steering)
    return pieces_of(music_model, draft)


def sample_draft(music_model: MusicModel, primer: Primer, seconds: float, temperature: float, top_k: int,
                 top_p: float, seed: int, variations: int = 1, program: int | None = None, speed: float = 1.0,
                 frame_sampler=None, steering: Steering | None = None) -> Draft:
    """The Draft of compose(); frame_sampler (default sampling.generate) lets the app batch visitors.
    steering (event models): its tempo sets the pieces', its chords are forced bar by bar (the
    primer, made with the same steering, carries its style and key)."""
    check_length(seconds)
    check_request(1, variations, temperature, top_k, top_p)
    steering = steering or Steering()
    check_steering(music_model, steering)
    config = music_model.config
    memory = PieceMemory.from_config(config, primer.history)
    draft = Draft(music_model.source, int(seed), [], transpose=primer.transpose, speed=float(speed), program=program,
                  steering=steering.to_json())
    if config.representation == "events":

        events = music_model.vocab
        # Without a tempo asked or kept, the tempo follows the notes written: each row is sampled
        # for a fast tempo, and once its first third is written it is played at the tempo that
        # suits those bars (at most that fast one: the fastest 5% of the songs' tempi would
        # double the bars sampled) and ends at the bar line nearest `seconds` at that tempo.
        fit_tempo = not steering.tempo_bpm and not primer.tempo_bpm and events.onsets_per_beat is not None
        fastest = float(np.round(np.percentile(events.tempos, 95)))
        # With a song-likeness, each piece is kept from `candidates` rows sampled for it.
        candidates = events.likeness.candidates_for(variations) if events.likeness else 1
        draft.tempi = ([steering.tempo_bpm] * variations * candidates if steering.tempo_bpm
                       else [fastest] * variations * candidates if fit_tempo
                       else [tempo for tempo in piece_tempi(music_model, primer, seed, variations)
                             for _ in range(candidates)])
        bars = [bars_for(seconds, tempo * speed) for tempo in draft.tempi]
        refit = None
        if fit_tempo:
            def bars_at_fitting_tempo(row, ids):  # each row draws from its own stream
                beats = BEATS_PER_BAR * int(np.sum(np.asarray(ids) == events.grammar.bar_id))  # not a held tail
                # A piece begun inside a song is matched with the songs as a whole, not their openings.
                tempo = fitting_tempo(events, events.decode(ids, 120.0), np.random.default_rng([seed, 3, row]), beats,
                                      steering.style, opening=not events.starts_inside(ids))
                draft.tempi[row] = min(fastest, tempo)
                return bars_for(seconds, draft.tempi[row] * speed)

            refit = (max(1, bars[0] // REFIT_SHARE), bars_at_fitting_tempo)
        rows = sample(music_model.steps, events.grammar, primer.ids, bars, temperature, top_k, top_p,
                      seed, bars_in_primer=primer.bars, memory=memory,
                      forcing=forcing_for(music_model, steering, primer.opening), refit=refit,
                      melody=melody_bias(events), repeats=events.repeats)
        draft.rows = [np.concatenate([primer.ids, row]).tolist() for row in rows]
        draft.skip_bars = primer.skip_bars
        return most_song_like(music_model, draft, candidates) if candidates > 1 else draft
    frames = max(1, round(float(seconds) * config.frames_per_second * speed))
    check_request(frames, variations, temperature, top_k, top_p)
    sampler = frame_sampler or (lambda *args: generate(music_model.network, *args))
    draft.rows = sampler(primer.ids, frames, temperature, top_k, top_p, seed, variations, memory).tolist()
    return draft


def most_song_like(music_model: MusicModel, draft: Draft, candidates: int) -> Draft:
    """The draft with one row of each `candidates` kept (rows v * candidates ... are piece v's),
    drawn by the model's song-likeness (musicgen.likeness), seeded by the draft's seed and v.
    Each candidate is heard as piece v will be (its articulation drawn with v's seed)."""
    rows, tempi = [], []
    for variation in range(len(draft.rows) // candidates):
        first = variation * candidates
        scores = [event_piece(music_model, np.asarray(row, np.int32), tempo * draft.speed, draft.skip_bars,
                              bars_of_piece(music_model, row, draft.skip_bars), seed=(draft.seed, variation)).score
                  for row, tempo in zip(draft.rows[first:first + candidates], draft.tempi[first:first + candidates])]
        kept = first + music_model.vocab.likeness.choose(scores, np.random.default_rng([draft.seed, 6, variation]))
        rows.append(draft.rows[kept])
        tempi.append(draft.tempi[kept])
    return dataclasses.replace(draft, rows=rows, tempi=tempi)


def bars_of_piece(music_model: MusicModel, row, skip_bars: int) -> int:
    """The bars of an event piece's row after the primer's skipped ones."""
    return int(np.sum(np.asarray(row) == music_model.vocab.grammar.bar_id)) - skip_bars


def extend_draft(music_model: MusicModel, draft: Draft, index: int, seconds: float, temperature: float,
                 top_k: int, top_p: float, seed: int, frame_sampler=None) -> Draft:
    """A new Draft in which piece `index` goes on for about `seconds` more (a whole number of bars)."""
    check_length(seconds)
    if not 0 <= index < len(draft.rows):
        raise ValueError(f"there is no piece {index + 1} to continue")
    ids = np.asarray(draft.rows[index], np.int32)
    config = music_model.config
    if config.representation == "events":

        grammar = music_model.vocab.grammar
        bars_so_far = int(np.sum(ids == grammar.bar_id)) - draft.skip_bars
        target = bars_so_far + bars_for(seconds, draft.tempi[index] * draft.speed)
        more = sample(music_model.steps, grammar, np.append(ids, grammar.bar_id), [target], temperature, top_k,
                      top_p, seed, bars_in_primer=bars_so_far + 1,
                      forcing=forcing_for(music_model, Steering.from_json(draft.steering)),
                      melody=melody_bias(music_model.vocab), repeats=music_model.vocab.repeats)[0]
        longer = np.concatenate([ids, [grammar.bar_id], more])
    else:
        frames = round(float(seconds) * config.frames_per_second * draft.speed)
        check_request(len(ids) + frames, 1, temperature, top_k, top_p)
        sampler = frame_sampler or (lambda *args: generate(music_model.network, *args))
        more = sampler(last_frames(ids, config.seq_len), frames, temperature, top_k, top_p, seed, 1,
                       PieceMemory.from_config(config, ids))[0]
        longer = np.concatenate([ids, more])
    rows = [*draft.rows[:index], longer.tolist(), *draft.rows[index + 1:]]
    return dataclasses.replace(draft, rows=rows)


def melody_bias(events):
    """What the sampler needs of the model's melody-interval bias (musicgen.melody), or None."""
    if events.melody_intervals is None:
        return None
    return events.melody_intervals, events.melody_program_id, events.pitch_of


def forcing_for(music_model: MusicModel, steering: Steering, opening=()) -> Forcing:
    """The tokens steering fixes: opening (the primer's), then the progression's chord at every bar."""
    events = music_model.vocab
    chords = [events.chord_id(chord) for chord in steering.model_chords()] if events.steerable else []
    return Forcing(list(opening), chords, events.grammar.position_ids.get(0, -1))


def pieces_of(music_model: MusicModel, draft: Draft) -> list[Piece]:
    """The pieces a Draft holds, in its primer's key, at its speed, with its instrument."""
    pieces = []
    for index, row in enumerate(draft.rows):
        ids = np.asarray(row, np.int32)
        if music_model.config.representation == "events":
            piece = event_piece(music_model, ids, draft.tempi[index] * draft.speed, draft.skip_bars,
                                bars_of_piece(music_model, ids, draft.skip_bars), draft.transpose,
                                seed=(draft.seed, index))
            for instrument in piece.midi.instruments:
                if draft.program is not None and instrument.name == ACCOMPANIMENT:
                    instrument.program = int(draft.program)
        else:
            piece = piece_from_ids(music_model, ids, draft.program, draft.speed, draft.transpose)
        pieces.append(piece)
    return pieces


def check_length(seconds: float) -> None:
    if not 0 < float(seconds) <= MAX_SECONDS:
        raise ValueError(f"length must be above 0 and at most {MAX_SECONDS} seconds, not {seconds:g}")


def bars_for(seconds: float, tempo_bpm: float, beats_per_bar: int = 4) -> int:
    """The whole number of bars nearest to seconds at tempo_bpm (at least one)."""
    return max(1, round(float(seconds) / (beats_per_bar * 60.0 / tempo_bpm)))


def fitting_tempo(events, score: Score, rng: np.random.Generator, beats: float | None = None,
                  style: str = ANY_STYLE, opening: bool = True) -> float:
    """A tempo for a piece, drawn from the training songs whose onsets per beat are nearest the
    piece's (the square root of their number, on a log scale); over the same opening bars where
    the table has them (the piece's `beats` so far, else its whole length), or over the whole
    songs for a piece that is no opening (begun inside a song); under a style, from
    that style's songs where the table names them (POP909's JJ Lin plays at a median 67 BPM,
    Teresa Teng at 92: the style is heard in the tempo even where the notes hardly change).

    In POP909 a faster song has fewer onsets a beat (over 92 held-out songs' 60 s segments the
    tempo and the inter-onset interval in beats correlate at 0.69); drawn independently of the
    notes, pieces came out too busy or too sparse for their tempo about twice as often. Songs
    open sparser than they go on: matched against whole songs, a piece's first bars looked like
    a fast song's (pieces played at 91 BPM on average, the songs' segments at 79; README).
    """
    tempos = np.asarray(events.tempos)
    if events.opening_onsets is not None and beats and opening:
        bars = max(1, round(beats / BEATS_PER_BAR))
        onsets = np.array([opening[min(bars, len(opening)) - 1] / (BEATS_PER_BAR * min(bars, len(opening)))
                           for opening in events.opening_onsets])
    else:
        onsets = np.asarray(events.onsets_per_beat)
    songs = np.arange(len(tempos))
    if style != ANY_STYLE:
        of_style = np.flatnonzero(np.asarray(events.tempo_styles) == events.style_name(style))
        songs = of_style if len(of_style) else songs  # a table from before styles: every song
    distance = np.abs(np.log(np.maximum(onsets[songs], 1e-3)) - np.log(max(score.onsets_per_beat(beats), 1e-3)))
    nearest = songs[np.argsort(distance, kind="stable")[:max(1, round(np.sqrt(len(songs))))]]
    return float(np.round(tempos[nearest[rng.integers(len(nearest))]]))


def piece_tempi(music_model: MusicModel, primer: Primer, seed: int, variations: int) -> list[float]:
    """Each variation's tempo: the continued file's, or one drawn from the training songs' tempi."""
    if primer.tempo_bpm:
        return [round(float(primer.tempo_bpm), 1)] * variations
    tempos = music_model.vocab.tempos
    rng = np.random.default_rng([seed, 3])
    return [float(np.round(tempos[rng.integers(len(tempos))])) for _ in range(variations)]


def event_piece(music_model: MusicModel, ids: np.ndarray, tempo_bpm: float, skip_bars: int, bars: int,
                semitones: int = 0, seed: tuple[int, ...] = (0,)) -> Piece:
    """The piece that event ids make: `bars` bars after skip_bars, notes cut at its last bar line,
    with the key signature of the mode its header names (else of its notes) moved by semitones;
    its notes played as long as the training songs' notes were (the model's articulation, drawn
    with seed), where the model has one."""
    score = music_model.vocab.decode(ids, tempo_bpm).transposed(semitones)
    if music_model.vocab.articulation is not None:
        score = music_model.vocab.articulation.performed(score, seed)
    bar_beats = score.beats_per_bar
    score = score.cropped(skip_bars * bar_beats, (skip_bars + bars) * bar_beats)
    for notes in score.parts.values():
        notes[:, 1] = np.minimum(notes[:, 1], bars * bar_beats)
    mode = music_model.vocab.mode_of(ids)
    if mode is None:
        shift, mode = score.key()
        tonic = ((0 if mode == "major" else 9) - shift) % 12
    else:
        tonic = ((0 if mode == "major" else 9) + semitones) % 12
    key = key_name(tonic, mode)
    return Piece(np.asarray(ids), None, score.to_midi(key), tempo_bpm, score, key)


def piece_from_ids(music_model: MusicModel, ids: np.ndarray, program: int | None = None,
                   speed: float = 1.0, semitones: int = 0) -> Piece:
    """The piece that generated frames make, moved by semitones (see Primer.transpose)."""
    config = music_model.config
    tokens = transpose(music_model.vocab.decode(ids), semitones)
    midi = tokens_to_midi(tokens, config.frames_per_second * speed,
                          config.program if program is None else program, config.velocity)
    return Piece(np.asarray(ids), tokens, midi)


class OutputError(RuntimeError):
    """A result that could not be written (disk full, no permission); nothing half-written is left."""


def write_piece(piece: Piece, frames_per_second: float, midi_path: str | Path,
                wav_path: str | Path | None = None, png_path: str | Path | None = None,
                title: str = "", ogg_path: str | Path | None = None) -> audio.Audio | None:
    """Write the .mid, and the WAV, Ogg Vorbis and piano-roll PNG when paths are given; the audio if rendered.
    The Ogg is encoded while FluidSynth renders (audio.render_with_ogg)."""

    def written(path, write):
        """write(path)'s result; a file that could not be written is removed and reported."""
        try:
            return write(path)
        except OSError as error:
            if Path(path).is_file():  # what was begun; never a device such as /dev/full
                Path(path).unlink(missing_ok=True)
            raise OutputError(f"cannot write {Path(path).name}: {error.strerror or error}") from None

    def other_files(rendered):  # the WAV and the picture
        if wav_path:
            written(wav_path, lambda path: audio.write_wav(rendered, path))
        if png_path:
            written(png_path, lambda path: write_picture(piece, frames_per_second, path, title))

    written(midi_path, lambda path: piece.midi.write(str(path)))
    if ogg_path:  # the WAV and the picture are written while the Ogg's encoder finishes
        return written(ogg_path, lambda path: audio.render_with_ogg(piece.midi, path, meanwhile=other_files))
    rendered = audio.render(piece.midi) if wav_path else None
    other_files(rendered)
    return rendered


PICTURE_FPS = 20  # columns per second of an event piece's piano-roll picture


def write_picture(piece: Piece, frames_per_second: float, path, title: str = "") -> None:
    """The piano-roll PNG: a frame piece's own frames, an event piece's notes at PICTURE_FPS."""
    if piece.tokens is not None:
        audio.write_piano_roll(tokens_to_roll(piece.tokens), frames_per_second, path, title)
        return
    frames = max(1, int(np.ceil(piece.midi.get_end_time() * PICTURE_FPS)))
    roll = np.zeros((frames, 128), np.int8)
    for instrument in piece.midi.instruments:
        part = instrument.get_piano_roll(fs=PICTURE_FPS).T[:frames] > 0
        mark = 2 if instrument.name == MELODY else 1
        roll[:len(part)][part] = np.maximum(roll[:len(part)][part], mark)
    audio.write_piano_roll(roll, PICTURE_FPS, path, title)
