"""From a loaded model and a user's choices to pieces: primer -> frames -> MIDI (-> audio, picture)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi

from . import audio
from .hub import MusicModel
from .memory import PieceMemory
from .midi import tokens_to_midi, tokens_to_roll, transpose
from .sampling import Primer, generate, midi_primer, note_primer, random_primer

MAX_FRAMES = 5 * 60 * 10  # ten minutes at 5 frames per second
MAX_VARIATIONS = 16


@dataclass
class Piece:
    ids: np.ndarray  # generated frames (without the primer)
    tokens: list[str]
    midi: pretty_midi.PrettyMIDI

    @property
    def note_count(self) -> int:
        return sum(len(instrument.notes) for instrument in self.midi.instruments)


def make_primer(music_model: MusicModel, spec: str, seed: int, variations: int = 1) -> Primer:
    """A primer from "random", "note:C4" (or "note:60") or "midi:PATH"; ValueError when spec is neither."""
    kind, _, value = spec.partition(":")
    seq_len = music_model.config.seq_len
    if kind == "random" and not value:
        return random_primer(music_model.vocab, seq_len, seed, variations)
    if kind == "note" and value:
        return note_primer(music_model.vocab, value, seq_len)
    if kind == "midi" and value:
        return midi_primer(Path(value), music_model.vocab, music_model.config)
    raise ValueError(f"primer {spec!r} is not random, note:NAME (e.g. note:C4) or midi:PATH")


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


def compose(music_model: MusicModel, primer: Primer, frames: int, temperature: float, top_k: int,
            top_p: float, seed: int, variations: int = 1, program: int | None = None,
            speed: float = 1.0) -> list[Piece]:
    """`variations` pieces of `frames` frames after primer; speed > 1 plays them faster."""
    check_request(frames, variations, temperature, top_k, top_p)
    memory = PieceMemory.from_config(music_model.config, primer.history)
    ids = generate(music_model.network, primer.ids, frames, temperature, top_k, top_p, seed, variations, memory)
    return [piece_from_ids(music_model, row, program, speed, primer.transpose) for row in ids]


def piece_from_ids(music_model: MusicModel, ids: np.ndarray, program: int | None = None,
                   speed: float = 1.0, semitones: int = 0) -> Piece:
    """The piece that generated ids make, moved by semitones (see Primer.transpose)."""
    config = music_model.config
    tokens = transpose(music_model.vocab.decode(ids), semitones)
    midi = tokens_to_midi(tokens, config.frames_per_second * speed,
                          config.program if program is None else program, config.velocity)
    return Piece(np.asarray(ids), tokens, midi)


class OutputError(RuntimeError):
    """A result that could not be written (disk full, no permission); nothing half-written is left."""


def write_piece(piece: Piece, frames_per_second: float, midi_path: str | Path,
                wav_path: str | Path | None = None, png_path: str | Path | None = None,
                title: str = "") -> audio.Audio | None:
    """Write the .mid, and the WAV and piano-roll PNG when paths are given; the audio if rendered."""
    rendered = audio.render(piece.midi) if wav_path else None
    writers = [(midi_path, lambda path: piece.midi.write(str(path))),
               (wav_path, lambda path: audio.write_wav(rendered, path)),
               (png_path, lambda path: audio.write_piano_roll(tokens_to_roll(piece.tokens), frames_per_second,
                                                              path, title))]
    for path, write in writers:
        if not path:
            continue
        try:
            write(path)
        except OSError as error:
            if Path(path).is_file():
                Path(path).unlink(missing_ok=True)
            raise OutputError(f"cannot write {Path(path).name}: {error.strerror or error}") from None
    return rendered
