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
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ECHO_FILE = "echo.json"
DISTANCES = (1, 2, 4, 8)  # bars back
RUN_EDGES = (1, 4, 16)  # tokens in a row a pointer has foretold: 0, 1-3, 4-15, 16 or more
MIN_WEIGHT = 1e-4  # a fitted weight below this is none (the sampler then skips that pointer)


def run_bucket(run: int) -> int:
    return BUCKETS[min(run, RUN_EDGES[-1])]


BUCKETS = [sum(run >= edge for edge in RUN_EDGES) for run in range(RUN_EDGES[-1] + 1)]


class Recall:
    """One piece's echo of itself: feed it the piece's tokens (add), ask it to blend (mix)."""

    def __init__(self, weights: np.ndarray, bar_id: int, positions: np.ndarray, history=()):
        # Plain lists: read once a token in the sampler's loop, where NumPy's scalars cost more than the work.
        self.weights = [[float(value) for value in row] for row in np.asarray(weights)]
        self.bar_id, self.positions = int(bar_id), [int(position) for position in positions]
        self.bars: list[list[int]] = []  # the complete bars' tokens (after their bar line)
        self.places: list[tuple[list[int], list[int]]] = []  # each complete bar's positions and where their tokens are
        self.current: list[int] | None = None  # the bar being written (None before the first bar line)
        self.at: list[int] = []  # per distance reaching back into the piece: the index into that bar
        self.runs: list[int] = []  # ... and how many tokens in a row it has foretold
        self.position = -1
        self.blends: list[tuple[float, int]] = []  # (weight, token id) of each pointer trusted at all, shortest first
        for token_id in np.asarray(history, np.int64).ravel():
            self.add(int(token_id))

    def pointed(self, index: int) -> int:
        """The token the pointer of DISTANCES[index] foretells (the bar line past that bar's end)."""
        earlier, at = self.bars[-DISTANCES[index]], self.at[index]
        return earlier[at] if at < len(earlier) else self.bar_id

    def _place(self, distance: int, position: int, after: bool) -> int:
        """The index in the bar `distance` back just after its Position token at position (after) or
        at it (not after); else at its first Position beyond, else its end."""
        positions, indices = self.places[-distance]
        found = bisect_left(positions, position)
        if found == len(positions):
            return len(self.bars[-distance])
        if positions[found] == position and after:
            return indices[found] + 1
        return indices[found]

    def add(self, token_id: int) -> None:
        """The piece goes on with token_id."""
        if token_id == self.bar_id:
            if self.current is not None:
                self.bars.append(self.current)
                at = [index for index, token in enumerate(self.current) if self.positions[token] >= 0]
                self.places.append(([self.positions[self.current[index]] for index in at], at))
                del self.bars[:-DISTANCES[-1]], self.places[:-DISTANCES[-1]]  # none further back is read
            self.current, self.position = [], -1
            reach = sum(distance <= len(self.bars) for distance in DISTANCES)
            self.at, self.runs = [0] * reach, [0] * reach
        elif self.current is not None:
            self.current.append(token_id)
            moved = self.positions[token_id] >= 0
            if moved:
                self.position = self.positions[token_id]
            for index, distance in enumerate(DISTANCES[:len(self.at)]):
                if self.pointed(index) == token_id:
                    self.at[index] += 1
                    self.runs[index] += 1
                    continue
                self.runs[index] = 0
                if moved:  # to the same position there
                    self.at[index] = self._place(distance, self.position, after=True)
                else:  # something else written here: on to where that bar went next
                    self.at[index] = self._place(distance, self.position + 1, after=False)
        self.blends = [(weight, self.pointed(index)) for index, run in enumerate(self.runs)
                       if (weight := self.weights[index][run_bucket(run)]) > 0]

    def mix(self, probabilities: np.ndarray) -> np.ndarray:
        """The network's next-token probabilities (vocab,) with the earlier bars' tokens blended in
        (the same array where no pointer is trusted)."""
        if not self.blends:
            return probabilities
        # Blend by blend, p -> (1 - w) p + w [token]: one scaling of the network's vector, and each
        # token's weight scaled by the blends after it.
        keep, added = 1.0, {}
        for weight, token_id in reversed(self.blends):
            added[token_id] = added.get(token_id, 0.0) + weight * keep
            keep *= 1.0 - weight
        mixed = np.asarray(probabilities, np.float64) * keep
        for token_id, weight in added.items():
            mixed[token_id] += weight
        return mixed

    def mix_one(self, probability: float, token_id: int) -> float:
        """mix() for one id: its blended probability, given the network's probability of it."""
        for weight, foretold in self.blends:
            probability = probability * (1.0 - weight) + weight * (foretold == token_id)
        return probability

    def copy(self) -> Recall:
        twin = Recall.__new__(Recall)
        twin.weights, twin.bar_id, twin.positions = self.weights, self.bar_id, self.positions
        twin.bars, twin.places = self.bars[:], self.places[:]  # complete bars are never changed
        twin.current = None if self.current is None else list(self.current)
        twin.at, twin.runs, twin.position, twin.blends = self.at[:], self.runs[:], self.position, self.blends[:]
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
                for index, run in enumerate(recall.runs):
                    slot[index] = index * blank.shape[1] + run_bucket(run)
                    hit[index] = recall.pointed(index) == token_id
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
        weights = (1.0 / (1.0 + np.exp(-fit.x))).reshape(blank.shape)
        return cls(np.where(weights < MIN_WEIGHT, 0.0, weights))  # at the bound: the likeliest weight is none

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
