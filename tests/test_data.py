import numpy as np
import pytest

from test_midi import corrupt_midi_bytes
from train.data import NoUsableFiles, Song, load_midi_folder, song_windows, split_by_song


def test_a_folder_becomes_songs_and_broken_files_are_skipped_with_reasons(midi_folder):
    (midi_folder / "zero.mid").write_bytes(b"")
    (midi_folder / "bad.mid").write_bytes(corrupt_midi_bytes())
    (midi_folder / "notes.txt").write_text("not a song")
    corpus = load_midi_folder(midi_folder, "piano", 5, progress=False)
    assert sorted(song.name for song in corpus.songs) == ["more/歌.midi", "song0.mid", "song1.mid",
                                                          "song2.mid", "song3.mid"]
    reasons = {item["file"]: item["reason"] for item in corpus.skipped}
    assert reasons["zero.mid"].startswith("the file is empty (0 bytes)")
    assert reasons["bad.mid"].startswith("the MIDI file is damaged")
    assert "zero.mid: the file is empty" in corpus.summary()


def test_a_folder_without_usable_files_is_one_clear_error(tmp_path):
    (tmp_path / "zero.mid").write_bytes(b"")
    with pytest.raises(NoUsableFiles, match="(?s)no usable MIDI file.*zero.mid: the file is empty"):
        load_midi_folder(tmp_path, "piano", 5, progress=False)
    with pytest.raises(NoUsableFiles, match="no such folder"):
        load_midi_folder(tmp_path / "missing", "piano", 5, progress=False)


def test_split_is_by_whole_song_and_deterministic():
    songs = [Song(f"s{i}", ["e"] * (i + 1)) for i in range(20)]
    train, validation = split_by_song(songs, 0.15, seed=1)
    assert len(validation) == 3 and len(train) == 17
    assert not {s.name for s in train} & {s.name for s in validation}
    again_train, again_validation = split_by_song(list(reversed(songs)), 0.15, seed=1)
    assert [s.name for s in again_validation] == [s.name for s in validation]
    _, other = split_by_song(songs, 0.15, seed=2)
    assert [s.name for s in other] != [s.name for s in validation]


def test_windows_are_left_padded_with_rests():
    windows, targets = song_windows(np.array([5, 6, 7, 8]), seq_len=3, rest_id=0)
    assert windows.tolist() == [[0, 0, 0], [0, 0, 5], [0, 5, 6], [5, 6, 7]]
    assert targets.tolist() == [5, 6, 7, 8]
