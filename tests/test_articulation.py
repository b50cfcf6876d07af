import numpy as np
import pytest

from musicgen.calibration.articulation import Articulation, next_onset_of_pitch
from musicgen.representations.events import Events
from musicgen.score import ACCOMPANIMENT, MELODY, Score


def played_song(seed: int) -> Score:
    """Melody notes every beat, written as eighths but played 0.4-0.45 beats long (detached);
    accompaniment notes every two beats, written as halves, played 1.9-2.0 beats (legato)."""
    rng = np.random.default_rng(seed)
    beats = np.arange(64.0)
    melody = np.column_stack([beats, beats + rng.uniform(0.4, 0.45, 64), 60 + rng.integers(0, 12, 64),
                              np.full(64, 90)])
    halves = np.arange(0.0, 64.0, 2.0)
    accompaniment = np.column_stack([halves, halves + rng.uniform(1.9, 2.0, 32), 48 + rng.integers(0, 12, 32),
                                     np.full(32, 70)])
    return Score({MELODY: melody, ACCOMPANIMENT: accompaniment}, 100.0)


@pytest.fixture(scope="module")
def measured():
    return Articulation.measured([played_song(seed) for seed in range(3)], Events.new())


def test_the_songs_played_lengths_are_kept_for_each_part_and_written_length(measured):
    melody = measured.lengths[MELODY][2]  # 0.4-0.45 beats are written as two sixteenths
    assert 0.4 <= melody.min() and melody.max() <= 0.45 and np.all(np.diff(melody) >= 0)
    halves = measured.lengths[ACCOMPANIMENT][8]
    assert 1.9 <= halves.min() and halves.max() <= 2.0
    assert set(measured.lengths[MELODY]) == {2}  # nothing else was written often enough


def test_a_written_piece_is_played_with_those_lengths_on_the_same_onsets(measured):
    written = Events.new().decode(Events.new().encode(played_song(7)), 100.0)
    assert np.allclose(written.parts[MELODY][:, 1] - written.parts[MELODY][:, 0], 0.5)  # on the grid
    played = measured.performed(written, (7, 0))
    for part in (MELODY, ACCOMPANIMENT):
        assert np.array_equal(np.sort(played.parts[part][:, 0]), np.sort(written.parts[part][:, 0]))
    lengths = played.parts[MELODY][:, 1] - played.parts[MELODY][:, 0]
    assert 0.4 <= lengths.min() and lengths.max() <= 0.45 and lengths.std() > 0.01
    assert np.array_equal(measured.performed(written, (7, 0)).parts[MELODY], played.parts[MELODY])  # seeded
    assert not np.array_equal(measured.performed(written, (8, 0)).parts[MELODY], played.parts[MELODY])


def test_a_piece_that_grows_keeps_the_lengths_it_had(measured):
    song = Events.new().decode(Events.new().encode(played_song(3)), 100.0)
    first_half = Score({part: notes[notes[:, 0] < 32] for part, notes in song.parts.items()}, 100.0)
    before = measured.performed(first_half, (1, 2)).parts[MELODY]
    after = measured.performed(song, (1, 2)).parts[MELODY]
    assert np.array_equal(after[:len(before)], before)


def test_a_note_never_runs_into_the_next_strike_of_its_pitch():
    legato = Articulation({MELODY: {1: np.full(32, 3.0)}})  # every written sixteenth played 3 beats long
    notes = np.array([[0, 0.25, 60, 90], [0.5, 0.75, 60, 90], [0.5, 0.75, 64, 90], [2, 2.25, 60, 90]], float)
    played = legato.performed(Score({MELODY: notes}, 120.0), (0,)).parts[MELODY]
    assert played[:, 1].tolist() == [0.5, 2.0, 3.5, 5.0]
    twice_at_once = np.array([[0, 1, 60, 90], [0, 1, 60, 90], [1, 2, 60, 90]], float)
    assert next_onset_of_pitch(twice_at_once).tolist() == [1, 1, np.inf]


def test_saved_beside_the_weights_as_json_and_loaded_with_the_other_corrections(measured, tmp_path):
    from musicgen.calibration import Corrections

    Corrections.of([measured]).save(tmp_path)
    again = Corrections.load(tmp_path).articulation
    assert set(again.lengths) == set(measured.lengths)
    assert np.allclose(again.lengths[MELODY][2], measured.lengths[MELODY][2], atol=1e-4)
    (tmp_path / "articulation.json").unlink()
    assert Corrections.load(tmp_path).articulation is None  # a folder from before: lengths as written


def test_training_measures_it(tiny_events_model_folder):
    table = Articulation.load(tiny_events_model_folder)
    assert table is not None
    assert np.allclose(table.lengths[MELODY][4], 1.0, atol=0.02)  # the little songs' melody: quarters, held


def test_the_calibrate_command_says_in_one_line_what_is_wrong(tmp_path, capsys):
    from train.calibrate import main as calibrate

    for arguments in ([str(tmp_path / "no model here"), "--data", str(tmp_path)],
                      [str(tmp_path), "--data", str(tmp_path), "--only", "tempos,vibrato"]):
        assert calibrate(arguments) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("error: ") and len(error.splitlines()) == 1
        assert "not a model folder" in error or "no correction named vibrato" in error
