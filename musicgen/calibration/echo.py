"""The piece's earlier bars, echoed: what came next at the same place 1, 2, 4 and 8 bars ago.

Songs repeat in phrases, the melody and its piano again 4 or 8 bars later, often varied (POP909's
same-letter sections: melody Jaccard 0.83, not 1.0), and a GRU carries a bar that far poorly. The
bars played again (repeats.py) copy a whole bar exactly or not at all. This member keeps, for each
distance d, a pointer into the bar d bars back, at the place the bar being written has reached:
it moves on while the piece writes what that bar had there, and where the piece writes something
else it goes to that bar's same position (or the next one it has). Each pointer's token is blended
into the network's distribution, p -> (1 - w) p + w [the pointer's token], the shortest distance
first, so that the longest has the last word; w depends on the distance and on how many tokens in
a row the pointer has foretold (a pointer that has just been right for a while is trusted more).

The 16 weights are fitted by maximum likelihood on training songs under the network (as shipped,
its melody bias included). Saved beside the weights as echo.json. What it is worth:
docs/measurements/corrections.md.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ECHO_FILE = "echo.json"
DISTANCES = (1, 2, 4, 8)  # bars back
RUN_EDGES = (1, 4, 16)  # tokens in a row a pointer has foretold: 0, 1-3, 4-15, 16 or more


def run_bucket(run: int) -> int:
    return int(np.searchsorted(RUN_EDGES, run, side="right"))


class Recall:
    """One piece's echo of itself: feed it the piece's tokens (add), ask it to blend (mix)."""

    def __init__(self, weights: np.ndarray, bar_id: int, positions: np.ndarray, history=()):
        self.weights, self.bar_id, self.positions = weights, bar_id, positions
        self.bars: list[list[int]] = []  # the complete bars' tokens (after their bar line)
        self.current: list[int] | None = None  # the bar being written (None before the first bar line)
        self.pointers: dict[int, tuple[int, int]] = {}  # distance -> (index into that bar, tokens foretold in a row)
        self.position = -1
        for token_id in np.asarray(history, np.int64).ravel():
            self.add(int(token_id))

    def foretold(self) -> list[tuple[float, int]]:
        """(weight, the token id foretold) for each distance that reaches back into the piece."""
        out = []
        for index, distance in enumerate(DISTANCES):
            if distance not in self.pointers:
                break
            at, run = self.pointers[distance]
            earlier = self.bars[-distance]
            out.append((float(self.weights[index, run_bucket(run)]), earlier[at] if at < len(earlier) else self.bar_id))
        return out

    def _place(self, earlier: list[int], position: int, after: bool) -> int:
        """The index in an earlier bar just after its Position token at position (after) or at it
        (not after); else at its first Position beyond, else its end."""
        for index, token_id in enumerate(earlier):
            here = self.positions[token_id]
            if here == position:
                return index + 1 if after else index
            if here > position:
                return index
        return len(earlier)

    def add(self, token_id: int) -> None:
        """The piece goes on with token_id."""
        if token_id == self.bar_id:
            if self.current is not None:
                self.bars.append(self.current)
            self.current, self.position = [], -1
            self.pointers = {distance: (0, 0) for distance in DISTANCES if distance <= len(self.bars)}
            return
        if self.current is None:
            return
        self.current.append(token_id)
        moved = self.positions[token_id] >= 0
        if moved:
            self.position = int(self.positions[token_id])
        for distance, (at, run) in self.pointers.items():
            earlier = self.bars[-distance]
            if at < len(earlier) and earlier[at] == token_id:
                self.pointers[distance] = (at + 1, run + 1)
            elif moved:  # to the same position there
                self.pointers[distance] = (self._place(earlier, self.position, after=True), 0)
            else:  # something else written here: on to where that bar went next
                self.pointers[distance] = (self._place(earlier, self.position + 1, after=False), 0)

    def mix(self, probabilities: np.ndarray) -> np.ndarray:
        """The network's next-token probabilities (vocab,) with the earlier bars' tokens blended in."""
        mixed = np.asarray(probabilities, np.float64).copy()
        for weight, token_id in self.foretold():
            mixed *= 1.0 - weight
            mixed[token_id] += weight
        return mixed

    def mix_one(self, probability: float, token_id: int) -> float:
        """mix() for one id: its blended probability, given the network's probability of it."""
        for weight, foretold in self.foretold():
            probability = probability * (1.0 - weight) + weight * (foretold == token_id)
        return probability

    def copy(self) -> Recall:
        twin = Recall.__new__(Recall)
        twin.weights, twin.bar_id, twin.positions = self.weights, self.bar_id, self.positions
        twin.bars = self.bars[:]  # complete bars are never changed
        twin.current = None if self.current is None else list(self.current)
        twin.pointers, twin.position = dict(self.pointers), self.position
        return twin


