"""An independent judge: can a classifier tell 8-bar stretches of a model's pieces from songs'?

It reads what the sampler never selects on (the song-likeness reads musicgen.listening's per-piece
numbers; this reads none of them): where in the bar each part plays, how the melody sits on the
accompaniment's harmony, how the bass moves from bar to bar, how often bars come back 1, 2 and
4 bars later, each part's coarse note lengths, and the melody's register over the
accompaniment. Every stretch that plays is read, one with a single part too (an intro, or a piece
whose tune never comes in). Gradient-boosted trees, folds by song (a song's stretches never sit on both
sides of a fold). AUC 0.5: it cannot tell them apart. A correction or selection around the
network stays only where this judge confirms it (docs/evaluation.md).
"""
from __future__ import annotations

import numpy as np

from musicgen.score import ACCOMPANIMENT, MELODY, Score

BARS = 8
LENGTH_EDGES = (0, 0.3, 0.6, 1.1, 2.1, np.inf)  # beats: sixteenths/eighths, quarters, halves, longer
DISTANCES = (1, 2, 4)  # bars apart (8 would need stretches of 16 bars)
MIN_NOTES = 4  # a stretch with fewer notes in all is silence, not music to judge


def stretches(score: Score, bars: int = BARS) -> list[Score]:
    """The score cut into whole stretches of `bars` bars (a tail shorter than that dropped)."""
    span = bars * score.beats_per_bar
    return [score.cropped(start, start + span) for start in np.arange(0, score.end_beats - span + 1e-6, span)]


