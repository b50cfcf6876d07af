"""The echo of the piece's earlier bars (musicgen.calibration.echo): its pointers, its fit, its file, the sampler."""
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import assert_refuses_damaged
from musicgen.calibration.echo import DISTANCES, RUN_EDGES, Echo, Recall

# A little grammar: 0 the bar line, 1-4 Position_0, _4, _8, _12, 5-9 notes.
BAR, P0, P4, P8, P12 = 0, 1, 2, 3, 4
GRAMMAR = SimpleNamespace(bar_id=BAR, positions=np.array([-1, 0, 4, 8, 12, -1, -1, -1, -1, -1]))
SHAPE = (len(DISTANCES), len(RUN_EDGES) + 1)


def recall(weights, history):
    return Echo(np.asarray(weights, float)).recalling(GRAMMAR, history)


def foretold(memory: Recall) -> list[int]:
    return [token for _, token in memory.blends]


def test_a_pointer_foretells_what_came_at_the_same_place_a_bar_back_and_finds_its_place_again():
    memory = recall(np.full(SHAPE, 0.5), [BAR, P0, 5, P8, 6, BAR, P0])
    assert foretold(memory) == [5]  # one bar back only: no bar two back yet
    memory.add(7)  # not what came there: on to where that bar went next
    assert foretold(memory) == [P8]
    memory.add(P4)  # a position that bar did not have: the next one it had
    assert foretold(memory) == [P8]
    memory.add(P8)
    assert foretold(memory) == [6]
    memory.add(6)
    assert foretold(memory) == [BAR]  # that bar ended there
    memory.add(BAR)
    assert foretold(memory) == [P0, P0]  # one and two bars back


def test_the_longer_a_pointer_has_been_right_the_more_it_is_trusted():
    weights = np.zeros(SHAPE)
    weights[0] = [0.0, 0.1, 0.5, 0.9]
    memory = recall(weights, [BAR, P0, 5, 6, 7, 8, 9, BAR])
    seen = []
    for token in (P0, 5, 6, 7, 8):
        seen.append(memory.blends[0][0] if memory.blends else 0.0)  # (a weight of 0 blends nothing)
        memory.add(token)
    assert seen == [0.0, 0.1, 0.1, 0.1, 0.5]


def test_the_blend_is_a_distribution_and_one_id_reads_the_same_as_all():
    memory = recall(np.full(SHAPE, 0.3), [BAR, P0, 5, P8, 6, BAR, P0, 5, P8, 7, BAR, P0])
    network = np.random.default_rng(0).dirichlet(np.ones(10))
    mixed = memory.mix(network)
    assert mixed.sum() == pytest.approx(1.0)
    assert mixed[5] > network[5]  # both earlier bars had 5 here
    assert all(memory.mix_one(float(network[token]), token) == pytest.approx(mixed[token]) for token in range(10))
    twin = memory.copy()
    twin.add(9)
    assert np.allclose(memory.mix(network), mixed)  # the copy goes its own way


def test_fitted_on_songs_that_repeat_every_two_bars_it_trusts_two_bars_back_and_not_one():
    a, b = [BAR, P0, 5, P8, 6], [BAR, P4, 8, P12, 9]
    songs = [np.array([9, *(a + b) * 6, BAR]) for _ in range(3)]  # (the first id is read, never scored)
    network = [np.full(len(ids) - 1, 0.1) for ids in songs]  # a network that knows nothing: 1/10 each
    echo = Echo.fitted(songs, network, GRAMMAR)
    assert echo.weights.shape == SHAPE
    assert echo.weights[1, 1] > 0.9 and echo.weights[1, 2] > 0.9  # two bars back: always right
    assert echo.weights[0, 0] < 0.3  # one bar back: right only where that bar ended too


def test_a_folder_keeps_it_and_a_damaged_file_is_refused(tmp_path):
    echo = Echo(np.linspace(0.0, 0.9, np.prod(SHAPE)).reshape(SHAPE))
    echo.save(tmp_path)
    assert np.allclose(Echo.load(tmp_path).weights, echo.weights, atol=1e-6)
    assert Echo.load(tmp_path / "nowhere") is None
    good = {"distances": list(DISTANCES), "run_edges": list(RUN_EDGES), "weights": echo.weights.tolist()}
    assert_refuses_damaged(tmp_path, "echo.json", Echo.load,
                           [{**good, "weights": [[1.5] * SHAPE[1]] * SHAPE[0]}, {**good, "distances": [1, 2]},
                            {**good, "weights": [0.1, 0.2]}, [0.1], {"weights": good["weights"]}], "not an echo")


def test_training_fits_it_and_sampling_with_a_sure_echo_plays_the_first_bar_again(tiny_events_model):
    from musicgen.schemes.events import piece_memory
    from musicgen.stateful import sample

    model = tiny_events_model
    events = model.vocab
    assert model.corrections.echo is not None and isinstance(piece_memory(model), Recall)
    sure = np.zeros(SHAPE)
    sure[0] = 0.999  # one bar back, whatever the run
    primer = [events.bos_id, events.grammar.bar_id]
    memory = Echo(sure).recalling(events.grammar, primer)
    rows = sample(model.steps, events.grammar, primer, [5, 5], seed=4, bars_in_primer=1, memory=memory)
    again = sample(model.steps, events.grammar, primer, [5, 5], seed=4, bars_in_primer=1, memory=memory)
    assert all(np.array_equal(row, twin) for row, twin in zip(rows, again))  # a pure function of its seed
    for row in rows:
        ids = np.concatenate([primer, row])
        bars = np.split(ids, np.flatnonzero(ids == events.grammar.bar_id))[1:]
        assert sum(np.array_equal(later, bars[0]) for later in bars[1:-1]) >= 2  # (the last: its bar line alone)
        events.decode(ids, 120.0)
