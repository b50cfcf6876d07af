"""The attention network (Config.network = "attention"): Keras and the sampler's NumPy step agree,
its file loads in safe mode, and the sampler writes music from it as from a GRU."""
import numpy as np
import pytest

from musicgen.config import Config, ConfigError
from musicgen.representations.events import Events

SMALL = Config(network="attention", attention_width=32, attention_heads=4, attention_layers=2)


@pytest.fixture(scope="module")
def network():
    import keras

    from musicgen.model import build_network

    keras.utils.set_random_seed(2)
    model = build_network(SMALL, 40)
    rng = np.random.default_rng(1)
    for layer in model.layers:  # norms and biases away from 1 and 0, so that reading them wrong shows
        weights = layer.get_weights()
        if weights:
            layer.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in weights])
    return model


def keras_log_probabilities(network, ids) -> np.ndarray:
    logits = network.predict(ids[None, :-1], verbose=0)[0].astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    return logits[np.arange(len(ids) - 1), ids[1:]] - np.log(np.exp(logits).sum(axis=1))


def test_the_cached_numpy_step_gives_what_keras_gives_from_the_network_and_its_file(network, tmp_path):
    from musicgen.model import load_keras
    from musicgen.steps import AttentionSteps, load_steps, sequence_log_probabilities

    network.save(tmp_path / "model.keras")
    assert load_keras(tmp_path / "model.keras").count_params() == network.count_params()  # safe mode loads it
    ids = np.random.default_rng(0).integers(0, 40, 40)
    expected = keras_log_probabilities(network, ids)
    for steps in (AttentionSteps.of(network), load_steps(tmp_path / "model.keras")):
        assert isinstance(steps, AttentionSteps) and steps.heads == 4
        assert np.allclose(sequence_log_probabilities(steps, ids), expected, atol=1e-4)


def test_the_cache_slides_past_its_window(network):
    """A window shorter than the sequence: exact while it is not full, then the oldest tokens drop
    out (the next token's prediction no longer depends on them) and reading goes on."""
    from musicgen.steps import AttentionSteps, sequence_log_probabilities

    steps = AttentionSteps.of(network)
    steps.window = 8
    ids = np.random.default_rng(0).integers(0, 40, 30)
    windowed = sequence_log_probabilities(steps, ids)
    assert np.allclose(windowed[:7], keras_log_probabilities(network, ids)[:7], atol=1e-4)
    assert np.isfinite(windowed).all()
    changed_start = ids.copy()
    changed_start[0] = (ids[0] + 1) % 40  # 29 tokens later it is out of every layer's reach
    assert np.allclose(sequence_log_probabilities(steps, changed_start)[-1], windowed[-1], atol=1e-5)
    steps.window = 1024
    assert not np.allclose(sequence_log_probabilities(steps, changed_start)[-1], windowed[-1], atol=1e-5)


def test_the_sampler_writes_decodable_music_from_an_attention_network():
    import keras

    from musicgen.model import build_network
    from musicgen.stateful import sample
    from musicgen.steps import AttentionSteps

    events = Events.new()
    keras.utils.set_random_seed(4)
    steps = AttentionSteps.of(build_network(SMALL, len(events)))
    grammar = events.grammar
    first = sample(steps, grammar, [events.bos_id], [4, 4, 4], seed=3, max_tokens_per_bar=40)
    again = sample(steps, grammar, [events.bos_id], [4, 4, 4], seed=3, max_tokens_per_bar=40)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # a pure function of its seed
    for ids in first:
        state = grammar.state_after([events.bos_id])
        for token_id in ids:
            assert grammar.allowed(state)[token_id]
            state = grammar.advance(state, token_id)
        assert events.decode(np.concatenate([[events.bos_id], ids])).note_count > 0


def test_an_attention_config_is_checked(tmp_path):
    from train.fit import train

    with pytest.raises(ConfigError, match="multiple of attention_heads"):
        Config(network="attention", attention_width=30, attention_heads=4)
    with pytest.raises(ConfigError, match="network must be one of"):
        Config(network="transformer")
    with pytest.raises(ConfigError, match="reads event tokens"):
        train(Config(network="attention", representation="frames"), None, tmp_path)


def test_a_card_names_the_network_it_describes():
    from publish.folder import network_words

    assert "GRU(512)" in network_words(Config())
    words = network_words(Config(network="attention"))
    assert "4 causal attention blocks" in words and "4 heads" in words and "GRU" not in words


def test_python_m_train_trains_an_attention_model_that_generates_and_accompanies(pop_songs, tmp_path, capsys):
    """--network attention end to end: trained, its corrections fitted, loaded as the app loads a
    model, a piece composed and a tune accompanied, the card naming it."""
    import pretty_midi

    from musicgen.__main__ import main as musicgen_main
    from musicgen.generate import compose
    from musicgen.hub import load
    from musicgen.request import Request
    from musicgen.score import ACCOMPANIMENT, MELODY
    from musicgen.steps import AttentionSteps
    from test_accompany import tune_file
    from train.__main__ import main as train_main

    out = tmp_path / "attention"
    assert train_main(["--data", str(pop_songs), "--out", str(out), "--network", "attention", "--attention-width", "16",
                       "--attention-heads", "2", "--attention-layers", "1", "--chunk-tokens", "64", "--batch-size", "4",
                       "--epochs", "1", "--validation-share", "0.34", "--style-min-songs", "2"]) == 0
    assert Config.load(out / "config.json").network == "attention"
    model = load(str(out))
    assert isinstance(model.steps, AttentionSteps) and model.steps.window == 64  # the chunk: what it learned to see
    piece = compose(model, Request.build(model.config, primer="note:C4", seconds=6.0, seed=2))[0]
    assert sum(len(instrument.notes) for instrument in piece.midi.instruments) > 1
    tune = tune_file(tmp_path / "tune.mid")
    assert musicgen_main(["accompany", str(tune), "--model", str(out), "--out", str(tmp_path / "x.mid")]) == 0
    parts = {i.name: i for i in pretty_midi.PrettyMIDI(str(tmp_path / "x.mid")).instruments}
    assert set(parts) == {MELODY, ACCOMPANIMENT} and len(parts[MELODY].notes) == 16


def test_the_evaluation_reads_an_attention_network_as_far_back_as_its_cache(network):
    """Windows overlapping by half: each position is scored from half a window to a window back."""
    from musicgen.model import read_logits

    ids = np.random.default_rng(5).integers(0, 40, 40)
    logits = read_logits(network, ids[None], window=16)[0]
    assert np.allclose(logits[:16], network.predict(ids[None, :16], verbose=0)[0], atol=1e-4)  # the first window
    for position, start in ((23, 8), (24, 16), (32, 24), (39, 24)):  # the window whose last half holds it
        expected = network.predict(ids[None, start:position + 1], verbose=0)[0, -1]
        assert np.allclose(logits[position], expected, atol=1e-4), position
    assert not np.allclose(logits[32], network.predict(ids[None, :33], verbose=0)[0, -1], atol=1e-3)
