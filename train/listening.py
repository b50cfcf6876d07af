"""What a listener notices, measured on Scores: held notes, density, the beat grid, parts, and
whether a simple classifier can tell generated pieces from real songs.

Pieces are compared with real songs cut into segments of the same length. The overlaps follow
Yang & Lerch (train.features.overlapping_area); the two-sample test is a logistic regression on
per-segment features, cross-validated with folds by song (a song's segments never sit on both
sides of a split), whose ROC AUC is 0.5 when it cannot tell the two apart.
"""
from __future__ import annotations

import numpy as np

from musicgen.score import ACCOMPANIMENT, MELODY, Score

from .features import _distance, overlapping_area

HOLD_SECONDS = 10.0
# Note lengths in beats: up to a sixteenth, eighth, dotted eighth, quarter, half, whole, longer.
LENGTH_EDGES_BEATS = np.array([0, 0.26, 0.51, 0.76, 1.01, 2.01, 4.01, 1e9])
OVERLAP_FEATURES = ("pitch_count", "pitch_class_histogram", "pitch_range", "average_pitch_interval",
                    "notes_per_second", "inter_onset_interval", "note_length_histogram", "polyphony")


def in_c(score: Score) -> Score:
    """The piece moved to C major / A minor by its own key estimate.

    Both sides of a comparison go through this: the model trains on songs in every key (key
    normalization, then transposition augmentation), so its pieces come in any key, and a
    song's 60 s segment may sit in another key than the whole song.
    """
    return score.transposed(score.key_shift())


def segments(score: Score, seconds: float) -> list[Score]:
    """The score cut into whole segments of about `seconds` (whole bars), tails dropped."""
    bar_beats = score.beats_per_bar
    bars = max(1, round(seconds / (bar_beats * score.seconds_per_beat)))
    span = bars * bar_beats
    return [score.cropped(start, start + span) for start in np.arange(0, score.end_beats - span + 1e-6, span)]


def note_table(score: Score) -> tuple[np.ndarray, np.ndarray]:
    """(notes sorted by onset then pitch, the part index of each: 0 melody, 1 accompaniment)."""
    rows, parts = [], []
    for index, name in enumerate((MELODY, ACCOMPANIMENT)):
        notes = score.parts.get(name)
        if notes is not None and len(notes):
            rows.append(notes)
            parts.append(np.full(len(notes), index))
    if not rows:
        return np.zeros((0, 4)), np.zeros(0, int)
    notes, parts = np.concatenate(rows), np.concatenate(parts)
    order = np.lexsort((notes[:, 2], notes[:, 0]))
    return notes[order], parts[order]


def piece_statistics(score: Score) -> dict | None:
    """Listening numbers of one piece (None when silent)."""
    notes, parts = note_table(score)
    if not len(notes):
        return None
    spb = score.seconds_per_beat
    seconds = max(score.end_beats, 1e-9) * spb
    lengths_beats = notes[:, 1] - notes[:, 0]
    onsets = np.unique(notes[:, 0])
    pitch_classes = np.bincount(notes[:, 2].astype(int) % 12, weights=lengths_beats, minlength=12)
    length_histogram = np.histogram(lengths_beats, bins=LENGTH_EDGES_BEATS)[0]
    on_grid = np.abs(notes[:, 0] * 4 - np.round(notes[:, 0] * 4)) < 0.05
    # Polyphony: notes sounding, on average, at each sixteenth where anything sounds.
    grid = np.arange(0, score.end_beats, 0.25) + 0.125
    sounding = ((notes[:, 0][None, :] <= grid[:, None]) & (notes[:, 1][None, :] > grid[:, None])).sum(axis=1)
    melody = notes[parts == 0]
    steps = np.abs(np.diff(melody[:, 2])) if len(melody) > 1 else np.zeros(0)
    return {
        "longest_note_seconds": float(lengths_beats.max() * spb),
        "notes_per_second": len(notes) / seconds,
        "polyphony": float(sounding[sounding > 0].mean()) if (sounding > 0).any() else 0.0,
        "on_grid_share": float(on_grid.mean()),
        "both_parts": bool((parts == 0).any() and (parts == 1).any()),
        "pitch_count": float(len(np.unique(notes[:, 2]))),
        "pitch_class_histogram": (pitch_classes / max(pitch_classes.sum(), 1e-9)).tolist(),
        "pitch_range": float(notes[:, 2].max() - notes[:, 2].min()),
        "average_pitch_interval": float(steps.mean()) if len(steps) else 0.0,
        "inter_onset_interval": float(np.diff(onsets).mean() * spb) if len(onsets) > 1 else 0.0,
        "note_length_histogram": (length_histogram / length_histogram.sum()).tolist(),
        # For the classifier: melodic steps of 1-2 semitones, repetition of bar patterns.
        "melody_step_share": float(np.mean((steps >= 1) & (steps <= 2))) if len(steps) else 0.0,
        "melody_leap_share": float(np.mean(steps > 7)) if len(steps) else 0.0,
        "mean_length_beats": float(lengths_beats.mean()),
        "silence_share": float(np.mean(sounding == 0)) if len(sounding) else 1.0,
        "repetition": bar_repetition(notes, score.beats_per_bar),
        "melody_share": float(np.mean(parts == 0)),
    }


def bar_repetition(notes: np.ndarray, bar_beats: int) -> float:
    """The share of bars whose (position, pitch) pattern occurred in an earlier bar of the piece."""
    bars: dict[int, set] = {}
    for start, _, pitch, _ in notes:
        bar = int(start // bar_beats)
        bars.setdefault(bar, set()).add((round((start % bar_beats) * 4), int(pitch)))
    seen, repeats = set(), 0
    for bar in sorted(bars):
        pattern = frozenset(bars[bar])
        repeats += pattern in seen
        seen.add(pattern)
    return repeats / max(len(bars), 1)


CLASSIFIER_FEATURES = ("notes_per_second", "polyphony", "mean_length_beats", "silence_share",
                       "melody_step_share", "melody_leap_share", "pitch_range", "pitch_count",
                       "repetition", "melody_share", "average_pitch_interval")


def classifier_vector(statistics: dict) -> list[float]:
    profile = np.asarray(statistics["pitch_class_histogram"])
    entropy = float(-(profile[profile > 0] * np.log(profile[profile > 0])).sum())
    return [statistics[name] for name in CLASSIFIER_FEATURES] + [entropy, *sorted(profile)[::-1][:4],
                                                                 *statistics["note_length_histogram"]]


def two_sample_auc(generated: list[dict], real: list[dict], real_groups: list, folds: int = 5, seed: int = 0) -> float:
    """ROC AUC of a logistic regression telling generated from real segments, folds by song/piece."""
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
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        model.fit(features[train_rows], labels[train_rows])
        scores[test_rows] = model.predict_proba(features[test_rows])[:, 1]
    return float(roc_auc_score(labels, scores))


def statistics(scores: list[Score], groups: list | None = None) -> tuple[list[dict], list]:
    """(piece_statistics of each score that is not silent, the group of each)."""
    groups = list(range(len(scores))) if groups is None else groups
    kept = [(stats, group) for stats, group in zip(map(piece_statistics, scores), groups) if stats]
    return [stats for stats, _ in kept], [group for _, group in kept]


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
            "classifier_auc": two_sample_auc(generated_stats, real_stats, groups)}
