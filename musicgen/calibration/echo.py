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

A piece that plays a form drawn from the songs' own (forms.py) has one more pointer in each bar of
a returning section: into the same bar of that letter's first section, as far back as it lies, so
that a chorus comes back as songs bring it back, mostly the same, free to turn away (songs'
same-letter sections: melody Jaccard 0.83), where a copy would be exact. (A form a person asks for
plays its returns again as asked: musicgen.stateful.BarCopies.)

The 16 weights (and the return pointer's 4, where the training songs' forms are known) are fitted
by maximum likelihood on training songs under the network (as shipped: its melody bias, if any, included).
Saved beside the weights as echo.json. What it is worth: docs/measurements/corrections.md and,
for the returns, docs/measurements/form.md.
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
RETURN = len(DISTANCES)  # the row of weights of the pointer into a returning section's first time


def run_bucket(run: int) -> int:
    return BUCKETS[min(run, RUN_EDGES[-1])]


BUCKETS = [sum(run >= edge for edge in RUN_EDGES) for run in range(RUN_EDGES[-1] + 1)]


class Recall:
    """One piece's echo of itself: feed it the piece's tokens (add), ask it to blend (mix).

    returns[bar] (a form's, per bar of the piece from its first bar line): how many bars back the
    bar it returns to lies (0: none): with return_weights, a fifth pointer reads that bar, a
    returning section recalling its first time as the nearer bars are recalled."""

    def __init__(self, weights: np.ndarray, bar_id: int, positions: np.ndarray, history=(), returns=(),
                 return_weights=None):
        # Plain lists: read once a token in the sampler's loop, where NumPy's scalars cost more than the work.
        self.weights = [[float(value) for value in row] for row in np.asarray(weights)]
        self.returns = [int(distance) for distance in returns] if return_weights is not None else []
        if self.returns:
            self.weights.append([float(value) for value in return_weights])
        self.keep = max([DISTANCES[-1], *self.returns])  # the bars any pointer may read
        self.bar_id, self.positions = int(bar_id), [int(position) for position in positions]
        self.bars: list[list[int]] = []  # the last complete bars' tokens (after their bar line)
        self.places: list[tuple[list[int], list[int]]] = []  # each complete bar's positions and where their tokens are
        self.current: list[int] | None = None  # the bar being written (None before the first bar line)
        self.bar = -1  # ... its index in the piece
        self.distances: list[int] = []  # per pointer reaching back into the piece: how many bars back
        self.rows: list[int] = []  # ... its row of weights (DISTANCES' order, then RETURN)
        self.at: list[int] = []  # ... the index into that bar
        self.runs: list[int] = []  # ... and how many tokens in a row it has foretold
        self.position = -1
        self.blends: list[tuple[float, int]] = []  # (weight, token id) of each pointer trusted at all, shortest first
        for token_id in np.asarray(history, np.int64).ravel():
            self.add(int(token_id))

    @property
    def recalls_returns(self) -> bool:
        """Whether a returning section is recalled here (so that no one need copy it)."""
        return any(self.returns)

    def pointed(self, index: int) -> int:
        """The token pointer `index` foretells (the bar line past that bar's end)."""
        earlier, at = self.bars[-self.distances[index]], self.at[index]
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

    def _open_bar(self) -> None:
        # A pointer whose bar ended where this one did goes on into the bar after it, its run kept.
        carried = {(distance, row): run + 1 for index, (distance, row, run) in
                   enumerate(zip(self.distances, self.rows, self.runs)) if self.pointed(index) == self.bar_id}
        if self.current is not None:
            self.bars.append(self.current)
            at = [index for index, token in enumerate(self.current) if self.positions[token] >= 0]
            self.places.append(([self.positions[self.current[index]] for index in at], at))
            del self.bars[:-self.keep], self.places[:-self.keep]  # none further back is read
        self.current, self.position, self.bar = [], -1, self.bar + 1
        pointers = [(distance, row) for row, distance in enumerate(DISTANCES) if distance <= len(self.bars)]
        back = self.returns[self.bar] if self.bar < len(self.returns) else 0
        if 0 < back <= len(self.bars):
            pointers.append((back, RETURN))
        self.distances, self.rows = [distance for distance, _ in pointers], [row for _, row in pointers]
        self.at, self.runs = [0] * len(pointers), [carried.get(pointer, 0) for pointer in pointers]

    def add(self, token_id: int) -> None:
        """The piece goes on with token_id."""
        if token_id == self.bar_id:
            self._open_bar()
        elif self.current is not None:
            self.current.append(token_id)
            moved = self.positions[token_id] >= 0
            if moved:
                self.position = self.positions[token_id]
            for index, distance in enumerate(self.distances):
                if self.pointed(index) == token_id:
                    self.at[index] += 1
                    self.runs[index] += 1
                    continue
                self.runs[index] = 0
                if moved:  # to the same position there
                    self.at[index] = self._place(distance, self.position, after=True)
                else:  # something else written here: on to where that bar went next
                    self.at[index] = self._place(distance, self.position + 1, after=False)
        self.blends = [(weight, self.pointed(index)) for index, (row, run) in enumerate(zip(self.rows, self.runs))
                       if (weight := self.weights[row][run_bucket(run)]) > 0]

    def _blended(self) -> tuple[float, dict[int, float]]:
        """(keep, added): the blends, p -> (1 - w) p + w [token] one after another, as one scaling
        of the network's vector, p * keep, and each token's weight scaled by the blends after it."""
        keep, added = 1.0, {}
        for weight, token_id in reversed(self.blends):
            added[token_id] = added.get(token_id, 0.0) + weight * keep
            keep *= 1.0 - weight
        return keep, added

    def mix(self, probabilities: np.ndarray) -> np.ndarray:
        """The network's next-token probabilities (vocab,) with the earlier bars' tokens blended in
        (the same array where no pointer is trusted)."""
        if not self.blends:
            return probabilities
        keep, added = self._blended()
        mixed = np.asarray(probabilities, np.float64) * keep
        for token_id, weight in added.items():
            mixed[token_id] += weight
        return mixed

    def mix_weights(self, weights: np.ndarray) -> None:
        """mix() in place on unnormalized probabilities (float64, vocab), where they are above 0
        only (where the sampler lets the network go): what the sampler draws from, a step's cost."""
        if not self.blends:
            return
        keep, added = self._blended()
        total = weights.sum()
        weights *= keep
        for token_id, weight in added.items():
            if weights[token_id] > 0:
                weights[token_id] += weight * total

    def mix_one(self, probability: float, token_id: int) -> float:
        """mix() for one id: its blended probability, given the network's probability of it."""
        for weight, foretold in self.blends:
            probability = probability * (1.0 - weight) + weight * (foretold == token_id)
        return probability

    def copy(self) -> Recall:
        twin = Recall.__new__(Recall)
        twin.__dict__.update(self.__dict__)  # weights, returns, positions: shared, never changed
        twin.bars, twin.places = self.bars[:], self.places[:]  # complete bars are never changed
        twin.current = None if self.current is None else list(self.current)
        twin.distances, twin.rows, twin.at, twin.runs = self.distances[:], self.rows[:], self.at[:], self.runs[:]
        twin.blends = self.blends[:]
        return twin


