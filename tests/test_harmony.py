"""The chords under a brought tune: a tagger learns songs' chords from their melodies, NumPy reads
it as Keras does, and the accompaniment is written over what it reads, a half bar each."""
import numpy as np
import pytest

from musicgen.chords import chord_name, chord_of, chord_pitch_classes
from musicgen.score import ACCOMPANIMENT, MELODY, Score

# C major's chords; each song a random progression of them, a chord every half bar (2 beats).
DIATONIC = [chord_of(0, "maj"), chord_of(5, "maj"), chord_of(7, "maj"), chord_of(9, "min"), chord_of(2, "min")]


def song(seed: int, bars: int = 24) -> Score:
    """A melody of eighth notes on each half bar's chord tones (root, third, fifth, root an octave
    up, in an order drawn per half bar), a held chord under it, and the chords annotated."""
    rng = np.random.default_rng(seed)
    chords = rng.choice(DIATONIC, size=2 * bars)
    melody, piano = [], []
    for half, chord in enumerate(chords):
        tones = sorted(chord_pitch_classes(int(chord)), key=lambda pc: (pc - int(chord) // 8) % 12)
        pitches = [60 + tones[0], 60 + tones[1], 60 + tones[2], 72 + tones[0]]
        for index, pitch in enumerate(rng.permutation(pitches)):
            start = 2.0 * half + 0.5 * index
            melody.append([start, start + 0.5, pitch, 90])
        piano += [[2.0 * half, 2.0 * half + 2, 48 + tone, 70] for tone in tones]
    rows = np.array([[2.0 * half, 2.0 * half + 2, chord] for half, chord in enumerate(chords)], float)
    return Score({MELODY: np.array(melody, float), ACCOMPANIMENT: np.array(piano, float)}, 100.0, chords=rows)


@pytest.fixture(scope="module")
def harmony():
    from musicgen.calibration.harmony import Harmony

    return Harmony.fitted([song(seed) for seed in range(12)], epochs=40, batch_size=2)


def test_the_tagger_reads_unseen_melodies_chords(harmony):
    unseen = song(100)
    unseen = unseen.transposed(unseen.key_shift())  # as the tagger learned them: in C major / A minor
    read = harmony.chords_of(unseen.parts[MELODY], 48)
    truth = unseen.chords[:, 2].astype(int)
    assert read.shape == (48,)
    assert np.mean(read == truth) >= 0.8, [chord_name(int(chord)) for chord in read[:8]]
    assert harmony.chords_of(np.zeros((0, 4)), 0).shape == (0,)


def test_numpy_reads_the_saved_tagger_as_keras_does(harmony, tmp_path):
    import keras

    from musicgen.calibration import Corrections
    from musicgen.calibration.harmony import half_bar_features

    harmony.save(tmp_path)
    again = Corrections.load(tmp_path).harmony
    melody = song(101).parts[MELODY]
    tagger = keras.saving.load_model(tmp_path / "harmony.keras", safe_mode=True)
    by_keras = tagger.predict(half_bar_features(melody, 48)[None], verbose=0)[0]
    assert np.allclose(again.probabilities(melody, 48), by_keras, atol=1e-4)
    assert again.probabilities(melody, 48).sum(axis=1) == pytest.approx(np.ones(48), abs=1e-5)


def test_no_tagger_without_a_melody_under_chords():
    from musicgen.calibration.harmony import Harmony

    piano_only = Score({ACCOMPANIMENT: np.array([[0, 4.0, 48, 70]])}, 100.0, chords=np.array([[0, 4.0, 0]]))
    assert Harmony.fitted([piano_only]) is None


def test_the_accompaniment_changes_chord_at_the_half_bar_where_it_is_given(tiny_events_model, tmp_path):
    from musicgen.schemes.events import melody_plan
    from musicgen.stateful import sample_under_melody

    events = tiny_events_model.vocab
    tune = Score({MELODY: np.array([[beat, beat + 1.0, 67 + (beat % 3), 90] for beat in range(16)], float)}, 100.0)
    plan = melody_plan(events, tune)
    halves = [chord_of(0, "maj"), chord_of(0, "maj"), chord_of(5, "maj"), chord_of(7, "maj"),
              chord_of(9, "min"), chord_of(9, "min"), chord_of(2, "min"), chord_of(7, "maj")]
    header = events.header(mode="major", where="opening" if events.starts else None)
    ids = sample_under_melody(tiny_events_model.steps, events.grammar, header, plan,
                              [events.chord_id(chord) for chord in halves], seed=4,
                              melody_program_id=events.melody_program_id, chord_tones=events.chord_tones)
    written = [(float(start), chord_name(int(chord))) for start, _, chord in events.chords_of([*header, *ids])]
    assert written == [(0.0, "C"), (4.0, "F"), (6.0, "G"), (8.0, "Am"), (12.0, "Dm"), (14.0, "G")]


def test_a_model_folder_without_the_tagger_still_accompanies_reading_chords_as_it_goes(tiny_events_model_folder,
                                                                                      tmp_path):
    import shutil

    from musicgen.generate import pieces_of, sample_draft
    from musicgen.hub import load
    from musicgen.request import Request
    from test_accompany import tune_file

    folder = tmp_path / "before-harmony"
    shutil.copytree(tiny_events_model_folder, folder)
    (folder / "harmony.keras").unlink()
    old = load(str(folder))
    assert old.corrections.harmony is None
    path = tune_file(tmp_path / "tune.mid")
    draft = sample_draft(old, Request.build(old.config, primer=f"melody:{path}", seed=2))
    piece = pieces_of(old, draft)[0]
    assert len(old.vocab.chords_of(draft.rows[0])) >= 4  # a chord at least every bar of the 4-bar tune
    assert {instrument.name for instrument in piece.midi.instruments} == {MELODY, ACCOMPANIMENT}


def test_chords_are_shown_bar_by_bar_as_a_person_reads_them():
    from musicgen.chords import NO_CHORD, bar_by_bar

    rows = np.array([[0, 4, chord_of(0, "maj")], [4, 6, chord_of(7, "maj")], [6, 8, chord_of(9, "min")],
                     [8, 12, chord_of(5, "maj")], [12, 14, NO_CHORD], [16, 20, chord_of(5, "maj")]], float)
    assert bar_by_bar(rows) == "C | G Am | F | - | F"
    assert bar_by_bar(np.zeros((0, 3))) == ""
    after_a_pickup = rows + [1, 1, 0]  # the file's bar lines at 1, 5, 9...: a bar of one beat first
    assert bar_by_bar(after_a_pickup, [0, 1, 5, 9, 13, 17]) == "- | C | G Am | F | - | F"
    assert bar_by_bar(rows, [0, 1, 5]) == "C | C G | G Am F"  # a file's own bar lines
