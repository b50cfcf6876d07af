import numpy as np
import pytest

from musicgen.config import Config
from musicgen.memory import PieceMemory

VOCAB = 8
UNIFORM = np.full(VOCAB, 1 / VOCAB)


def test_an_empty_memory_leaves_the_network_alone():
    assert np.array_equal(PieceMemory().mix(UNIFORM), UNIFORM)


def test_it_recalls_what_followed_the_longest_matching_context():
    # After "1 2" came 3, after "4 2" came 5: one frame of context ("2") cannot tell them apart, two can.
    memory = PieceMemory(orders=(1, 2), smoothing=1.0, history=[1, 2, 3, 4, 2, 5, 1, 2])
    mixed = memory.mix(UNIFORM)
    assert mixed.sum() == pytest.approx(1.0)
    assert mixed[3] > 2 * mixed[5] > 2 * UNIFORM[5]
    assert all(mixed[token] < UNIFORM[token] for token in (0, 6, 7))  # what never came next loses weight


def test_more_smoothing_trusts_the_network_longer():
    history = [1, 2, 3] * 4 + [1, 2]
    strong, gentle = (PieceMemory(smoothing=s, history=history).mix(UNIFORM)[3] for s in (1.0, 100.0))
    assert strong > gentle > UNIFORM[3]


def test_mix_one_agrees_with_mix_and_copies_are_independent():
    rng = np.random.default_rng(0)
    memory = PieceMemory(history=rng.integers(0, VOCAB, 200))
    network = rng.dirichlet(np.ones(VOCAB))
    twin = memory.copy()
    for token in range(VOCAB):
        assert memory.mix_one(network[token], token) == pytest.approx(memory.mix(network)[token])
    twin.add(3)
    assert not np.allclose(twin.mix(network), memory.mix(network))


def test_a_config_without_memory_gives_none():
    assert PieceMemory.from_config(Config(memory_orders=[])) is None
    memory = PieceMemory.from_config(Config(memory_orders=[4, 1], memory_smoothing=7.0), history=[1, 2])
    assert (memory.orders, memory.smoothing, memory.recent[-2:]) == ((1, 4), 7.0, [1, 2])
