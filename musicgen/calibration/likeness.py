"""Song-likeness: each piece chosen among a few sampled candidates, toward what songs sound like.

A network sampled freely drifts from the songs it learned in many small ways at once (docs/measurements/song-likeness.md:
slightly longer notes, fewer notes together, fewer leaps, a flatter pitch-class
profile); no single bias corrects that, because no single feature carries it. A logistic
model over the listening features of one piece (musicgen.listening), fitted at training time on
the training songs' 60 s segments against the network's own pieces, estimates how much likelier
a piece is among songs than among the network's pieces: exp(logit) is that density ratio, up to
a constant. The sampler draws `candidates` pieces for each piece asked and keeps one with
probability proportional to it (sampling-importance-resampling): with many candidates the
pieces kept follow the songs' distribution where the model sees it, with few they move part of
the way. Saved beside the weights (likeness.json); a model without one samples as before.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..listening import CLASSIFIER_VECTOR_NAMES, classifier_vector, piece_statistics
from ..score import Score

LIKENESS_FILE = "likeness.json"
CANDIDATES = 8  # for each piece asked; held out, the classifier's AUC fell 0.82 -> 0.67-0.68 (docs/measurements/song-likeness.md)
MAX_ROWS = 64  # candidates are fewer where many variations are asked at once


@dataclass
class Likeness:
    FILE = LIKENESS_FILE
    stage = "among candidates"  # its hook: choose(scores, rng) -> the index of the candidate piece kept

    mean: np.ndarray  # (features,): the scaler's, as fitted
    scale: np.ndarray
    coefficients: np.ndarray  # of the standardized features; positive = more like the songs
    candidates: int = CANDIDATES

    def logits(self, scores: list[Score]) -> np.ndarray:
        """log of each piece's song-likeness ratio (up to a constant); -inf for a silent piece.
        Heard in its own key: nothing classifier_vector reads changes when a piece is transposed."""
        out = np.full(len(scores), -np.inf)
        for index, score in enumerate(scores):
            statistics = piece_statistics(score)
            if statistics:
                vector = (np.asarray(classifier_vector(statistics), float) - self.mean) / self.scale
                out[index] = float(vector @ self.coefficients)
        return out

    def choose(self, scores: list[Score], rng: np.random.Generator) -> int:
        """The index of the candidate kept, drawn in proportion to exp(logit)."""
        logits = self.logits(scores)
        if not np.isfinite(logits).any():
            return 0
        weights = np.exp(logits - logits.max())
        return int(rng.choice(len(scores), p=weights / weights.sum()))

    def candidates_for(self, variations: int) -> int:
        return max(1, min(self.candidates, MAX_ROWS // max(1, variations)))

    @classmethod
    def fit(cls, songs: list[dict], pieces: list[dict], candidates: int = CANDIDATES) -> Likeness:
        """From piece_statistics of the songs' segments and of the network's own pieces."""
        from sklearn.linear_model import LogisticRegression

        vectors = np.array([classifier_vector(s) for s in (*songs, *pieces)], float)
        labels = np.array([1] * len(songs) + [0] * len(pieces))
        mean, scale = vectors.mean(axis=0), vectors.std(axis=0)
        scale[scale < 1e-9] = 1.0
        # The logit is the log ratio of the two densities up to a constant whatever the class sizes;
        # balanced, the fit does not lean on the larger side (about ten song segments a piece).
        regression = LogisticRegression(max_iter=2000, C=1.0, class_weight="balanced")
        regression.fit((vectors - mean) / scale, labels)
        return cls(mean, scale, regression.coef_[0], candidates)

    def save(self, folder: str | Path) -> None:
        data = {"features": list(CLASSIFIER_VECTOR_NAMES),
                "mean": [round(float(v), 6) for v in self.mean], "scale": [round(float(v), 6) for v in self.scale],
                "coefficients": [round(float(v), 6) for v in self.coefficients], "candidates": self.candidates}
        (Path(folder) / LIKENESS_FILE).write_text(json.dumps(data) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> Likeness | None:
        """The folder's song-likeness, or None (a model without one: each piece is the first drawn)."""
        path = Path(folder) / LIKENESS_FILE
        if not path.is_file():
            return None
        size = len(CLASSIFIER_VECTOR_NAMES)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            arrays = [np.asarray(data[name], float) for name in ("mean", "scale", "coefficients")]
            candidates, features = int(data["candidates"]), data.get("features")
        except (ValueError, TypeError, KeyError):
            arrays, candidates, features = [], 0, None
        if features != list(CLASSIFIER_VECTOR_NAMES) and len(arrays) == 3:
            raise ValueError(f"{path} was fitted on other features than this version hears: fit it again "
                             f"(python -m train.calibrate MODEL_FOLDER --data SONGS --only likeness)")
        if len(arrays) != 3 or any(array.shape != (size,) or not np.isfinite(array).all() for array in arrays) \
                or not candidates >= 1 or not (arrays[1] > 0).all():
            raise ValueError(f"{path} should hold mean, scale (above 0) and coefficients of {size} numbers each, "
                             f"and candidates of at least 1")
        return cls(*arrays, candidates)
