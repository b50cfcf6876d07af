"""Publish to and pull from a Hub-compatible endpoint on 127.0.0.1 with the real huggingface_hub client."""
import json
import shutil

import numpy as np
import pytest

from hub_server import FakeHub
from musicgen.errors import ModelError
from musicgen.hub import load
from musicgen.sampling import generate, random_primer
from publish import PublishError
from publish.__main__ import main as publish_main
from publish.folder import publish, write_sample

TOKEN = "hf_test_token"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """HF_ENDPOINT at the loopback Hub, a fresh cache, and the token in HF_TOKEN."""
    import huggingface_hub.constants as constants

    with FakeHub(TOKEN) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setattr(constants, "ENDPOINT", fake.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", fake.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        yield fake


def sample(music_model, seed=3):
    primer = random_primer(music_model.vocab, music_model.config.seq_len, seed=1).ids
    return generate(music_model.network, primer, 30, temperature=1.0, top_p=0.95, seed=seed)


@pytest.fixture
def model_folder(tiny_model_folder, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_folder, folder)
    return folder


def test_publish_pull_load_and_generate_the_same_frames(hub, model_folder, monkeypatch):
    import huggingface_hub.constants as constants

    url = publish(model_folder, "alice/tiny-music")
    assert "alice/tiny-music/commit/" in url
    files = hub.repos["alice/tiny-music"]["files"]
    assert set(files) == {"model.keras", "vocab.json", "config.json", "metrics.json", "loss.png",
                          "evaluation.json", "evaluation.png", "sample.mid", "sample.wav", "sample.png", "README.md"}
    card = files["README.md"].decode()
    assert card.startswith("---\nlibrary_name: keras")
    for words in ("music-generation", "midi", "tensorflow", "## Training data", "validation loss",
                  "## Hyper-parameters", "loss.png", "Held-out evaluation", "best n-gram", "python -m musicgen generate --model alice/tiny-music"):
        assert words in card

    local = load(str(model_folder))
    pulled = load("alice/tiny-music")
    assert pulled.note == ""
    # Only what loading needs is downloaded.
    assert sorted(p.name for p in pulled.folder.iterdir()) == ["config.json", "model.keras", "vocab.json"]
    assert np.array_equal(sample(local), sample(pulled))

    revision = hub.repos["alice/tiny-music"]["sha"]
    assert np.array_equal(sample(load(f"alice/tiny-music@{revision}")), sample(local))

    # Offline, from the cache.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    offline = load("alice/tiny-music")
    assert np.array_equal(sample(offline), sample(local))


def test_publishing_again_takes_away_a_model_file_the_folder_no_longer_has(hub, model_folder):
    (model_folder / "melody_intervals.json").write_text("[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]")
    publish(model_folder, "alice/again")
    hub.repos["alice/again"]["files"]["notes.txt"] = b"the owner's own file"  # not ours: stays
    assert (load("alice/again").folder / "melody_intervals.json").is_file()  # pulled once: in the cache
    (model_folder / "melody_intervals.json").unlink()  # the correction left out since
    publish(model_folder, "alice/again")
    files = hub.repos["alice/again"]["files"]
    assert "melody_intervals.json" not in files and "notes.txt" in files and "config.json" in files
    assert not (load("alice/again").folder / "melody_intervals.json").exists()  # pulled again: gone here too


def test_the_hub_going_down_falls_back_to_the_cache(hub, model_folder):
    publish(model_folder, "alice/tiny-music")
    load("alice/tiny-music")
    hub.server.shutdown()
    hub.server.server_close()
    cached = load("alice/tiny-music")  # huggingface_hub falls back to the cache by itself
    assert np.array_equal(sample(cached), sample(load(str(model_folder))))
    with pytest.raises(ModelError, match="not in the local cache|cannot be reached"):
        load("alice/never-downloaded")


def test_a_download_breaking_off_falls_back_to_the_cached_copy_and_says_so(hub, model_folder):
    publish(model_folder, "alice/tiny-music")
    load("alice/tiny-music")
    (model_folder / "config.json").write_text(  # a new revision on the Hub, so files must be fetched
        (model_folder / "config.json").read_text().replace('"seed": 0', '"seed": 1'))
    publish(model_folder, "alice/tiny-music")
    hub.break_downloads = True
    cached = load("alice/tiny-music")
    assert "using the cached copy" in cached.note and cached.config.seed == 0


def test_a_download_breaking_off_with_nothing_cached_is_a_hub_failure(hub, model_folder):
    from musicgen.errors import HubUnreachable

    publish(model_folder, "alice/tiny-music")
    hub.break_downloads = True
    with pytest.raises(HubUnreachable, match="cannot be reached"):
        load("alice/tiny-music")


def test_the_app_falls_back_to_the_built_in_model_when_a_download_breaks_off(hub, model_folder, monkeypatch):
    import app

    publish(model_folder, "alice/tiny-music")
    hub.break_downloads = True
    monkeypatch.setenv("MUSICGEN_MODEL", str(model_folder))  # "the built-in model" for this test
    music_model = app.get_model("alice/tiny-music")
    assert music_model.source == str(model_folder)
    assert "using the built-in model instead" in music_model.note
    assert "alice/tiny-music" not in app._models  # the next visitor tries the Hub again


def test_publishing_without_a_token_keeps_the_folder_and_says_how_to_retry(hub, model_folder, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", str(model_folder.parent / "no-login"))
    before = sorted(p.name for p in model_folder.iterdir())
    assert publish_main([str(model_folder), "alice/tiny-music"]) == 1
    message = capsys.readouterr().err
    assert "push to alice/tiny-music failed" in message
    assert f"python -m publish {model_folder} alice/tiny-music" in message
    assert "alice/tiny-music" not in hub.repos
    assert (model_folder / "model.keras").exists() and set(before) <= {p.name for p in model_folder.iterdir()}


def test_publishing_to_an_endpoint_that_is_down(hub, model_folder):
    hub.server.shutdown()
    hub.server.server_close()
    with pytest.raises(PublishError, match="(?s)failed.*retry with"):
        publish(model_folder, "alice/tiny-music")
    assert (model_folder / "model.keras").exists()


def test_a_repo_that_does_not_exist(hub):
    with pytest.raises(ModelError, match="no such model on the Hub"):
        load("alice/nothing-here")


def test_a_mismatched_vocabulary_is_refused(hub, model_folder):
    write_sample(model_folder)  # made while the folder is whole; publishing a broken one skips it
    vocab = json.loads((model_folder / "vocab.json").read_text())
    vocab["tokens"] = vocab["tokens"][:-1]
    (model_folder / "vocab.json").write_text(json.dumps(vocab))
    publish(model_folder, "alice/broken")
    with pytest.raises(ModelError, match="predicts .* tokens but vocab.json holds"):
        load("alice/broken")


def event_notes(music_model, seed=3):
    from musicgen.generate import compose
    from musicgen.request import Request

    piece = compose(music_model, Request.build(music_model.config, primer="note:C4", seconds=6.0, top_p=0.95,
                                               seed=seed))[0]
    return [(n.pitch, n.start, n.end) for i in piece.midi.instruments for n in i.notes]


def test_an_event_model_goes_to_the_hub_and_back(hub, tiny_events_model_folder, pop_songs, tmp_path):
    folder = tmp_path / "events"
    shutil.copytree(tiny_events_model_folder, folder)
    publish(folder, "alice/tiny-events")
    files = hub.repos["alice/tiny-events"]["files"]
    assert {"model.keras", "tokenizer.json", "tempos.json", "config.json", "README.md", "sample.mid"} <= set(files)
    card = files["README.md"].decode()
    for words in ("REMI", "Melody", "nats per token", "articulation.json", "repeats.json", "echo.json",
                  "python -m musicgen generate --model alice/tiny-events"):
        assert words in card
    pulled = load("alice/tiny-events")
    assert sorted(p.name for p in pulled.folder.iterdir()) == ["articulation.json", "conditions.json", "config.json",
                                                               "echo.json", "harmony.keras", "melody_key.json",
                                                               "model.keras", "repeats.json", "tempos.json",
                                                               "tokenizer.json"]
    assert pulled.corrections.melody_key is not None  # a tune brought is read in its key as the songs sing
    assert pulled.corrections.harmony is not None  # ... and its chords as the songs' melodies sit on theirs
    assert pulled.corrections.articulation is not None  # notes played as the training songs played them
    assert pulled.corrections.repeats.chances == load(str(folder)).corrections.repeats.chances
    assert pulled.vocab.styles == load(str(folder)).vocab.styles
    assert event_notes(pulled) == event_notes(load(str(folder)))
    # ... and someone else fine-tunes it on their own songs, straight from the Hub.
    from train.__main__ import main as train_main

    tuned = tmp_path / "tuned"
    assert train_main(["--data", str(pop_songs), "--warm-start", "alice/tiny-events", "--epochs", "1",
                       "--out", str(tuned)]) == 0
    assert load(str(tuned)).vocab.vocab == pulled.vocab.vocab


def test_the_embedded_default_works_with_no_network(monkeypatch):
    import huggingface_hub.constants as constants
    from musicgen.hub import EMBEDDED_MODEL

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("MUSICGEN_MODEL", raising=False)
    default = load(None)
    assert default.folder == EMBEDDED_MODEL and default.source == "default"
    assert sum(path.stat().st_size for path in EMBEDDED_MODEL.iterdir()) < 20_000_000
    assert default.scheme.name == "events" and len(event_notes(default)) > 0
    card = (EMBEDDED_MODEL / "README.md").read_text()
    assert "library_name: keras" in card and "validation loss" in card


def test_the_model_box_refuses_what_is_not_a_musicgen_model_before_downloading_it(hub, model_folder, monkeypatch):
    import musicgen.hub

    hub.repos["bob/some-llm"] = {"files": {"config.json": b'{"model_type": "llama"}', "model.safetensors": b"x" * 100},
                                 "sha": "1" * 40, "private": False}
    with pytest.raises(ModelError, match="bob/some-llm is not a musicgen model: it has no config.json and model.keras"):
        load("bob/some-llm")
    hub.repos["bob/other"] = {"files": {"config.json": b'{"version": 99}', "model.keras": b"x"},
                              "sha": "2" * 40, "private": False}
    with pytest.raises(ModelError, match="bob/other is not a musicgen model this version can read: config version 99"):
        load("bob/other")
    publish(model_folder, "alice/tiny-music")
    monkeypatch.setattr(musicgen.hub, "MAX_MODEL_BYTES", 10_000)
    hub.requests.clear()
    with pytest.raises(ModelError, match=r"alice/tiny-music is too big for this demo: 0 MB .*at most 0 MB"):
        load("alice/tiny-music")
    assert not any("/resolve/" in request for request in hub.requests)  # refused from the metadata alone
    with pytest.raises(ModelError, match="no such model on the Hub"):
        load("nobody/nothing")


def test_the_app_holds_at_most_three_models_and_can_be_limited_to_a_list(hub, model_folder, monkeypatch):
    import app

    monkeypatch.setenv("MUSICGEN_MODEL", str(model_folder))  # the app's default for this test
    monkeypatch.setattr(app, "_models", app.OrderedDict())
    for name in ("a", "b", "c", "d"):
        publish(model_folder, f"alice/{name}")
    app.get_model(None)
    for name in ("a", "b", "c", "d"):
        app.get_model(f"alice/{name}")
    assert list(app._models) == [str(model_folder), "alice/c", "alice/d"]  # the default stays, b and a went
    monkeypatch.setenv("MUSICGEN_ALLOWED_MODELS", "alice/c, alice/d")
    assert app.get_model("alice/c").source == "alice/c"
    with pytest.raises(ModelError, match="this demo serves only .*alice/c, alice/d: 'alice/a' is not one of them"):
        app.get_model("alice/a")


def test_the_app_goes_to_a_space_that_serves_the_model(hub, model_folder, capsys):
    import yaml

    publish(model_folder, "alice/tiny-music")
    assert publish_main(["--space", "alice/musicgen-demo", "--model", "alice/tiny-music"]) == 0
    assert "alice/musicgen-demo" in capsys.readouterr().out
    space = hub.repos["spaces/alice/musicgen-demo"]
    assert space["sdk"] == "gradio" and "alice/musicgen-demo" not in hub.repos  # a Space, not a model
    files = space["files"]
    assert {"README.md", "space.py", "app.py", "requirements.txt", "packages.txt", "musicgen/generate.py",
            "assets/model/model.keras", "assets/model/config.json"} <= set(files)
    front = yaml.safe_load(files["README.md"].decode().split("---")[1])
    assert front["sdk"] == "gradio" and front["app_file"] == "space.py" and front["license"] == "mit"
    assert front["models"] == ["alice/tiny-music"] and front["title"]
    entry = files["space.py"].decode()
    assert 'os.environ.setdefault("MUSICGEN_MODEL", "alice/tiny-music")' in entry and "app.main()" in entry
    assert set(files["packages.txt"].decode().split()) == {"fluidsynth", "fluid-soundfont-gm"}
    requirements = files["requirements.txt"].decode()
    assert "gradio==" in requirements and "pytest" not in requirements and "playwright" not in requirements
    assert not any("__pycache__" in name for name in files)
    # Publishing again updates the same Space.
    assert publish_main(["--space", "alice/musicgen-demo", "--model", "alice/tiny-music"]) == 0


def test_a_space_without_a_model_is_refused_with_words(capsys):
    with pytest.raises(SystemExit) as exit_info:
        publish_main(["--space", "alice/musicgen-demo"])
    assert exit_info.value.code == 2 and "--space needs --model USER/MODEL" in capsys.readouterr().err
