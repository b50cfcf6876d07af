"""What a listener notices, measured on Scores: held notes, density, the beat grid, parts, and
whether a simple classifier can tell generated pieces from real songs.

Pieces are compared with real songs cut into segments of the same length. The overlaps follow
Yang & Lerch (evaluate.features.overlapping_area); the two-sample test is a logistic regression on
per-segment features, cross-validated with folds by song (a song's segments never sit on both
sides of a split), whose ROC AUC is 0.5 when it cannot tell the two apart.
"""
from __future__ import annotations

import numpy as np

from musicgen.listening import HOLD_SECONDS, classifier_vector, statistics
from musicgen.score import Score

from .features import _distance, overlapping_area

OVERLAP_FEATURES = ("pitch_count", "pitch_class_histogram", "pitch_range", "average_pitch_interval",
                    "notes_per_second", "inter_onset_interval", "note_length_histogram", "polyphony")


def two_sample_auc(generated: list[dict], real: list[dict], real_groups: list, folds: int = 5, seed: int = 0,
                   nonlinear: bool = False) -> float:
    """ROC AUC of a logistic regression telling generated from real segments, folds by song/piece.

    nonlinear: gradient-boosted trees instead, a second judge that sees interactions and
    thresholds; the sampler's song-likeness (musicgen.calibration.likeness) is a logistic model over the same
    features, so this one checks that choosing by it brings pieces nearer the songs rather than
    only out of the logistic test's sight."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(generated) < 4 or len(real) < 4:
        return float("nan")
    features = np.array([classifier_vector(s) for s in (*generated, *real)], float)
    labels = np.array([1] * len(generated) + [0] * len(real))
    groups = np.array([f"generated-{i}" for i in range(len(generated))] + [f"real-{g}" for g in real_groups])
    scores = np.zeros(len(labels))
    splitter = GroupKFold(n_splits=min(folds, len(set(groups))))
    for train_rows, test_rows in splitter.split(features, labels, groups):
        if len(set(labels[train_rows])) < 2:
            scores[test_rows] = 0.5
            continue
        model = (HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=8, random_state=seed)
                 if nonlinear else make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0)))
        model.fit(features[train_rows], labels[train_rows])
        scores[test_rows] = model.predict_proba(features[test_rows])[:, 1]
    return float(roc_auc_score(labels, scores))


def songs_segments_auc(chosen: list[Score], chosen_names: list, real: list[Score], real_groups: list,
                       seed: int = 0) -> float:
    """The classifier AUC of some of the songs' own segments (their openings, say) against songs'
    segments, the songs split in two halves (the chosen segments of one half against every segment
    of the other, both ways, the mean): what a model whose pieces were exactly like the chosen
    segments would score on compare()'s classifier_auc. chosen_names and real_groups name the song of each."""
    chosen_stats, chosen_names = statistics(chosen, chosen_names)
    segment_stats, segment_groups = statistics(real, real_groups)
    names = np.array(list(dict.fromkeys(real_groups)))
    order = np.random.default_rng(seed).permutation(len(names))
    halves = [set(names[order[:len(names) // 2]]), set(names[order[len(names) // 2:]])]
    aucs = []
    for mine, other in (halves, halves[::-1]):
        generated = [stats for stats, name in zip(chosen_stats, chosen_names) if name in mine]
        rows = [row for row, group in enumerate(segment_groups) if group in other]
        aucs.append(two_sample_auc(generated, [segment_stats[row] for row in rows], [segment_groups[row] for row in rows]))
    return float(np.nanmean(aucs))


def compare(generated: list[Score], real: list[Score], real_groups: list, decoded_share: float = 1.0) -> dict:
    """The listening report: generated pieces against real segments of the same length."""
    generated_stats, _ = statistics(generated)
    real_stats, groups = statistics(real, real_groups)

    def summary(stats: list[dict]) -> dict:
        if not stats:
            return {}
        return {"hold_10s_share": float(np.mean([s["longest_note_seconds"] >= HOLD_SECONDS for s in stats])),
                "longest_note_median_seconds": float(np.median([s["longest_note_seconds"] for s in stats])),
                "notes_per_second": float(np.mean([s["notes_per_second"] for s in stats])),
                "polyphony": float(np.mean([s["polyphony"] for s in stats])),
                "on_grid_share": float(np.mean([s["on_grid_share"] for s in stats])),
                "both_parts_share": float(np.mean([s["both_parts"] for s in stats]))}

    overlaps = {}
    for name in OVERLAP_FEATURES:
        real_values = [s[name] for s in real_stats]
        generated_values = [s[name] for s in generated_stats]
        intra = [_distance(a, b) for i, a in enumerate(real_values) for b in real_values[i + 1:]]
        inter = [_distance(a, b) for a in generated_values for b in real_values]
        overlaps[name] = overlapping_area(intra, inter)
    return {"generated": summary(generated_stats), "real": summary(real_stats),
            "generated_pieces": len(generated), "silent_generated_pieces": len(generated) - len(generated_stats),
            "real_segments": len(real_stats), "decoded_share": decoded_share,
            "overlap": overlaps, "min_overlap": float(min(overlaps.values())) if overlaps else float("nan"),
            "classifier_auc": two_sample_auc(generated_stats, real_stats, groups),
            "classifier_auc_nonlinear": two_sample_auc(generated_stats, real_stats, groups, nonlinear=True)}
