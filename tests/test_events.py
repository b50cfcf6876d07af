"""The event representation: Score <-> tokens, the beat grid, the grammar, and stateful sampling."""
import json

import numpy as np
import pytest

from conftest import POP_SHIFT_SECONDS, ROOT, pop_song_tracks, write_midi
from musicgen.config import Config
from musicgen.midi import MidiError
from musicgen.representations.events import Events
from musicgen.score import ACCOMPANIMENT, MELODY, load_score

POP909 = ROOT.parent / "shared" / "datasets" / "pop909"


@pytest.fixture(scope="module")
def events() -> Events:
    return Events.new()


def onsets_match(before: np.ndarray, after: np.ndarray, tolerance_beats: float = 0.25) -> bool:
    """Every note of `before` comes back, with its pitch, within tolerance of its onset."""
    if len(before) != len(after):
        return False
    before = before[np.lexsort((before[:, 2], before[:, 0]))]
    after = after[np.lexsort((after[:, 2], after[:, 0]))]
    return bool(np.all(np.abs(before[:, 0] - after[:, 0]) <= tolerance_beats) and
                np.array_equal(before[:, 2], after[:, 2]))


def test_a_plain_midi_round_trips_within_a_sixteenth_with_its_parts(tmp_path, events):
    path = write_midi(tmp_path / "tune.mid", pop_song_tracks(0), tempo=120.0)  # on its own tick grid
    score = load_score(path)
    assert set(score.parts) == {MELODY, ACCOMPANIMENT} and score.tempo_bpm == pytest.approx(120.0)
    back = events.decode(events.encode(score), score.tempo_bpm)
    for part in (MELODY, ACCOMPANIMENT):
        assert onsets_match(score.parts[part], back.parts[part], 0.125), part
    midi = back.to_midi()
    assert [instrument.name for instrument in midi.instruments] == [MELODY, ACCOMPANIMENT]
    assert midi.instruments[0].program != midi.instruments[1].program  # a lead over the piano
    assert midi.time_signature_changes[0].numerator == 4
    assert midi.get_tempo_changes()[1][0] == pytest.approx(120.0)


def test_the_beat_annotation_puts_shifted_notes_on_the_grid_and_the_pickup_before_bar_one(pop_songs):
    score = load_score(pop_songs / "001" / "001.mid")
    melody = score.parts[MELODY]
    onsets = melody[:, 0]
    assert np.allclose(onsets * 4, np.round(onsets * 4), atol=0.02)  # every onset on a sixteenth
    # The first note is the pickup (last beat of bar 0); the second opens bar 1.
    assert onsets[0] == pytest.approx(3.0, abs=0.02) and onsets[1] == pytest.approx(4.0, abs=0.02)
    assert score.tempo_bpm == pytest.approx(120.0, rel=0.01)
    # Without the annotation the same notes sit off the beat by the shift.
    plain = load_score((pop_songs / "001" / "001.mid").read_bytes())
    assert plain.parts[MELODY][0, 0] == pytest.approx(POP_SHIFT_SECONDS * 2, abs=0.01)


@pytest.mark.skipif(not POP909.is_dir(), reason="../shared/datasets/pop909 is not here")
def test_a_pop909_song_round_trips_within_a_sixteenth_with_both_parts(events):
    score = load_score(POP909 / "001" / "001.mid")
    on_grid = np.abs(score.all_notes()[:, 0] * 4 - np.round(score.all_notes()[:, 0] * 4)) < 0.25
    assert on_grid.mean() > 0.94  # the dataset's README: 94-100% against the annotated beats
    back = events.decode(events.encode(score), score.tempo_bpm)
    for part in (MELODY, ACCOMPANIMENT):
        original, decoded = score.parts[part], back.parts[part]
        assert len(decoded) >= 0.97 * len(original), part  # a few same-pitch duplicates merge
        nearest = np.abs(original[:, 0][:, None] - decoded[:, 0][None, :]).min(axis=1)
        assert np.mean(nearest <= 0.125) > 0.99, part


@pytest.mark.skipif(not POP909.is_dir(), reason="../shared/datasets/pop909 is not here")
def test_triple_time_pop909_songs_are_skipped_with_a_reason():
    rows = [line.split(",") for line in (POP909 / "index.csv").read_text(encoding="utf-8").splitlines()[1:]]
    triple = next(row[0] for row in rows if row[4] == "3")
    with pytest.raises(MidiError, match="3/4 time"):
        load_score(POP909 / triple / f"{triple}.mid")


