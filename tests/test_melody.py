import numpy as np
import pytest

from musicgen.calibration.melody import CLASSES, MelodyIntervals, interval_class, last_melody_pitch, melody_contexts
from musicgen.representations.events import Events


@pytest.fixture(scope="module")
def events():
    return Events.new()


def melody_ids(events, pitches):
    """Bar, then one melody note per beat with these pitches."""
    ids = [events.vocab["Bar_None"]]
    for beat, pitch in enumerate(pitches):
        ids += [events.vocab[f"Position_{4 * beat}"], events.melody_program_id, events.vocab[f"Pitch_{pitch}"],
                events.vocab["Velocity_95"], events.vocab["Duration_1.0.4"]]
    return ids


def test_the_bias_that_made_the_notes_is_found_again():
    rng = np.random.default_rng(0)
    pitches = np.arange(48, 84)
    truth = np.array([0, 1.0, 0.8, 0, -0.5, 0, -1.5, 0, 0, 0, 0, -1, 0])
    logits, classes, targets = [], [], []
    for _ in range(4000):
        previous = int(rng.integers(55, 77))
        row = rng.normal(0, 1, len(pitches))
        row_classes = interval_class(pitches, previous)
        p = np.exp(row + truth[row_classes])
        logits.append(row)
        classes.append(row_classes)
        targets.append(rng.choice(len(pitches), p=p / p.sum()))
    fitted = MelodyIntervals.fit(np.array(logits), np.array(classes), np.array(targets)).bias
    assert np.abs(fitted[:8] - truth[:8]).max() < 0.25  # the common classes, closely


def test_contexts_pair_each_melody_pitch_with_the_one_before(events):
    ids = melody_ids(events, [60, 62, 67])
    contexts = melody_contexts(ids, events.melody_program_id, events.pitch_of)
    assert [previous for _, previous in contexts] == [60, 62]
    assert all(ids[t] == events.melody_program_id for t, _ in contexts)
    assert last_melody_pitch(ids, events.melody_program_id, events.pitch_of) == 67
    offsets = MelodyIntervals(np.arange(CLASSES, dtype=float)).offsets(60, events.pitch_of)
    assert offsets[events.vocab["Pitch_62"]] == 2 and offsets[events.vocab["Pitch_80"]] == CLASSES - 1
    assert offsets[events.vocab["Bar_None"]] == 0


def test_the_sampler_leans_where_the_bias_says(tiny_events_model):
    import dataclasses

    from musicgen.generate import compose
    from musicgen.request import Request

    def unison_share(bias):
        corrections = tiny_events_model.corrections.without("at the logits")
        model = dataclasses.replace(tiny_events_model, corrections=corrections if bias is None
                                    else corrections.with_(MelodyIntervals(bias)))
        steps = []
        for seed in range(6):
            request = Request.build(model.config, primer="note:C5", seconds=40.0, temperature=1.5, top_p=1.0, seed=seed)
            piece = compose(model, request)[0]
            melody = piece.score.parts.get("Melody")
            if melody is not None and len(melody) > 1:
                steps += list(np.abs(np.diff(melody[np.argsort(melody[:, 0], kind="stable"), 2])))
        return np.mean(np.array(steps) == 0), len(steps)

    leaning = np.full(CLASSES, -30.0)
    leaning[0] = 0.0  # every interval but a repeated note all but ruled out
    share, notes = unison_share(leaning)
    assert notes > 20 and share > 0.9
    assert unison_share(None)[0] < share


def test_fitted_when_asked_and_saved_beside_the_weights(tiny_events_model_folder, pop_songs, tmp_path):
    import shutil

    from train.calibrate import main as calibrate

    folder = tmp_path / "model"
    shutil.copytree(tiny_events_model_folder, folder)
    assert MelodyIntervals.load(folder) is None  # training leaves it out (docs/measurements/corrections.md)
    echo_before = (folder / "echo.json").read_text()
    assert calibrate([str(folder), "--data", str(pop_songs), "--only", "melody_intervals"]) == 0
    fitted = MelodyIntervals.load(folder)
    assert fitted is not None and fitted.bias.shape == (CLASSES,) and fitted.bias[0] == 0
    assert (folder / "echo.json").read_text() == echo_before  # the rest of the folder as it was
    (tmp_path / "copy").mkdir()
    fitted.save(tmp_path / "copy")
    assert np.allclose(MelodyIntervals.load(tmp_path / "copy").bias, fitted.bias, atol=1e-4)
    assert MelodyIntervals.load(tmp_path / "nowhere") is None
