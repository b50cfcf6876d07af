"""The two-sample test's references: songs' own openings, and their later segments, against songs' segments."""
import numpy as np

from musicgen.score import ACCOMPANIMENT, MELODY, Score
from evaluate import listening
from evaluate.events import later_segments, real_openings, real_segments


class Song:
    def __init__(self, name, score):
        self.name, self.score = name, score


def song(rng, opening_step: float, bars: int = 48) -> Score:
    """A C-major song at 120 BPM: 16 bars of one step between onsets, then another of 0.5 beats."""
    melody, accompaniment = [], []
    beat = 0.0
    while beat < bars * 4:
        step = opening_step if beat < 64 else 0.5
        pitch = int(rng.choice([60, 62, 64, 65, 67, 69, 71, 72]))
        melody.append((beat, beat + step, pitch, 90))
        accompaniment.append((beat, beat + step, pitch - 12, 70))
        beat += step
    return Score({MELODY: np.array(melody, float), ACCOMPANIMENT: np.array(accompaniment, float)}, 120.0)


def test_songs_openings_unlike_their_bodies_are_told_apart_and_like_them_are_not():
    rng = np.random.default_rng(0)
    seconds = 32.0  # 16 bars at 120 BPM: the opening is the first segment
    # Sparse openings: told from the two later segments of each song, not from the other songs'
    # openings (a third of the segments): the AUC is about 2/3 + 1/3 x 1/2.
    for opening_step, low, high in ((2.0, 0.78, 0.9), (0.5, 0.0, 0.7)):
        songs = [Song(f"song{i}", song(rng, opening_step)) for i in range(24)]
        openings, names = real_openings(songs, seconds)
        real, groups = real_segments(songs, seconds)
        assert names == [s.name for s in songs] and len(real) == 24 * 3
        openings_auc = listening.songs_segments_auc(openings, names, real, groups)
        assert low <= openings_auc <= high
        # The later segments are like two thirds of all segments: much harder to tell apart
        later, later_names = later_segments(real, groups)
        assert len(later) == 48 and sorted(set(later_names)) == sorted(names)
        assert not any(segment is opening for segment in later for opening in real[::3])
        middles = listening.songs_segments_auc(later, later_names, real, groups)
        assert middles < openings_auc - 0.1 if opening_step == 2.0 else middles <= 0.7
