"""The echo of the piece's earlier bars (musicgen.calibration.echo): its pointers, its fit, its file, the sampler."""
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import assert_refuses_damaged
from musicgen.calibration.echo import DISTANCES, RUN_EDGES, Echo, Recall, return_distances

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


def test_a_pointer_right_to_the_end_of_its_bar_goes_on_into_the_next_bar_trusted_as_before():
    weights = np.zeros(SHAPE)
    weights[0] = [0.0, 0.1, 0.5, 0.9]
    memory = recall(weights, [BAR, P0, 5, BAR, P0, 5, BAR])  # right on P0, 5 and the bar line: a run of 3
    assert memory.blends == [(0.1, P0)]
    memory = recall(weights, [BAR, P0, 5, P8, 6, BAR, P0, 5, BAR])  # this bar ended before that one did
    assert memory.blends == []


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


@pytest.mark.parametrize("kind", ["echo", "piece memory"])
def test_the_samplers_blend_in_place_draws_as_the_blend_does_where_the_network_may_go(kind):
    from musicgen.memory import PieceMemory

    history = [BAR, P0, 5, P8, 7, BAR, P0, 6, P8, 7, BAR, P0]  # 5 and 6 came after P0
    memory = recall(np.full(SHAPE, 0.3), history) if kind == "echo" else PieceMemory(smoothing=1.0, history=history)
    network = np.random.default_rng(0).dirichlet(np.ones(10))
    network[[6, 8]] = 0.0  # ids the grammar forbids here: the blend may not bring them back
    weights = 7.5 * network  # unnormalized, as the sampler holds them
    memory.mix_weights(weights)
    expected = memory.mix(network / network.sum()) * (network > 0)
    assert np.allclose(weights / weights.sum(), expected / expected.sum())
    assert weights[5] / weights.sum() > network[5] / network.sum()  # it did blend
    assert weights[6] == 0.0


def test_fitted_on_songs_that_repeat_every_two_bars_it_trusts_two_bars_back_and_not_one():
    a, b = [BAR, P0, 5, P8, 6], [BAR, P4, 8, P12, 9]
    songs = [np.array([9, *(a + b) * 6, BAR]) for _ in range(3)]  # (the first id is read, never scored)
    network = [np.full(len(ids) - 1, 0.1) for ids in songs]  # a network that knows nothing: 1/10 each
    echo = Echo.fitted(songs, network, GRAMMAR)
    assert echo.weights.shape == SHAPE
    assert echo.weights[1, 1] > 0.9 and echo.weights[1, 2] > 0.9  # two bars back: always right
    assert echo.weights[0, 0] < 0.3  # one bar back: right only where that bar ended too


def test_a_returning_section_recalls_its_first_time_further_back_than_any_distance():
    first, between = [BAR, P0, 5, P8, 6], [BAR, P4, 7]
    returns = [0] * 10 + [10]  # bar 10 returns to bar 0 (A ... A)
    memory = Echo(np.zeros(SHAPE), np.full(SHAPE[1], 0.5)).recalling(GRAMMAR, [], returns)
    assert memory.recalls_returns
    for token in first + between * 9 + [BAR, P0]:
        memory.add(token)
    assert foretold(memory) == [5]  # bar 0's, ten bars back (the distances weigh nothing)
    memory.add(5)
    memory.add(P8)
    assert foretold(memory) == [6] and memory.blends[0][0] == 0.5
    memory.add(6)
    memory.add(BAR)  # bar 11 returns to nothing
    assert foretold(memory) == []
    without = Echo(np.zeros(SHAPE)).recalling(GRAMMAR, [], returns)  # an echo fitted without forms
    assert not without.recalls_returns


def test_a_songs_sections_say_how_far_back_each_returning_bar_lies():
    # i2 A4 B2 A3 (cut short) A4 (an A after the first A's length)
    sections = [(0, "i", 2), (2, "A", 4), (6, "B", 2), (8, "A", 3), (11, "A", 4)]
    assert return_distances(sections, 14) == [0] * 8 + [6, 6, 6] + [9, 9, 9]


