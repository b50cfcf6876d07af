"""Song-likeness: each piece kept from a few candidates, in proportion to how song-like it sounds."""
import json

import numpy as np
import pytest

from conftest import assert_refuses_damaged
from musicgen.calibration.likeness import Likeness
from musicgen.listening import CLASSIFIER_FEATURES, CLASSIFIER_VECTOR_NAMES, piece_statistics


def drafts(model, likeness, seed=3, variations=4):
    import dataclasses

    from musicgen.generate import sample_draft
    from musicgen.request import Request

    corrections = model.corrections.without("among candidates")
    model = dataclasses.replace(model, corrections=corrections.with_(likeness) if likeness else corrections)
    return sample_draft(model, Request.build(model.config, primer="random", seconds=8.0, top_p=1.0, seed=seed,
                                             variations=variations))


def leaning_on(feature: str, coefficient: float, candidates: int) -> Likeness:
    """A song-likeness that only hears one feature (standardized to about one unit)."""
    size = len(CLASSIFIER_VECTOR_NAMES)
    coefficients = np.zeros(size)
    coefficients[CLASSIFIER_FEATURES.index(feature)] = coefficient
    return Likeness(np.zeros(size), np.ones(size), coefficients, candidates)


def mean_notes_per_second(model, draft) -> float:
    from musicgen.generate import pieces_of

    heard = [piece_statistics(piece.score) for piece in pieces_of(model, draft)]
    return float(np.mean([each["notes_per_second"] if each else 0.0 for each in heard]))  # a silent piece: 0


@pytest.fixture(scope="module")
def fitted_folder(tiny_events_model_folder, pop_songs, tmp_path_factory):
    """The tiny model with a song-likeness fitted on its training songs (asked for: it is not by default)."""
    import shutil

    from train.calibrate import main as calibrate

    folder = tmp_path_factory.mktemp("likeness") / "model"
    shutil.copytree(tiny_events_model_folder, folder)
    assert Likeness.load(folder) is None  # training leaves it out
    assert calibrate([str(folder), "--data", str(pop_songs), "--only", "likeness"]) == 0
    return folder


def test_it_is_fitted_when_asked_and_a_folder_keeps_it(fitted_folder, tmp_path):
    fitted = Likeness.load(fitted_folder)
    assert fitted is not None and fitted.candidates >= 1
    assert fitted.coefficients.shape == fitted.mean.shape == fitted.scale.shape
    assert np.abs(fitted.coefficients).sum() > 0
    fitted.save(tmp_path)
    again = Likeness.load(tmp_path)
    assert np.allclose(again.coefficients, fitted.coefficients, atol=1e-5) and again.candidates == fitted.candidates
    good = json.loads((tmp_path / "likeness.json").read_text())
    damaged = [{**good, "candidates": 0}, {**good, "scale": [0.0] * len(good["scale"])},
               {**good, "mean": good["mean"][:3]}, {"candidates": 8}, [1, 2]]
    assert_refuses_damaged(tmp_path, "likeness.json", Likeness.load, damaged, "candidates of at least 1")
    # Fitted on another version's features: named, with what to do.
    (tmp_path / "likeness.json").write_text(json.dumps({**good, "features": good["features"][::-1]}))
    with pytest.raises(ValueError, match="other features .*python -m train.calibrate"):
        Likeness.load(tmp_path)
    assert Likeness.load(tmp_path / "nowhere") is None


def test_one_candidate_samples_exactly_as_a_model_without_one(tiny_events_model):
    without = drafts(tiny_events_model, None)
    one = drafts(tiny_events_model, leaning_on("notes_per_second", 5.0, candidates=1))
    assert one.rows == without.rows and one.tempi == without.tempi


def test_the_pieces_kept_lean_the_way_the_songs_do(tiny_events_model):
    model = tiny_events_model
    first = drafts(model, None, variations=8)
    busier = drafts(model, leaning_on("notes_per_second", 5.0, candidates=8), variations=8)
    sparser = drafts(model, leaning_on("notes_per_second", -5.0, candidates=8), variations=8)
    assert len(busier.rows) == len(sparser.rows) == 8 == len(busier.tempi)
    rates = [mean_notes_per_second(model, draft) for draft in (sparser, first, busier)]
    assert rates[0] < rates[1] < rates[2], rates
    # Seeded: the same request keeps the same pieces.
    assert drafts(model, leaning_on("notes_per_second", 5.0, candidates=8), variations=8).rows == busier.rows


def test_a_kept_piece_is_one_of_its_own_candidates(tiny_events_model):
    model = tiny_events_model
    candidates = 4
    every = drafts(model, None, variations=2 * candidates)  # the rows sample_draft draws for 2 pieces of 4
    kept = drafts(model, leaning_on("polyphony", 3.0, candidates=candidates), variations=2)
    for variation, row in enumerate(kept.rows):
        assert row in every.rows[variation * candidates:(variation + 1) * candidates]


def test_many_variations_share_the_rows_sampled_at_once():
    likeness = leaning_on("polyphony", 1.0, candidates=8)
    assert likeness.candidates_for(1) == 8 and likeness.candidates_for(16) == 4 and likeness.candidates_for(100) == 1


def test_a_piece_is_heard_alike_in_every_key(tiny_events_model, fitted_folder):
    from musicgen.generate import pieces_of

    fitted = Likeness.load(fitted_folder)
    scores = [piece.score for piece in pieces_of(tiny_events_model, drafts(tiny_events_model, None))]
    for semitones in (-5, 3, 7):
        assert np.allclose(fitted.logits([score.transposed(semitones) for score in scores]), fitted.logits(scores))