def bar_sets(notes: np.ndarray, bars: int) -> list[set]:
    """Each bar's notes as a set of (onset sixteenth in the bar, pitch)."""
    sets = [set() for _ in range(bars)]
    for start, _, pitch, _ in notes:
        bar = int(start // 4)
        if 0 <= bar < bars:
            sets[bar].add((int(round((start - 4 * bar) * 4)) % 16, int(pitch)))
    return sets


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _part_numbers(notes: np.ndarray | None, bars: int) -> list[float]:
    """One part's numbers: where in the bar it plays, coarse note lengths, bars coming back, density;
    missing (NaN) for a part that does not play here, its density 0."""
    if notes is None or not len(notes):
        return [np.nan] * (16 + len(LENGTH_EDGES) - 1 + len(DISTANCES)) + [0.0]
    sixteenth = np.round(notes[:, 0] * 4).astype(int) % 16
    row = list(np.bincount(sixteenth, minlength=16) / len(notes))  # where in the bar it plays
    row += list(np.histogram(notes[:, 1] - notes[:, 0], LENGTH_EDGES)[0] / len(notes))
    sets = bar_sets(notes, bars)
    row += [np.mean([_jaccard(sets[bar], sets[bar - distance]) for bar in range(distance, bars)])
            for distance in DISTANCES]
    return row + [len(notes) / (4 * bars)]


def features(score: Score, bars: int = BARS) -> np.ndarray | None:
    """The judge's numbers for one stretch (None when it is all but silent: under MIN_NOTES notes).

    A stretch where only one part plays is read too, the other part's numbers and those between the
    parts missing: songs have intros and interludes, and pieces that never bring their tune in
    must be seen (the trees send a missing number down a branch of its own).
    """
    melody, accompaniment = score.parts.get(MELODY), score.parts.get(ACCOMPANIMENT)
    melody = melody if melody is not None and len(melody) else None
    accompaniment = accompaniment if accompaniment is not None and len(accompaniment) else None
    if sum(len(part) for part in (melody, accompaniment) if part is not None) < MIN_NOTES:
        return None
    both = melody is not None and accompaniment is not None
    row = _part_numbers(melody, bars) + _part_numbers(accompaniment, bars)
    row.append(_on_harmony(melody, accompaniment) if both else np.nan)
    row += _bass_moves(accompaniment, bars) if accompaniment is not None else [np.nan] * 12
    row.append(float(melody[:, 2].mean() - accompaniment[:, 2].mean()) if both else np.nan)  # the register between
    return np.asarray(row, float)


def _on_harmony(melody: np.ndarray, accompaniment: np.ndarray) -> float:
    """The share of the melody's length whose pitch class the accompaniment sounds then."""
    on_harmony = 0.0
    for start, end, pitch, _ in melody:
        sounding = accompaniment[(accompaniment[:, 0] <= start) & (accompaniment[:, 1] > start)]
        on_harmony += (end - start) * float(int(pitch) % 12 in set(sounding[:, 2].astype(int) % 12))
    return on_harmony / max(float((melody[:, 1] - melody[:, 0]).sum()), 1e-9)


def _bass_moves(accompaniment: np.ndarray, bars: int) -> list[float]:
    """The bass from bar to bar: how often it moves, and by what interval (pitch classes)."""
    bass = []
    for bar in range(bars):
        in_bar = accompaniment[(accompaniment[:, 0] >= 4 * bar) & (accompaniment[:, 0] < 4 * bar + 4)]
        bass.append(int(in_bar[:, 2].min()) % 12 if len(in_bar) else -1)
    moves = [(later - earlier) % 12 for earlier, later in zip(bass, bass[1:]) if earlier >= 0 and later >= 0]
    return list(np.bincount(moves, minlength=12) / max(len(moves), 1))


def auc(generated: list[Score], real: list[Score], real_groups: list, seed: int = 0, folds: int = 5,
        generated_groups: list | None = None) -> float:
    """ROC AUC of gradient-boosted trees telling the generated stretches from the real ones, folds by
    song (real_groups names each real score's song; each generated score is its own group, unless
    generated_groups names songs too: an accompaniment and its song's own piano, one melody, then
    sit in the same fold)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    rows, labels, groups = [], [], []
    generated_names = ([f"song-{name}" for name in generated_groups] if generated_groups is not None
                       else [f"generated-{index}" for index in range(len(generated))])
    real_names = [f"song-{name}" if generated_groups is not None else f"real-{name}" for name in real_groups]
    for label, scores, names in ((1, generated, generated_names), (0, real, real_names)):
        for score, name in zip(scores, names):
            for stretch in stretches(score):
                vector = features(stretch)
                if vector is not None:
                    rows.append(vector)
                    labels.append(label)
                    groups.append(name)
    labels = np.array(labels)
    if len(set(labels)) < 2 or min(np.bincount(labels)) < 4:
        return float("nan")
    rows, groups = np.array(rows), np.array(groups)
    predicted = np.zeros(len(labels))
    for train_rows, test_rows in GroupKFold(n_splits=min(folds, len(set(groups)))).split(rows, labels, groups):
        if len(set(labels[train_rows])) < 2:
            predicted[test_rows] = 0.5
            continue
        weights = np.where(labels[train_rows] == 1, 0.5 / labels[train_rows].mean(), 0.5 / (1 - labels[train_rows].mean()))
        leaf = int(np.clip(len(train_rows) // 20, 2, 20))  # a small set still splits
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=8,
                                               min_samples_leaf=leaf, random_state=seed)
        model.fit(rows[train_rows], labels[train_rows], sample_weight=weights)
        predicted[test_rows] = model.predict_proba(rows[test_rows])[:, 1]
    return float(roc_auc_score(labels, predicted))


def melody_repeat(scores: list[Score], distance: int) -> float:
    """How much a melody bar comes back `distance` bars later: the mean Jaccard of (onset sixteenth,
    pitch) between melody bars that far apart, over every such pair with a melody in either bar."""
    values = []
    for score in scores:
        melody = score.parts.get(MELODY)
        if melody is None or not len(melody):
            continue
        bars = int(np.ceil(score.end_beats / 4))
        sets = bar_sets(melody, bars)
        values += [_jaccard(sets[bar], sets[bar - distance]) for bar in range(distance, bars)
                   if sets[bar] or sets[bar - distance]]
    return float(np.mean(values)) if values else 0.0


def melody_within(scores: list[Score], bars: int = 4) -> float:
    """The share of scores with a melody note in their first `bars` bars (of 4 beats)."""
    return float(np.mean([bool(np.any(score.parts.get(MELODY, np.zeros((0, 4)))[:, 0] < 4 * bars))
                          for score in scores])) if scores else 0.0
