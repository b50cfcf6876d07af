"""Bars played again: how often the training songs repeat a bar of theirs exactly, and the
sampler doing the same.

A GRU does not copy: its pieces never repeat a bar (0% of bars within 60 s), where POP909's songs
do (3.5% of the bars of their 60 s segments, 20% over whole songs): a phrase played again 8 bars
later, then its next bar too. Measured on the training songs' tokens, for each distance d: the
chance that a bar starts copying the bar d before it, and the chance that a copy, once begun, goes
on with the next bar. Saved beside the weights (repeats.json); at each bar line the sampler draws
whether the row's next bar copies an earlier one of its own, and feeds that bar's tokens in place
of draws (the network reads them, so what follows goes on from the copy).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPEATS_FILE = "repeats.json"
# Bars back: a chorus comes back 16-64 bars later (held out, nats/s with distances up to 16, 32,
# 48, 64, 96: 28.73, 25.65, 24.01, 23.88, 23.79; the network alone 30.04). Where two distances
# could start a copy, the longer is tried first.
DISTANCES = tuple(range(64, 0, -1))


def bars_of(ids, bar_id: int) -> list[tuple[int, ...]]:
    """The token tuples of each complete bar of ids (from after one bar line to the next, that
    bar line included)."""
    lines = np.flatnonzero(np.asarray(ids) == bar_id)
    return [tuple(int(token) for token in ids[start + 1:end + 1]) for start, end in zip(lines[:-1], lines[1:])]


@dataclass
class Repeats:
    FILE = REPEATS_FILE
    stage = "at a bar line"  # its hook: next_copy(rng, bars_written, copying) -> distance: the earlier bar a new bar plays again (0: none)

    chances: dict[int, tuple[float, float]]  # distance -> (a bar starts copying, a copy goes on)

    def __post_init__(self):
        self.order = sorted(self.chances, reverse=True)  # a file's own distances, the longest tried first

    @classmethod
    def measured(cls, songs_ids, bar_id: int) -> Repeats:
        """The chances in these songs' tokens (each song's bars against its own earlier bars)."""
        counts = {distance: np.zeros(4) for distance in DISTANCES}  # started, could start, went on, could go on
        for ids in songs_ids:
            bars = bars_of(ids, bar_id)
            for distance in DISTANCES:
                copying = False
                for bar in range(distance, len(bars)):
                    same = bars[bar] == bars[bar - distance]
                    counts[distance][2 if copying else 0] += same
                    counts[distance][3 if copying else 1] += 1
                    copying = same
        return cls({distance: (float(c[0] / max(c[1], 1)), float(c[2] / max(c[3], 1)))
                    for distance, c in counts.items()})

    def next_copy(self, rng: np.random.Generator, bars_written: int, copying: int) -> int:
        """The distance that the next bar copies (0: none), with `bars_written` complete bars of
        the row's own behind it and `copying` the distance its last bar copied (0: none): a copy
        goes on, else each distance in turn may start one."""
        if copying and bars_written >= copying and rng.random() < self.chances[copying][1]:
            return copying
        for distance in self.order:
            if bars_written >= distance and rng.random() < self.chances[distance][0]:
                return distance
        return 0

    def choices(self, bars_written: int, copying: int) -> dict[int, float]:
        """next_copy's distribution: {distance (0: none): its chance}."""
        chances: dict[int, float] = {}
        left = 1.0
        if copying and bars_written >= copying:
            chances[copying] = self.chances[copying][1]
            left -= chances[copying]
        for distance in self.order:
            if bars_written >= distance:
                chances[distance] = chances.get(distance, 0.0) + left * self.chances[distance][0]
                left *= 1 - self.chances[distance][0]
        chances[0] = left
        return chances

    def rescored(self, ids, probabilities, bar_id: int) -> np.ndarray:
        """probabilities[t] of ids[t + 1] under the model with its repeats: each complete bar is
        written either by the network (the product of its tokens' probabilities) or as a copy of
        the earlier bar that next_copy chose, so its probability is the sum over those choices
        (a forward pass over which distance the last bar copied). The bar's new probability over
        the network's multiplies its first token's (which can then exceed 1: only the products
        are probabilities)."""
        out = np.array(probabilities, np.float64)
        lines = np.flatnonzero(np.asarray(ids) == bar_id)
        bars = bars_of(ids, bar_id)
        belief = {0: 0.0}  # log P(the last bar copied from that distance | the bars so far)
        for bar, (start, end) in enumerate(zip(lines[:-1], lines[1:])):  # its tokens: ids[start + 1:end + 1]
            network = float(np.log(np.maximum(out[start:end], 1e-300)).sum())
            joint: dict[int, list[float]] = {}
            for copying, log_belief in belief.items():
                for distance, chance in self.choices(bar, copying).items():
                    if chance <= 0 or (distance and bars[bar] != bars[bar - distance]):
                        continue
                    joint.setdefault(distance, []).append(log_belief + np.log(chance) + (0.0 if distance else network))
            merged = {distance: float(np.logaddexp.reduce(terms)) for distance, terms in joint.items()}
            total = float(np.logaddexp.reduce(list(merged.values())))
            belief = {distance: value - total for distance, value in merged.items()}
            out[start] *= np.exp(min(total - network, 700.0))  # (a bar more than 700 nats unlikely: never met)
        return out

    def save(self, folder: str | Path) -> None:
        chances = {str(distance): [round(start, 5), round(go_on, 4)] for distance, (start, go_on) in self.chances.items()}
        (Path(folder) / REPEATS_FILE).write_text(json.dumps(chances) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> Repeats | None:
        """The folder's chances, or None (a model without them: no bar is copied)."""
        path = Path(folder) / REPEATS_FILE
        if not path.is_file():
            return None
        wrong = ValueError(f"{path} should map distances of 1 bar or more to two chances between 0 and 1")
        try:
            chances = {int(distance): (float(start), float(go_on))
                       for distance, (start, go_on) in json.loads(path.read_text(encoding="utf-8")).items()}
        except (AttributeError, TypeError, ValueError):
            raise wrong from None
        if not chances or min(chances) < 1 or not all(0 <= value <= 1 for pair in chances.values() for value in pair):
            raise wrong
        return cls(chances)
