"""Shared fixtures: MIDI files the tests write themselves, and the reference corpus when present."""
from __future__ import annotations

import json
from pathlib import Path

import pretty_midi
import pytest

ROOT = Path(__file__).resolve().parents[1]

import musicgen  # noqa: F401  (quiets TensorFlow for every test)

REFERENCE_CORPUS = ROOT.parent / "shared" / "datasets" / "jjlin-pool"


def write_midi(path: Path, tracks: list[dict], tempo: float = 120.0) -> Path:
    """Write a MIDI file; each track is {"program", "is_drum", "notes": [(pitch, start_s, end_s)]}."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for track in tracks:
        instrument = pretty_midi.Instrument(program=track.get("program", 0), is_drum=track.get("is_drum", False),
                                            name=track.get("name", ""))
        for pitch, start, end in track["notes"]:
            instrument.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=start, end=end))
        midi.instruments.append(instrument)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.write(str(path))
    return path


def melody(pitches: list[int], seconds_per_note: float = 0.4, start: float = 0.0) -> list[tuple]:
    return [(pitch, start + i * seconds_per_note, start + (i + 1) * seconds_per_note)
            for i, pitch in enumerate(pitches)]


def song_tracks(transpose: int) -> list[dict]:
    """A little two-hand piano piece with a drum track, transposed by some semitones."""
    right = melody([60 + transpose + step for step in (0, 2, 4, 5, 7, 5, 4, 2) * 3])
    # The left hand waits a bar, so every song opens with single notes.
    left = [(48 + transpose + root, (i + 1) * 1.6, (i + 2) * 1.6) for i, root in enumerate((0, 5, 7, 0, 5))]
    drums = melody([36, 42] * 12, 0.4)
    return [{"program": 0, "notes": right}, {"program": 1, "notes": left},
            {"is_drum": True, "program": 0, "notes": drums}]


@pytest.fixture
def midi_folder(tmp_path) -> Path:
    """Five small songs (one in a sub-folder, one with a non-ASCII name)."""
    folder = tmp_path / "songs"
    for index, transpose in enumerate((0, 2, -3, 5)):
        write_midi(folder / f"song{index}.mid", song_tracks(transpose))
    write_midi(folder / "more" / "歌.midi", song_tracks(7))
    return folder


@pytest.fixture
def reference_corpus() -> Path:
    if not REFERENCE_CORPUS.is_dir():
        pytest.skip("../shared/datasets/jjlin-pool is not here")
    return REFERENCE_CORPUS


from musicgen.config import FRAMES_RECIPE

# The frame recipe, tiny (the event model's fixture is tiny_events_model below).
TINY_CONFIG = dict(FRAMES_RECIPE, seq_len=8, embedding_dim=8, rnn_units=8, rnn_layers=1, dense_units=8,
                   batch_size=16, epochs=2, validation_share=0.4, tracks="piano",
                   average_weights_over=0.75)  # the tests go through the averaging path too


@pytest.fixture(scope="session")
def tiny_songs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_songs")
    for index, transpose in enumerate((0, 2, -3, 5, 7)):
        write_midi(folder / f"song{index}.mid", song_tracks(transpose))
    return folder


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory, tiny_songs) -> Path:
    """A small model trained once per test session on songs written here, then evaluated, as a
    person does with `python -m train` and `python -m evaluate`: a real model folder."""
    from evaluate.frames import evaluate_folder, write
    from musicgen.config import Config
    from musicgen.hub import load_folder
    from train.data import load_midi_folder
    from train.fit import train

    out = tmp_path_factory.mktemp("tiny_model")
    config = Config(**TINY_CONFIG)
    corpus = load_midi_folder(tiny_songs, config.tracks, 5, progress=False)
    train(config, corpus, out, verbose=0)
    write(out, evaluate_folder(load_folder(out), corpus, pieces=4, frames=40))
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_model_folder):
    from musicgen.hub import load

    return load(str(tiny_model_folder))


POP_SHIFT_SECONDS = 0.055


def pop_song_tracks(transpose: int, seconds_per_beat: float = 0.5, shift: float = 0.0) -> list[dict]:
    """A POP909-like song: a MELODY track and a PIANO track, notes on the beat grid moved by shift s."""
    tune = (0, 2, 4, 5, 7, 5, 4, 2, 0, 4, 7, 12, 7, 4, 2, 0)
    right = [(72 + transpose + step, shift + i * seconds_per_beat, shift + (i + 1) * seconds_per_beat)
             for i, step in enumerate(tune * 2)]
    chords = [(48 + transpose + root + third, shift + bar * 4 * seconds_per_beat, shift + (bar + 1) * 4 * seconds_per_beat)
              for bar, root in enumerate((0, 5, 7, 0, 0, 5, 7, 0)) for third in (0, 4, 7)]
    return [{"name": "MELODY", "notes": right}, {"name": "PIANO", "notes": chords}]


@pytest.fixture(scope="session")
def pop_songs(tmp_path_factory) -> Path:
    """Six little two-part songs in POP909's layout (NNN/NNN.mid + beat_midi.txt): as there, the
    notes sit 0.055 s after the MIDI's tick grid, and the first beat is a pickup (the first
    downbeat is the second beat)."""
    folder = tmp_path_factory.mktemp("pop_songs")
    index_rows = ["song_id,name,artist,modify_times,beats_per_measure,quavers_per_beat"]
    for index, transpose in enumerate((0, 2, -3, 5, 7, -1)):
        song = folder / f"{index + 1:03d}"
        write_midi(song / f"{index + 1:03d}.mid", pop_song_tracks(transpose, shift=POP_SHIFT_SECONDS))
        beats = [f"{POP_SHIFT_SECONDS + beat * 0.5:.3f} {float(beat % 2 == 1)} {float(beat % 4 == 1)}"
                 for beat in range(40)]
        (song / "beat_midi.txt").write_text("\n".join(beats) + "\n")
        # The piano's chords, as POP909 annotates them (Harte names, seconds).
        names = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
        chords = [f"{POP_SHIFT_SECONDS + bar * 2.0:.3f}\t{POP_SHIFT_SECONDS + (bar + 1) * 2.0:.3f}\t"
                  f"{names[(root + transpose) % 12]}:maj" for bar, root in enumerate((0, 5, 7, 0, 0, 5, 7, 0))]
        (song / "chord_midi.txt").write_text("\n".join(chords) + "\n")
        index_rows.append(f"{index + 1:03d},song {index + 1},{POP_ARTISTS[index]},1,2,2")
    (folder / "index.csv").write_text("\n".join(index_rows) + "\n", encoding="utf-8")
    return folder


POP_ARTISTS = ("林俊杰", "林俊杰", "林俊杰", "林俊杰", "someone", "someone else")


TINY_EVENTS_CONFIG = dict(representation="events", chunk_tokens=64, embedding_dim=8, rnn_units=16, rnn_layers=1,
                          batch_size=4, epochs=2, validation_share=0.34, transpose_augment=2, style_min_songs=2)


@pytest.fixture(scope="session")
def tiny_events_model_folder(tmp_path_factory, pop_songs) -> Path:
    """A small event model trained once per test session on pop_songs: a real model folder."""
    from musicgen.config import Config
    from train.data import load_corpus
    from train.fit import train

    out = tmp_path_factory.mktemp("tiny_events_model")
    config = Config(**TINY_EVENTS_CONFIG)
    train(config, load_corpus(pop_songs, config, progress=False), out, verbose=0)
    return out


@pytest.fixture(scope="session")
def tiny_events_model(tiny_events_model_folder):
    from musicgen.hub import load

    return load(str(tiny_events_model_folder))


@pytest.fixture(scope="session")
def tiny_melody_first_model(tmp_path_factory, pop_songs):
    """The tiny event model trained melody first, with section tokens (docs/tokens.md)."""
    from musicgen.config import Config
    from musicgen.hub import load
    from train.data import load_corpus
    from train.fit import train

    out = tmp_path_factory.mktemp("tiny_melody_first_model")
    config = Config(**TINY_EVENTS_CONFIG, melody_first=True, section_tokens=True)
    train(config, load_corpus(pop_songs, config, progress=False), out, verbose=0)
    return load(str(out))


def assert_refuses_damaged(folder: Path, file_name: str, load, damaged_contents: list, match: str) -> None:
    """load(folder) raises ValueError matching `match` for each damaged content of folder/file_name,
    written as JSON, and for a file that is not JSON at all."""
    for damaged in damaged_contents:
        (folder / file_name).write_text(json.dumps(damaged))
        with pytest.raises(ValueError, match=match):
            load(folder)
    (folder / file_name).write_text("{not json")
    with pytest.raises(ValueError, match=match):
        load(folder)