def test_a_pitch_written_twice_at_one_position_is_one_note(events):
    tokens = ["Bar_None", "Position_0", "Program_0", "Pitch_60", "Velocity_95", "Duration_1.0.4",
              "Program_0", "Pitch_60", "Velocity_95", "Duration_2.0.4", "Program_0", "Pitch_64", "Velocity_95",
              "Duration_1.0.4"]
    score = events.decode([events.vocab[token] for token in tokens])
    notes = score.parts[ACCOMPANIMENT]
    assert notes[:, 2].tolist() == [60, 64] and notes[0, 1] == 2.0  # the longer of the two kept


def test_key_normalization_and_transposition_tables(events):
    from musicgen.score import Score

    d_major = Score({MELODY: np.array([[i, i + 1, p, 90] for i, p in enumerate((62, 64, 66, 67, 69, 71, 73, 74))], float)})
    assert d_major.key_shift() == -2
    ids = events.encode(d_major)
    up = events.transposition(3)[ids]
    assert events.pitch_range(up) == tuple(p + 3 for p in events.pitch_range(ids))
    assert np.array_equal(events.transposition(0)[ids], ids)


def test_the_tokenizer_config_is_json_beside_the_weights(tmp_path, events):
    events.save(tmp_path)
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    assert data["tokenization"] == "REMI"
    again = Events.load(tmp_path)
    assert again.vocab == events.vocab and again.styles == events.styles


def struck(events: Events, ids) -> set:
    """The (bar, position, program, pitch) of every note the tokens write."""
    notes, bar, position, program = set(), -1, 0, None
    for token in (events.tokens[i] for i in ids):
        kind, _, value = token.partition("_")
        if kind == "Bar":
            bar += 1
        elif kind == "Position":
            position = int(value)
        elif kind == "Program":
            program = int(value)
        elif kind == "Pitch":
            notes.add((bar, position, program, int(value)))
    return notes


def test_thousands_of_sequences_from_an_untrained_model_all_decode(events):
    import keras

    from musicgen.model import build_sequence_model
    from musicgen.stateful import sample
    from musicgen.steps import StepWeights

    keras.utils.set_random_seed(1)
    network = build_sequence_model(Config(embedding_dim=8, rnn_units=16), len(events))
    weights = StepWeights.of(network)
    grammar = events.grammar
    sequences = []
    for batch in range(8):
        sequences += sample(weights, grammar, [events.bos_id], [2] * 250, temperature=1.5, seed=batch,
                            max_tokens_per_bar=40)
    assert len(sequences) == 2000
    for ids in sequences:
        state = grammar.state_after([events.bos_id])
        for token_id in ids:  # every token is one the grammar allowed where it stands
            assert grammar.allowed(state)[token_id]
            state = grammar.advance(state, token_id)
        assert np.sum(ids == grammar.bar_id) <= 2
        score = events.decode(np.concatenate([[events.bos_id], ids]))
        assert score.note_count == len(struck(events, ids))  # every note decodes (a pitch struck twice at once: once)
    notes = sum(events.decode(ids).note_count for ids in sequences)
    assert notes > 1000  # and an untrained model writes notes, not only bars


def test_the_numpy_step_gives_what_keras_gives(tiny_events_model):
    from musicgen.steps import sequence_log_probabilities

    ids = np.array([tiny_events_model.vocab.bos_id, *np.random.default_rng(0).integers(3, 100, 30)])
    logits = tiny_events_model.network.predict(ids[None, :-1], verbose=0)[0].astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    expected = logits[np.arange(30), ids[1:]] - np.log(np.exp(logits).sum(axis=1))
    assert np.allclose(sequence_log_probabilities(tiny_events_model.steps, ids), expected, atol=1e-4)


def test_a_stack_of_grus_reads_as_keras_reads_it_from_the_network_and_from_its_file(tmp_path):
    """Two GRU layers (--rnn-layers 2): the numpy step, with weights taken from the network or read
    straight from its .keras file, gives Keras' own log-probabilities."""
    import keras

    from musicgen.model import build_sequence_model
    from musicgen.steps import StepWeights, load_steps, sequence_log_probabilities

    keras.utils.set_random_seed(1)
    network = build_sequence_model(Config(embedding_dim=8, rnn_units=16, rnn_layers=2), 40)
    network.save(tmp_path / "model.keras")
    ids = np.random.default_rng(0).integers(0, 40, 25)
    logits = network.predict(ids[None, :-1], verbose=0)[0].astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    expected = logits[np.arange(24), ids[1:]] - np.log(np.exp(logits).sum(axis=1))
    for weights in (StepWeights.of(network), load_steps(tmp_path / "model.keras")):
        assert weights.units == [16, 16]
        assert np.allclose(sequence_log_probabilities(weights, ids), expected, atol=1e-4)