def return_distances(sections, bars: int) -> list[int]:
    """For each of a song's bars, how many bars back the same bar of the first section with its
    letter lies (0: none); sections are (first bar, letter, bars), as train.sections places them."""
    returns, first_of = [0] * bars, {}
    for first, letter, length in sections:
        if letter not in first_of:
            first_of[letter] = (first, length)
            continue
        earlier, earlier_length = first_of[letter]
        for offset in range(min(length, earlier_length)):
            if 0 <= first + offset < bars and first > earlier:
                returns[first + offset] = first - earlier
    return returns


@dataclass
class Echo:
    FILE = ECHO_FILE
    stage = "over the piece so far"  # its hook: recalling(grammar, history, returns) -> a Recall (add, mix, mix_one, copy)

    weights: np.ndarray  # (len(DISTANCES), len(RUN_EDGES) + 1): how far each pointer's token is trusted
    returns: np.ndarray | None = None  # (len(RUN_EDGES) + 1,): ... the pointer into a returning section's first time

    def recalling(self, grammar, history=(), returns=()) -> Recall:
        """A piece's echo, having read history (the primer); returns: its form's (return_distances)."""
        return Recall(self.weights, grammar.bar_id, grammar.positions, history, returns, self.returns)

    @classmethod
    def fitted(cls, songs_ids, probabilities, grammar, songs_returns=None) -> Echo:
        """The weights that make the songs likeliest: songs_ids each song's ids, probabilities[s][t]
        the network's probability of songs_ids[s][t + 1]; songs_returns[s] song s's return_distances
        (where it has a form: the return pointer's weights are fitted where any song has one)."""
        from scipy.optimize import minimize

        buckets = len(RUN_EDGES) + 1
        songs_returns = songs_returns or [()] * len(songs_ids)
        with_returns = any(any(returns) for returns in songs_returns)
        rows = len(DISTANCES) + with_returns
        network, slots, hits = [], [], []  # per token: the network's probability, each pointer's (slot, right)
        blank = np.zeros((len(DISTANCES), buckets))
        for ids, song_probabilities, returns in zip(songs_ids, probabilities, songs_returns):
            recall = Recall(blank, grammar.bar_id, grammar.positions, returns=returns,
                            return_weights=np.zeros(buckets) if with_returns else None)
            for token_id, probability in zip(np.asarray(ids[1:], np.int64), song_probabilities):
                slot, hit = np.full(rows, -1), np.zeros(rows, bool)
                for index, (row, run) in enumerate(zip(recall.rows, recall.runs)):
                    slot[index] = row * buckets + run_bucket(run)
                    hit[index] = recall.pointed(index) == token_id
                network.append(probability)
                slots.append(slot)
                hits.append(hit)
                recall.add(int(token_id))
        network, slots, hits = np.asarray(network, np.float64), np.array(slots), np.array(hits)

        def negative_log_likelihood(logits):
            weight = np.append(1.0 / (1.0 + np.exp(-logits)), 0.0)  # slot -1: no pointer, weight 0
            blended = network.copy()
            for index in range(rows):
                w = weight[slots[:, index]]
                blended = blended * (1.0 - w) + w * hits[:, index]
            return -float(np.log(np.maximum(blended, 1e-12)).sum())

        fit = minimize(negative_log_likelihood, np.full(rows * buckets, -3.0), method="L-BFGS-B",
                       bounds=[(-12.0, 8.0)] * (rows * buckets))
        weights = (1.0 / (1.0 + np.exp(-fit.x))).reshape(rows, buckets)
        weights = np.where(weights < MIN_WEIGHT, 0.0, weights)  # at the bound: the likeliest weight is none
        return cls(weights[:len(DISTANCES)], weights[RETURN] if with_returns else None)

    @classmethod
    def load(cls, folder: str | Path) -> Echo | None:
        path = Path(folder) / ECHO_FILE
        if not path.exists():
            return None
        shape = (len(DISTANCES), len(RUN_EDGES) + 1)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            weights = np.asarray(data["weights"], float)
            returns = np.asarray(data["returns"], float) if data.get("returns") is not None else None
            same = tuple(data["distances"]) == DISTANCES and tuple(data["run_edges"]) == RUN_EDGES
        except (ValueError, TypeError, KeyError, AttributeError):
            same, weights, returns = False, np.zeros(0), None
        every = np.concatenate([weights.ravel(), [] if returns is None else returns.ravel()])
        if (not same or weights.shape != shape or (returns is not None and returns.shape != shape[1:])
                or not np.all((every >= 0) & (every < 1))):
            raise ValueError(f"{path}: not an echo of this version (weights between 0 and 1 for distances "
                             f"{list(DISTANCES)} and run lengths {list(RUN_EDGES)}, and optionally for returns, expected)")
        return cls(weights, returns)

    def save(self, folder: str | Path) -> None:
        data = {"distances": list(DISTANCES), "run_edges": list(RUN_EDGES),
                "weights": [[round(float(value), 6) for value in row] for row in self.weights]}
        if self.returns is not None:
            data["returns"] = [round(float(value), 6) for value in self.returns]
        (Path(folder) / ECHO_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")
