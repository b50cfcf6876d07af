"""Held-out measures: per-frame NLL of interpolated n-gram baselines on the same tokens as the model."""
from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np


class NGram:
    """An interpolated (Witten-Bell) n-gram over token ids, backing off down to a uniform distribution.

    Songs are left-padded with rests (id 0), as the network's windows are.
    """

    def __init__(self, songs: list[np.ndarray], vocab_size: int, order: int):
        self.order, self.vocab_size = order, vocab_size
        self.counts = [defaultdict(Counter) for _ in range(order)]  # [n][context tuple][next id]
        for song in songs:
            padded = [0] * (order - 1) + [int(i) for i in song]
            for position in range(order - 1, len(padded)):
                for n in range(order):
                    context = tuple(padded[position - n:position])
                    self.counts[n][context][padded[position]] += 1

    def probability(self, context: tuple, token: int) -> float:
        probability = 1.0 / self.vocab_size
        for n in range(self.order):
            following = self.counts[n].get(context[len(context) - n:] if n else ())
            if not following:
                continue
            total, types = sum(following.values()), len(following)
            probability = (following[token] + types * probability) / (total + types)
        return probability

    def nll(self, songs: list[np.ndarray]) -> float:
        """Mean negative log-likelihood per frame, in nats."""
        total, frames = 0.0, 0
        for song in songs:
            padded = [0] * (self.order - 1) + [int(i) for i in song]
            for position in range(self.order - 1, len(padded)):
                context = tuple(padded[position - self.order + 1:position])
                total -= math.log(self.probability(context, padded[position]))
                frames += 1
        return total / max(frames, 1)


def ngram_baselines(train_songs: list[np.ndarray], validation_songs: list[np.ndarray], vocab_size: int,
                    orders=(1, 2, 3, 4)) -> dict[str, float]:
    """{"1-gram": nll, ...} on the validation songs for n-grams fitted on the training songs."""
    return {f"{order}-gram": NGram(train_songs, vocab_size, order).nll(validation_songs) for order in orders}
