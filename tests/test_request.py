"""One Request: built by the CLI, the page and the API alike, its defaults from the model's config,
checked once against limits named once."""
import json
import shutil

import pytest

from musicgen.config import Config
from musicgen.request import LIBRARY, WEB_PAGE, Request
from musicgen.steering import Steering


def test_empty_choices_take_the_models_own_settings():
    config = Config(temperature=0.8, top_k=12, top_p=0.9, program=24)
    request = Request.build(config, seed=5)
    assert (request.temperature, request.top_k, request.top_p, request.program) == (0.8, 12, 0.9, 24)
    assert request.seconds == 60.0 and request.variations == 1 and request.seed == 5
    assert Request.build(config, top_k=0, temperature=0).top_k == 0  # 0 is a choice, not "empty"
    seeds = {Request.build(config).seed for _ in range(5)}
    assert len(seeds) > 1  # no seed given: one is drawn


@pytest.mark.parametrize("choices, words", [
    (dict(seconds=0), "length must be above 0 and at most 600 seconds, not 0"),
    (dict(seconds=601), "at most 600"),
    (dict(seconds="long"), "length 'long' is not a number"),
    (dict(seconds=float("nan")), "finite"),
    (dict(variations=17), "variations must be between 1 and 16"),
    (dict(variations=0), "variations must be between 1 and 16"),
    (dict(temperature=-1), "temperature must be between 0 and 5"),
    (dict(top_k=-2), "top-k must be 0 (off) or more"),
    (dict(top_p=0), "top-p must be above 0"),
    (dict(program=128), "program must be 0-127"),
    (dict(speed=9), "playback tempo must be between 0.25x and 4x"),
    (dict(seed="seven"), "seed 'seven' is not a whole number"),
    (dict(primer="chord:C"), "not random, note:NAME"),
])
def test_a_request_out_of_bounds_is_refused_in_words(choices, words):
    with pytest.raises(ValueError) as refused:
        Request.build(Config(), **choices)
    assert words in str(refused.value)


def test_the_page_has_narrower_limits_than_the_library():
    assert WEB_PAGE.max_seconds < LIBRARY.max_seconds and WEB_PAGE.max_variations < LIBRARY.max_variations
    Request.build(Config(), seconds=300, variations=8)  # fine from Python
    with pytest.raises(ValueError, match="at most 120 seconds"):
        Request.build(Config(), seconds=300, limits=WEB_PAGE)
    with pytest.raises(ValueError, match="at least 5 and at most 120"):
        Request.build(Config(), seconds=2, limits=WEB_PAGE)
    with pytest.raises(ValueError, match="between 1 and 4"):
        Request.build(Config(), variations=8, limits=WEB_PAGE)


def test_an_event_request_is_checked_by_its_own_length_not_a_frame_count(tiny_events_model):
    """Event models have no frames: the length in seconds is what is checked, for any tempo."""
    from musicgen.generate import sample_draft

    config = tiny_events_model.config
    with pytest.raises(ValueError, match="at most 600"):
        Request.build(config, seconds=650)
    slow = Request.build(config, primer="random", seconds=8, seed=1, steering=Steering.parse(tempo=30))
    assert len(sample_draft(tiny_events_model, slow).rows) == 1


def test_the_page_samples_with_the_models_own_top_k(tiny_events_model_folder, tmp_path, monkeypatch):
    import app

    folder = tmp_path / "top-k"
    shutil.copytree(tiny_events_model_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "top_k": 7}))
    asked = []
    sample = app.sample_draft
    monkeypatch.setattr(app, "sample_draft", lambda model, request, *rest: asked.append(request) or
                        sample(model, request, *rest))
    extend = app.extend_draft
    monkeypatch.setattr(app, "extend_draft", lambda model, draft, index, request, **rest: asked.append(request) or
                        extend(model, draft, index, request, **rest))
    # primer, note, upload, seconds, variations, temperature, top-p, seed, speed, program, model: as the page sends them
    result = app.generate_music("random", "C4", None, 5, 1, None, None, "1", 1.0, None, str(folder))
    app.continue_music(result[-1], 1, 5)
    assert [request.top_k for request in asked] == [7, 7]


def test_the_pages_tempo_box_starts_empty_and_empty_means_the_models_choice():
    import gradio as gr

    import app

    page = app.build_page()
    tempo = next(block for block in page.blocks.values()
                 if isinstance(block, gr.components.Component) and str(block.label).startswith("Tempo (BPM"))
    assert isinstance(tempo, gr.Textbox) and tempo.value in ("", None)
    assert Steering.parse(tempo="").tempo_bpm is None and Steering.parse(tempo=" 96 ").tempo_bpm == 96
