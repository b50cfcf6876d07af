"""Shared fixtures: MIDI files the tests write themselves, and the reference corpus when present."""
from __future__ import annotations

import sys
from pathlib import Path

import pretty_midi
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import musicgen  # noqa: E402,F401  (quiets TensorFlow for every test)

REFERENCE_CORPUS = ROOT.parent / "shared" / "datasets" / "jjlin-pool"


def write_midi(path: Path, tracks: list[dict], tempo: float = 120.0) -> Path:
    """Write a MIDI file; each track is {"program", "is_drum", "notes": [(pitch, start_s, end_s)]}."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for track in tracks:
        instrument = pretty_midi.Instrument(program=track.get("program", 0), is_drum=track.get("is_drum", False))
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


TINY_CONFIG = dict(seq_len=8, embedding_dim=8, rnn_units=8, rnn_layers=1, dense_units=8,
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
    """A small model trained once per test session on songs written here: a real model folder."""
    from musicgen.config import Config
    from train.data import load_folder
    from train.fit import train

    out = tmp_path_factory.mktemp("tiny_model")
    config = Config(**TINY_CONFIG)
    train(config, load_folder(tiny_songs, config.tracks, 5, progress=False), out, verbose=0)
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_model_folder):
    from musicgen.hub import load

    return load(str(tiny_model_folder))
