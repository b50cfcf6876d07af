"""A piece's files: the .mid, the audio (WAV, Ogg Vorbis) and the piano-roll picture."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import audio
from .midi import tokens_to_roll
from .piece import Piece
from .score import MELODY


class OutputError(RuntimeError):
    """A result that could not be written (disk full, no permission); nothing half-written is left."""


def write_piece(piece: Piece, midi_path: str | Path, wav_path: str | Path | None = None,
                png_path: str | Path | None = None, title: str = "",
                ogg_path: str | Path | None = None) -> audio.Audio | None:
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
            written(png_path, lambda path: write_picture(piece, path, title))

    written(midi_path, lambda path: piece.midi.write(str(path)))
    if ogg_path:  # the WAV and the picture are written while the Ogg's encoder finishes
        return written(ogg_path, lambda path: audio.render_with_ogg(piece.midi, path, meanwhile=other_files))
    rendered = audio.render(piece.midi) if wav_path else None
    other_files(rendered)
    return rendered


PICTURE_FPS = 20  # columns per second of an event piece's piano-roll picture


def write_picture(piece: Piece, path, title: str = "") -> None:
    """The piano-roll PNG: a frame piece's own frames, an event piece's notes at PICTURE_FPS."""
    if piece.tokens is not None:
        audio.write_piano_roll(tokens_to_roll(piece.tokens), piece.frames_per_second, path, title)
        return
    frames = max(1, int(np.ceil(piece.midi.get_end_time() * PICTURE_FPS)))
    roll = np.zeros((frames, 128), np.int8)
    for instrument in piece.midi.instruments:
        part = instrument.get_piano_roll(fs=PICTURE_FPS).T[:frames] > 0
        mark = 2 if instrument.name == MELODY else 1
        roll[:len(part)][part] = np.maximum(roll[:len(part)][part], mark)
    audio.write_piano_roll(roll, PICTURE_FPS, path, title)