def test_fitted_on_songs_whose_sections_come_back_it_trusts_the_return():
    a, b, c = [BAR, P0, 5, P8, 6], [BAR, P4, 8, P12, 9], [BAR, P12, 7]
    song = [9, *a, *b, *c, *c, *c, *c, *c, *c, *c, *c, *c, *a, *b, BAR]  # bars 11 and 12 play bars 0 and 1
    songs = [np.array(song)] * 3
    network = [np.full(len(ids) - 1, 0.1) for ids in songs]
    returns = [[0] * 11 + [11, 11]] * 3
    echo = Echo.fitted(songs, network, GRAMMAR, returns)
    assert echo.returns is not None and echo.returns[1] > 0.9  # right on every token of the return
    assert Echo.fitted(songs, network, GRAMMAR).returns is None  # no forms: no return pointer


def test_a_folder_keeps_it_and_a_damaged_file_is_refused(tmp_path):
    echo = Echo(np.linspace(0.0, 0.9, np.prod(SHAPE)).reshape(SHAPE))
    echo.save(tmp_path)
    assert np.allclose(Echo.load(tmp_path).weights, echo.weights, atol=1e-6)
    assert Echo.load(tmp_path).returns is None
    Echo(echo.weights, np.array([0.1, 0.2, 0.3, 0.4])).save(tmp_path)
    assert np.allclose(Echo.load(tmp_path).returns, [0.1, 0.2, 0.3, 0.4])
    assert Echo.load(tmp_path / "nowhere") is None
    good = {"distances": list(DISTANCES), "run_edges": list(RUN_EDGES), "weights": echo.weights.tolist()}
    assert_refuses_damaged(tmp_path, "echo.json", Echo.load,
                           [{**good, "weights": [[1.5] * SHAPE[1]] * SHAPE[0]}, {**good, "distances": [1, 2]},
                            {**good, "weights": [0.1, 0.2]}, [0.1], {"weights": good["weights"]},
                            {**good, "returns": [0.1, 0.2]}, {**good, "returns": [2.0, 0.1, 0.1, 0.1]}], "not an echo")


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


def test_a_form_sampled_with_a_sure_return_plays_its_first_time_again_through_the_echo(tiny_events_model):
    from musicgen.schemes.events import piece_memory
    from musicgen.steering import Sections
    from musicgen.stateful import sample

    model = tiny_events_model
    events = model.vocab
    sections = Sections((("A", 2), ("B", 1), ("A", 2)))
    primer = [events.bos_id, events.grammar.bar_id]
    sure = Echo(np.zeros(SHAPE), np.full(SHAPE[1], 0.999999))
    memory = sure.recalling(events.grammar, primer, sections.copy_distances())
    rows = sample(model.steps, events.grammar, primer, [5] * 4, seed=2, bars_in_primer=1, memory=memory,
                  sections=sections)
    for row in rows:
        ids = np.concatenate([primer, row])
        bars = np.split(ids, np.flatnonzero(ids == events.grammar.bar_id))[1:]
        assert np.array_equal(bars[3], bars[0]) and np.array_equal(bars[4][:len(bars[1])], bars[1])
    # The echo recalls the return, so nothing copies it: with the return trusted not at all, it is new.
    unsure = Echo(np.zeros(SHAPE), np.zeros(SHAPE[1])).recalling(events.grammar, primer, sections.copy_distances())
    rows = sample(model.steps, events.grammar, primer, [5] * 4, seed=2, bars_in_primer=1, memory=unsure,
                  sections=sections)
    bars = [np.split(ids, np.flatnonzero(ids == events.grammar.bar_id))[1:] for ids in
            (np.concatenate([primer, row]) for row in rows)]
    assert not all(np.array_equal(each[3], each[0]) for each in bars)
    # The shipped echo has no return pointer: the form's returning bars are copied as before.
    assert not piece_memory(model, primer, sections.copy_distances()).recalls_returns