@dataclass
class Echo:
    FILE = ECHO_FILE
    stage = "over the piece so far"  # its hook: recalling(grammar, history) -> a Recall (add, mix, mix_one, copy)

    weights: np.ndarray  # (len(DISTANCES), len(RUN_EDGES) + 1): how far each pointer's token is trusted

    def recalling(self, grammar, history=()) -> Recall:
        """A piece's echo, having read history (the primer)."""
        return Recall(self.weights, grammar.bar_id, grammar.positions, history)

    @classmethod
    def fitted(cls, songs_ids, probabilities, grammar) -> Echo:
        """The weights that make the songs likeliest: songs_ids each song's ids, probabilities[s][t]
        the network's probability of songs_ids[s][t + 1]."""
        from scipy.optimize import minimize

        network, slots, hits = [], [], []  # per token: the network's probability, each distance's (bucket, right)
        blank = np.zeros((len(DISTANCES), len(RUN_EDGES) + 1))
        for ids, song_probabilities in zip(songs_ids, probabilities):
            recall = Recall(blank, grammar.bar_id, grammar.positions)
            for token_id, probability in zip(np.asarray(ids[1:], np.int64), song_probabilities):
                slot, hit = np.full(len(DISTANCES), -1), np.zeros(len(DISTANCES), bool)
                for index, distance in enumerate(DISTANCES):
                    if distance in recall.pointers:
                        at, run = recall.pointers[distance]
                        earlier = recall.bars[-distance]
                        slot[index] = index * blank.shape[1] + run_bucket(run)
                        hit[index] = (earlier[at] if at < len(earlier) else grammar.bar_id) == token_id
                network.append(probability)
                slots.append(slot)
                hits.append(hit)
                recall.add(int(token_id))
        network, slots, hits = np.asarray(network, np.float64), np.array(slots), np.array(hits)

        def negative_log_likelihood(logits):
            weight = np.append(1.0 / (1.0 + np.exp(-logits)), 0.0)  # slot -1: no pointer, weight 0
            blended = network.copy()
            for index in range(len(DISTANCES)):
                w = weight[slots[:, index]]
                blended = blended * (1.0 - w) + w * hits[:, index]
            return -float(np.log(np.maximum(blended, 1e-12)).sum())

        fit = minimize(negative_log_likelihood, np.full(blank.size, -3.0), method="L-BFGS-B",
                       bounds=[(-12.0, 8.0)] * blank.size)
        return cls((1.0 / (1.0 + np.exp(-fit.x))).reshape(blank.shape))

    @classmethod
    def load(cls, folder: str | Path) -> Echo | None:
        path = Path(folder) / ECHO_FILE
        if not path.exists():
            return None
        shape = (len(DISTANCES), len(RUN_EDGES) + 1)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            weights = np.asarray(data["weights"], float)
            same = tuple(data["distances"]) == DISTANCES and tuple(data["run_edges"]) == RUN_EDGES
        except (ValueError, TypeError, KeyError):
            same, weights = False, np.zeros(0)
        if not same or weights.shape != shape or not np.all((weights >= 0) & (weights < 1)):
            raise ValueError(f"{path}: not an echo of this version (weights between 0 and 1 for distances "
                             f"{list(DISTANCES)} and run lengths {list(RUN_EDGES)} expected)")
        return cls(weights)

    def save(self, folder: str | Path) -> None:
        data = {"distances": list(DISTANCES), "run_edges": list(RUN_EDGES),
                "weights": [[round(float(value), 6) for value in row] for row in self.weights]}
        (Path(folder) / ECHO_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")
