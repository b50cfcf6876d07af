"""The piece's memory of itself: what followed each recent context earlier in the same piece.

Songs repeat themselves (verses, choruses, riffs) at distances far beyond the network's
50-frame (10 s) window, so the network cannot know that the next frame is "what came after
this bar last time". The memory can: for the last 1, 2, 4, 8 and 16 frames it counts what
came next earlier in the piece, and blends those counts into the network's distribution,
longest context last, so that a long match has the final word. On held-out songs this takes
the per-frame NLL from 2.08 to 1.83 nats at the default smoothing (docs/measurements/frames-sampling.md);
a smaller smoothing predicts real songs better still, but a piece that remembers its own
output that eagerly locks into loops.

Each blend is an interpolated (Witten-Bell) estimate with the network as the prior:

    p(x) = (count(x) + smoothing * kinds * p_before(x)) / (total + smoothing * kinds)

where total counts what followed the context and kinds how many different frames did; so a
context always followed by the same frame soon outweighs the network, and one followed by
many different frames barely moves it.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

REST_ID = 0


class PieceMemory:
    def __init__(self, orders=(1, 2, 4, 8, 16), smoothing: float = 100.0, history=()):
        if not orders or min(orders) < 1:
            raise ValueError("memory orders must be one or more context lengths of at least 1 frame")
        if smoothing <= 0:
            raise ValueError("memory smoothing must be above 0")
        self.orders, self.smoothing = tuple(sorted(set(int(order) for order in orders))), float(smoothing)
        # Contexts reaching back before the start see rests, as the network's windows do.
        self.recent = [REST_ID] * self.orders[-1]
        self.followers: dict[tuple, Counter] = {}  # (order, *context) -> what came next, counted
        for token_id in np.asarray(history, dtype=np.int64).ravel():
            self.add(int(token_id))

    @classmethod
    def from_config(cls, config, history=()) -> PieceMemory | None:
        """The memory a config asks for (None when its memory_orders is empty), holding history."""
        if not config.memory_orders:
            return None
        return cls(config.memory_orders, config.memory_smoothing, history)

    def _contexts(self):
        for order in self.orders:
            yield (order, *self.recent[len(self.recent) - order:])

    def add(self, token_id: int) -> None:
        """The piece goes on with token_id."""
        for context in self._contexts():
            counts = self.followers.get(context)
            if counts is None:
                counts = self.followers[context] = Counter()
            counts[token_id] += 1
        del self.recent[0]
        self.recent.append(token_id)

    def mix(self, probabilities: np.ndarray) -> np.ndarray:
        """The network's next-frame probabilities (vocab,) blended with what the memory recalls."""
        # Each blend is p -> p * keep + counts * add, so the whole chain is one scaling of the
        # network's vector plus a few sparse additions: walked longest context first, each
        # addition is scaled by the keeps of the longer contexts blended after it.
        additions, keep = [], 1.0
        for context in reversed(list(self._contexts())):
            counts = self.followers.get(context)
            if counts:
                prior = self.smoothing * len(counts)
                total = sum(counts.values())
                additions.append((counts, keep / (total + prior)))
                keep *= prior / (total + prior)
        mixed = np.asarray(probabilities, dtype=np.float64) * keep
        for counts, scale in additions:
            for token_id, count in counts.items():
                mixed[token_id] += count * scale
        return mixed

    def mix_weights(self, weights: np.ndarray) -> None:
        """mix() in place on unnormalized probabilities (vocab,), where they are above 0 only."""
        total = weights.sum()
        weights[:] = np.where(weights > 0, self.mix(weights / total) * total, 0.0)

    def mix_one(self, probability: float, token_id: int) -> float:
        """mix() for one id: its blended probability, given the prior's probability of it."""
        for context in self._contexts():
            counts = self.followers.get(context)
            if counts:
                prior = self.smoothing * len(counts)
                probability = (counts[token_id] + prior * probability) / (sum(counts.values()) + prior)
        return probability

    def copy(self) -> PieceMemory:
        twin = PieceMemory.__new__(PieceMemory)
        twin.orders, twin.smoothing, twin.recent = self.orders, self.smoothing, list(self.recent)
        twin.followers = {context: Counter(counts) for context, counts in self.followers.items()}
        return twin