def test_a_large_gru_steps_in_float16_as_close_to_keras_as_sampling_can_tell():
    """A recurrent matrix of 1 MB or more (here 320 units) is kept in float16 for the sampler:
    its distributions stay within a hair of Keras's (KL under 1e-5 nats a token with these random
    weights; the shipped model's: 2e-8), and a small one stays float32."""
    from musicgen.model import build_sequence_model
    from musicgen.steps import HALF_FROM_BYTES, StepWeights

    network = build_sequence_model(Config(embedding_dim=16, rnn_units=320), 60)
    rng = np.random.default_rng(0)
    for layer in network.layers:  # weights large enough that the state and the logits move
        layer.set_weights([rng.normal(0, 0.15, w.shape).astype(np.float32) for w in layer.get_weights()])
    weights = StepWeights.of(network)
    assert weights.layers[0][2].dtype == np.uint16 and 3 * 320 * 320 * 4 >= HALF_FROM_BYTES
    ids = rng.integers(0, 60, 200)
    logits = network.predict(ids[None, :-1], verbose=0)[0].astype(np.float64)
    states, ours = weights.initial_states(1), []
    for token in ids[:-1]:
        step_logits, states = weights.step(np.array([token]), states)
        ours.append(step_logits[0].astype(np.float64))
    keras_log_p, our_log_p = (x - x.max(1, keepdims=True) for x in (logits, np.array(ours)))
    keras_log_p, our_log_p = (x - np.log(np.exp(x).sum(1, keepdims=True)) for x in (keras_log_p, our_log_p))
    kl = (np.exp(keras_log_p) * (keras_log_p - our_log_p)).sum(1)
    assert kl.mean() < 1e-5 and np.abs(keras_log_p - our_log_p).max() < 0.05
    assert np.abs(logits).std() > 0.5  # logits far from flat: the comparison could have failed
    small = StepWeights.of(build_sequence_model(Config(embedding_dim=8, rnn_units=16), 40))
    assert small.layers[0][2].dtype == np.float32


def test_the_sampler_reads_the_style_at_every_step_as_keras_does():
    """Greedy sampling from a network with StyleEveryStep (its projection made to matter) picks,
    at every step, the grammar-allowed id that the Keras network ranks first on the whole prefix;
    without the style's part of the input it would not."""
    import keras

    from musicgen.model import build_sequence_model
    from musicgen.stateful import sample
    from musicgen.steps import StepWeights

    events = Events.new(styles=["any", "A", "B"])
    keras.utils.set_random_seed(3)
    network = build_sequence_model(Config(embedding_dim=8, rnn_units=16, style_every_step=True), len(events))
    style_layer = network.get_layer("style_every_step")
    style_layer.set_weights([np.random.default_rng(0).normal(0, 2.0, (8, 8)).astype(np.float32)])
    weights = StepWeights.of(network)
    grammar = events.grammar
    for primer in ([events.bos_id], events.header("A")):  # the style drawn, or read with the primer
        ids = np.concatenate([primer, sample(weights, grammar, primer, [3], top_k=1, seed=0)[0]])
        logits = network.predict(ids[None, :-1], verbose=0)[0]
        state = grammar.state_after(ids[:len(primer)])
        for t in range(len(primer), len(ids)):
            allowed = np.flatnonzero(grammar.allowed(state))
            assert ids[t] == allowed[np.argmax(logits[t - 1, allowed])]
            state = grammar.advance(state, ids[t])
        unstyled = StepWeights(weights.embedding, weights.grus, weights.dense)
        assert not np.array_equal(ids[len(primer):], sample(unstyled, grammar, primer, [3], top_k=1, seed=0)[0])


def test_sampling_is_a_pure_function_of_its_seed(tiny_events_model):
    from musicgen.stateful import sample

    model = tiny_events_model
    first = sample(model.steps, model.vocab.grammar, [model.vocab.bos_id], [3, 3], seed=5)
    again = sample(model.steps, model.vocab.grammar, [model.vocab.bos_id], [3, 3], seed=5)
    other = sample(model.steps, model.vocab.grammar, [model.vocab.bos_id], [3, 3], seed=6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    # A variation is the same alone or beside others.
    alone = sample(model.steps, model.vocab.grammar, [model.vocab.bos_id], [3], seed=5)
    assert np.array_equal(alone[0], first[0])
