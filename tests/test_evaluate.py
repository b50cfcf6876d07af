import math

import numpy as np

from train.evaluate import NGram, ngram_baselines


def test_ngram_probabilities_sum_to_one_and_learn_order():
    songs = [np.array([1, 2, 3, 1, 2, 3, 1, 2, 3])]
    bigram = NGram(songs, vocab_size=5, order=2)
    for context in [(1,), (3,), (4,), (0,)]:
        assert math.isclose(sum(bigram.probability(context, token) for token in range(5)), 1.0)
    assert bigram.probability((1,), 2) > 0.5 > bigram.probability((1,), 3)


def test_higher_orders_beat_a_unigram_on_a_repeating_pattern():
    pattern = np.array([1, 2, 2, 3, 1, 2, 2, 3] * 10)
    scores = ngram_baselines([pattern], [pattern[:16]], vocab_size=4, orders=(1, 3))
    assert scores["3-gram"] < scores["1-gram"]
    assert scores["1-gram"] <= math.log(4) + 0.1
