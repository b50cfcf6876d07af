import io

import mido
import numpy as np
import pytest

from conftest import melody, song_tracks, write_midi
from musicgen.midi import (REST_TOKEN, MidiError, load_midi, midi_to_tokens, note_number,
                           select_instruments, tokens_to_midi)


def test_a_frame_is_its_sounding_pitches_ascending_or_a_rest(tmp_path):
    path = write_midi(tmp_path / "chord.mid", [{"notes": [(67, 0.0, 0.4), (60, 0.0, 0.4), (64, 0.2, 0.4)]}])
    tokens = midi_to_tokens(load_midi(path), "all", frames_per_second=5)
    assert tokens == ["60,67", "60,64,67"]

    path = write_midi(tmp_path / "gap.mid", [{"notes": [(60, 0.0, 0.2), (62, 0.6, 0.8)]}])
    assert midi_to_tokens(load_midi(path), "all", 5) == ["60", REST_TOKEN, REST_TOKEN, "62"]


def test_tokens_to_midi_and_back_is_the_identity(tmp_path):
    tokens = ["60", "60", "60,64", "64", REST_TOKEN, "62,65,69", "62,65,69", REST_TOKEN, "72"]
    midi = tokens_to_midi(tokens, frames_per_second=5, program=0, velocity=80)
    # Consecutive frames holding a pitch are one note: 60 lasts 3 frames, 64 two.
    notes = sorted((n.pitch, round(n.start, 3), round(n.end, 3)) for n in midi.instruments[0].notes)
    assert (60, 0.0, 0.6) in notes and (64, 0.4, 0.8) in notes and len(notes) == 6
    path = tmp_path / "round.mid"
    midi.write(str(path))
    assert midi_to_tokens(load_midi(path), "all", 5) == tokens


def test_round_trip_of_a_quantized_song_file(tmp_path):
    path = write_midi(tmp_path / "song.mid", song_tracks(0))
    tokens = midi_to_tokens(load_midi(path), "all", 5)
    again = tmp_path / "again.mid"
    tokens_to_midi(tokens, 5).write(str(again))
    assert midi_to_tokens(load_midi(again), "all", 5) == tokens


def test_tokens_to_midi_writes_program_velocity_and_tempo():
    midi = tokens_to_midi(["60", "60"], frames_per_second=5, program=40, velocity=70)
    assert midi.instruments[0].program == 40
    assert midi.instruments[0].notes[0].velocity == 70
    # One frame per eighth note: 5 frames per second is 150 quarter notes per minute.
    assert midi.get_tempo_changes()[1][0] == pytest.approx(150.0)


def test_track_selection(tmp_path):
    lead = {"program": 80, "notes": [(72, 0.0, 0.4)]}
    right = {"program": 0, "notes": [(64, 0.0, 0.4)]}
    left = {"program": 1, "notes": [(48, 0.0, 0.4)]}
    strings = {"program": 48, "notes": [(55, 0.0, 0.4)]}
    drums = {"program": 0, "is_drum": True, "notes": [(36, 0.0, 0.4)]}
    midi = load_midi(write_midi(tmp_path / "band.mid", [drums, lead, right, left, strings]))
    first = lambda tracks: midi_to_tokens(midi, tracks, 5)[0]
    assert first("first") == "72"  # the first pitched track: the drum track never counts
    assert first("piano") == "48,64"  # both piano hands merged
    assert first("all") == "48,55,64,72"
    assert [i.program for i in select_instruments(midi, "piano")] == [0, 1]

    no_piano = load_midi(write_midi(tmp_path / "no_piano.mid", [lead, strings]))
    assert midi_to_tokens(no_piano, "piano", 5)[0] == "55,72"  # falls back to all pitched tracks


def test_drums_never_enter(tmp_path):
    drums_only = write_midi(tmp_path / "drums.mid", [{"is_drum": True, "notes": melody([36, 38, 42])}])
    for tracks in ("first", "piano", "all"):
        assert midi_to_tokens(load_midi(drums_only), tracks, 5) == []


def test_broken_files_raise_a_readable_error(tmp_path):
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    with pytest.raises(MidiError, match="empty.mid: the file is empty .*export the MIDI again"):
        load_midi(empty)

    wav = tmp_path / "sound.mid"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    with pytest.raises(MidiError, match="sound.mid: not a MIDI file \\(it starts with 'RIFF'.*upload a .mid"):
        load_midi(wav)

    with pytest.raises(MidiError, match="bad.mid: the MIDI file is damaged and cannot be read.*export it again"):
        load_midi(corrupt_midi_bytes(), name="bad.mid")
    with pytest.raises(MidiError) as error:  # no empty parentheses when the parser gives no reason
        load_midi(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x00\x20\x00\x90", name="cut.mid")
    assert "()" not in str(error.value)


def corrupt_midi_bytes() -> bytes:
    """A MIDI file whose note-on carries a data byte above 127."""
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=64, time=0),
                            mido.Message("note_off", note=60, velocity=0, time=480)])
    buffer = io.BytesIO()
    mido.MidiFile(tracks=[track]).save(file=buffer)
    data = bytearray(buffer.getvalue())
    note_on = data.index(bytes([0x90, 60, 64]))
    data[note_on + 1] = 0xBC  # pitch 188: not a data byte
    return bytes(data)


def test_note_names_and_numbers():
    assert note_number("C4") == 60
    assert note_number("F#5") == 78
    assert note_number("Bb3") == 58
    assert note_number(61) == 61 and note_number("61") == 61
    for bad in ("H2", "200", "", "C#"):
        with pytest.raises(ValueError):
            note_number(bad)


def test_short_notes_round_to_the_nearest_frame(tmp_path):
    path = write_midi(tmp_path / "short.mid", [{"notes": [(60, 0.0, 0.05), (62, 0.21, 0.39)]}])
    roll_tokens = midi_to_tokens(load_midi(path), "all", 5)
    assert roll_tokens == [REST_TOKEN, "62"]  # 50 ms is under half a frame: it vanishes
    assert np.all([t in (REST_TOKEN, "62") for t in roll_tokens])


def test_key_shift_moves_major_keys_to_c_and_minor_keys_to_a():
    from musicgen.midi import key_shift, transpose

    d_major = [str(p) for p in (62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62)] + ["62,66,69"] * 4
    assert key_shift(d_major) == -2
    assert key_shift(transpose(d_major, -2)) == 0
    a_minor = [str(p) for p in (57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57)] + ["57,60,64"] * 4
    assert key_shift(a_minor) == 0
    assert key_shift(transpose(a_minor, 5)) == -5
    assert key_shift(["e", "e"]) == 0


def test_transpose_drops_pitches_pushed_out_of_range():
    from musicgen.midi import transpose

    assert transpose(["60,64", "e", "127"], 1) == ["61,65", "e", "e"]
    assert transpose(["0,12"], -5) == ["7"]
