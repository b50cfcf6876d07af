"""A piece's files: the .mid, the audio (WAV, Ogg Vorbis) and the piano-roll picture."""
from __future__ import annotations

from pathlib import Path

from . import audio, roll
from .piece import Piece


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

    written(midi_path, lambda path: write_midi(piece, path))
    if ogg_path:  # the WAV and the picture are written while the Ogg's encoder finishes
        return written(ogg_path, lambda path: audio.render_with_ogg(piece.midi, path, meanwhile=other_files))
    rendered = audio.render(piece.midi) if wav_path else None
    other_files(rendered)
    return rendered


def write_midi(piece: Piece, path) -> None:
    """The .mid; a piece with a form gets a marker at each section's first bar, its label first
    (a DAW shows them on its timeline)."""
    piece.midi.write(str(path))
    if not piece.sections:
        return
    import mido

    song = mido.MidiFile(str(path))
    ticks_of = [piece.midi.time_to_tick(seconds) for seconds, _ in piece.sections]
    track = song.tracks[0]
    absolute, events = 0, []
    for message in track:
        absolute += message.time
        events.append((absolute, message))
    events += [(tick, mido.MetaMessage("marker", text=label)) for tick, (_, label) in zip(ticks_of, piece.sections)]
    events.sort(key=lambda event: (event[0], event[1].type == "end_of_track"))
    track.clear()
    last = 0
    for tick, message in events:
        track.append(message.copy(time=tick - last))
        last = tick
    song.save(str(path))


def write_picture(piece: Piece, path, title: str = "") -> None:
    """The piano-roll PNG: parts in their colours with a legend, bars numbered, chord names (musicgen.roll)."""
    roll.write_picture(roll.roll_of(piece), path, title)
