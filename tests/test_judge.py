"""The independent judge: numbers of 8-bar stretches that the sampler never selects on."""
import numpy as np

from evaluate import judge
from musicgen.score import ACCOMPANIMENT, MELODY, Score


def stretch(rng, repeating: bool) -> Score:
    """8 bars of a melody over offbeat chords; repeating: every bar the same, else each bar new."""
    melody, chords = [], []
    first = rng.integers(60, 72, 4)
    for bar in range(8):
        pitches = first if repeating else rng.integers(60, 72, 4)
        melody += [[4 * bar + beat, 4 * bar + beat + 1, pitch, 90] for beat, pitch in enumerate(pitches)]
        chords += [[4 * bar + beat + 0.5, 4 * bar + beat + 1, pitch, 70] for beat in range(4) for pitch in (48, 52)]
    return Score({MELODY: np.array(melody, float), ACCOMPANIMENT: np.array(chords, float)}, 100.0)


def test_bars_that_come_back_are_heard_and_so_is_where_the_bar_is_played():
    rng = np.random.default_rng(0)
    same, new = judge.features(stretch(rng, True)), judge.features(stretch(rng, False))
    assert same is not None and len(same) == len(new)
    melody_repeats = slice(16 + 5, 16 + 5 + 3)  # after the 16 positions and 5 lengths of the melody
    assert np.allclose(same[melody_repeats], 1.0) and new[melody_repeats].max() < 0.5
    offbeats = 21 + 3 + 1 + np.array([2, 6, 10, 14])  # the accompaniment's eighths after each beat
    assert np.isclose(same[offbeats].sum(), 1.0)
    assert judge.features(Score({MELODY: np.array([[0, 1, 60, 90]], float)})) is None  # all but silent


def test_a_stretch_without_a_tune_is_read_its_melody_numbers_missing():
    song = stretch(np.random.default_rng(3), True)
    intro = judge.features(Score({ACCOMPANIMENT: song.parts[ACCOMPANIMENT]}, 100.0))
    whole = judge.features(song)
    assert intro is not None and len(intro) == len(whole)
    melody_numbers = slice(0, 16 + 5 + 3)
    assert np.isnan(intro[melody_numbers]).all() and intro[16 + 5 + 3] == 0.0  # no melody: density 0
    assert not np.isnan(intro[24:24 + 16]).any()  # the accompaniment's own numbers are there
    assert np.isnan(intro[-1]) and not np.isnan(whole).any()  # the register between them is not


def test_pieces_that_never_bring_their_tune_in_are_told_from_songs():
    rng = np.random.default_rng(4)
    songs = [stretch(rng, True) for _ in range(24)]
    tuneless = [Score({ACCOMPANIMENT: stretch(rng, True).parts[ACCOMPANIMENT]}, 100.0) for _ in range(24)]
    assert judge.auc(tuneless, songs, [f"song {index}" for index in range(24)]) > 0.9


def test_the_judge_tells_pieces_that_never_repeat_from_songs_that_do_and_not_songs_from_songs():
    rng = np.random.default_rng(1)
    songs = [stretch(rng, True) for _ in range(24)]
    others = [stretch(rng, True) for _ in range(24)]
    wandering = [stretch(rng, False) for _ in range(24)]
    names = [f"song {index}" for index in range(24)]
    assert judge.auc(wandering, songs, names) > 0.9
    assert judge.auc(others, songs, names) < 0.75
    assert np.isnan(judge.auc(wandering[:1], songs[:1], names[:1]))


def test_melody_that_comes_back_and_a_melody_that_comes_in_late_are_measured():
    rng = np.random.default_rng(2)
    same, new = stretch(rng, True), stretch(rng, False)  # 8 bars: every bar alike, or each bar new
    assert judge.melody_repeat([same], 4) == 1.0 and judge.melody_repeat([same], 1) == 1.0
    assert judge.melody_repeat([new], 4) < 0.5
    late = Score({MELODY: same.parts[MELODY] + [20, 20, 0, 0], ACCOMPANIMENT: same.parts[ACCOMPANIMENT]}, 100.0)
    assert judge.melody_within([same, late], 4) == 0.5  # the second comes in at bar 6
    assert judge.melody_within([same, late], 6) == 1.0
