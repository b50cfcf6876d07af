import json

import pytest

from musicgen.config import Config, ConfigError


def test_defaults_are_the_original_recipe():
    config = Config()
    assert (config.frames_per_second, config.seq_len, config.embedding_dim) == (5, 50, 100)
    assert (config.rnn_layers, config.rnn_units, config.dropout) == (3, 128, 0.3)
    assert (config.dense_units, config.batch_size) == (64, 64)


def test_round_trip_through_json(tmp_path):
    config = Config(tracks="all", rnn_units=32, dropout=0.1, seed=7)
    config.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == config


@pytest.mark.parametrize("change, words", [
    ({"tracks": "drums"}, "tracks must be one of"),
    ({"version": 99}, "config version 99"),
    ({"seq_len": 0}, "seq_len must be at least 1"),
    ({"dropout": 1.5}, "dropout"),
    ({"colour": "blue"}, "unknown settings: colour"),
])
def test_bad_configs_are_refused_with_a_reason(change, words):
    values = json.loads(Config().to_json()) | change
    with pytest.raises(ConfigError, match=words):
        Config.from_json(json.dumps(values))
