import json

import pytest

from musicgen.config import CONFIG_VERSION, FRAMES_RECIPE, ORIGINAL_RECIPE, Config, ConfigError
from musicgen.schemes import scheme_for


def test_the_original_recipe_is_one_preset_away():
    config = Config(**ORIGINAL_RECIPE)
    assert (config.frames_per_second, config.seq_len, config.embedding_dim) == (5, 50, 100)
    assert (config.rnn_layers, config.rnn_units, config.dropout, config.bidirectional) == (3, 128, 0.3, True)
    assert (config.dense_units, config.batch_size, config.epochs) == (64, 64, 20)
    assert not (config.key_normalize or config.transpose_augment or config.pitch_input)


def test_a_version_1_config_keeps_meaning_the_original_recipe():
    values = json.loads(Config(**ORIGINAL_RECIPE).to_json())
    for added in ("key_normalize", "transpose_augment", "bidirectional", "pitch_input"):
        del values[added]
    values["version"] = 1
    config = Config.from_json(json.dumps(values))
    assert config == Config(**ORIGINAL_RECIPE)
    assert config.version == CONFIG_VERSION and scheme_for(config).name == "frames"


def test_a_version_2_config_has_no_memory_as_when_it_was_written():
    values = json.loads(Config(**FRAMES_RECIPE).to_json())
    del values["memory_orders"], values["memory_smoothing"], values["representation"], values["chunk_tokens"]
    values["version"] = 2
    config = Config.from_json(json.dumps(values))
    assert config.memory_orders == [] and config.version == CONFIG_VERSION and scheme_for(config).name == "frames"
    assert Config(**FRAMES_RECIPE).memory_orders  # our frame recipe remembers


def test_a_version_3_config_is_a_frame_model():
    values = json.loads(Config(**FRAMES_RECIPE).to_json())
    del values["representation"], values["chunk_tokens"]
    values["version"] = 3
    assert Config.from_json(json.dumps(values)) == Config(**FRAMES_RECIPE)
    assert scheme_for(Config()).name == "events"


def test_the_style_joins_every_step_only_when_asked():
    from musicgen.model import build_sequence_model

    values = json.loads(Config().to_json())
    del values["style_every_step"]  # a config.json from before the setting
    config = Config.from_json(json.dumps(values))
    assert config == Config() and not config.style_every_step
    assert "style_every_step" not in [layer.name for layer in build_sequence_model(config, 40).layers]
    every_step = build_sequence_model(Config(style_every_step=True), 40)
    assert "style_every_step" in [layer.name for layer in every_step.layers]


def test_an_unknown_representation_is_named():
    with pytest.raises(ConfigError, match="representation must be one of events, frames"):
        Config(representation="piano-roll")


def test_round_trip_through_json(tmp_path):
    config = Config(tracks="all", rnn_units=32, dropout=0.1, seed=7)
    config.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == config


@pytest.mark.parametrize("change, words", [
    ({"tracks": "drums"}, "tracks must be one of"),
    ({"version": 99}, "config version 99"),
    ({"seq_len": 0}, "seq_len must be at least 1"),
    ({"dropout": 1.5}, "dropout"),
    ({"memory_orders": [0, 4]}, "memory_orders must be"),
    ({"memory_orders": "1,2"}, "memory_orders must be"),
    ({"memory_smoothing": 0}, "memory_smoothing must be above 0"),
    ({"colour": "blue"}, "unknown settings: colour"),
])
def test_bad_configs_are_refused_with_a_reason(change, words):
    values = json.loads(Config().to_json()) | change
    with pytest.raises(ConfigError, match=words):
        Config.from_json(json.dumps(values))


def test_a_version_5_config_has_no_start_tokens_as_when_it_was_written():
    values = json.loads(Config().to_json())
    del values["start_tokens"], values["start"]
    values["version"] = 5
    config = Config.from_json(json.dumps(values))
    assert not config.start_tokens and config.version == CONFIG_VERSION
    assert Config().start_tokens and Config().start == "opening"
    with pytest.raises(ConfigError, match="start must be one of opening, middle"):
        Config(start="chorus")
