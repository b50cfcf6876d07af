"""Interpolated Witten-Bell n-grams over token ids: the baseline every model is measured against,
and the piece memory's blend of them with a network's probabilities."""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from musicgen.memory import PieceMemory


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
        # (total, kinds) of what followed each context, counted once rather than at every look-up
        self.sizes = [{context: (sum(following.values()), len(following)) for context, following in level.items()}
                      for level in self.counts]

    def probability(self, context: tuple, token: int, order: int | None = None) -> float:
        """p(token | context) with contexts up to order - 1 tokens (default: this n-gram's order)."""
        probability = 1.0 / self.vocab_size
        for n in range(order or self.order):
            key = context[len(context) - n:] if n else ()
            following = self.counts[n].get(key)
            if not following:
                continue
            total, types = self.sizes[n][key]
            probability = (following[token] + types * probability) / (total + types)
        return probability

    def target_probabilities(self, song: np.ndarray, order: int | None = None) -> list[float]:
        """The probability of each token of song given the tokens before it."""
        padded = [0] * (self.order - 1) + [int(i) for i in song]
        return [self.probability(tuple(padded[position - self.order + 1:position]), padded[position], order)
                for position in range(self.order - 1, len(padded))]


def ngram_baselines(train_songs: list[np.ndarray], validation_songs: list[np.ndarray], vocab_size: int,
                    orders=(1, 2, 3, 4), memory: PieceMemory | None = None) -> tuple[dict, dict]:
    """({"1-gram": nll, ...}, the same with memory or {}) on the validation songs, fitted on the training songs.

    The n-grams with the piece memory show how much of the network's lead the memory alone makes.
    """
    plain, remembering = {}, {}
    for order in orders:
        ngram = NGram(train_songs, vocab_size, order)
        per_song = [ngram.target_probabilities(song) for song in validation_songs]
        plain[f"{order}-gram"] = mean_nll(np.concatenate(per_song))
        if memory is not None:
            remembering[f"{order}-gram"] = mean_nll(np.concatenate(
                [remembered(memory, song, probabilities) for song, probabilities in zip(validation_songs, per_song)]))
    return plain, remembering


def mean_nll(probabilities) -> float:
    return float(-np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), 1e-12)).mean())


def remembered(memory: PieceMemory, song: np.ndarray, probabilities) -> np.ndarray:
    """Each frame's probability after blending in the memory of the song before it (memory starts empty)."""
    memory = memory.copy()
    blended = np.empty(len(song))
    for position, (token_id, probability) in enumerate(zip(song, probabilities)):
        blended[position] = memory.mix_one(float(probability), int(token_id))
        memory.add(int(token_id))
    return blended
