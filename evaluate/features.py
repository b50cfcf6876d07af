"""Generated-vs-real statistics after Yang & Lerch (2018), "On the evaluation of generative models in music".

Each piece (a list of frame tokens) gets a few musically readable features. Two sets of pieces
are compared the way the paper does: the distances between pieces inside the real set, and the
distances from each generated piece to each real one, are smoothed into two distributions; their
overlapping area is 1 when the generated pieces differ from the real ones no more than the real
ones differ among themselves, and 0 when they are nothing alike.
"""
from __future__ import annotations

import numpy as np

from musicgen.midi import roll_notes, tokens_to_roll

# Note lengths in frames: 1, 2, 3, 4, 5-6, 7-8, 9-12, 13-16, 17 or more.
LENGTH_BIN_EDGES = np.array([1, 2, 3, 4, 5, 7, 9, 13, 17, 10 ** 9])
FEATURES = ("pitch_count", "pitch_class_histogram", "pitch_range", "average_pitch_interval",
            "notes_per_second", "inter_onset_interval", "note_length_histogram", "one_frame_share")


def piece_features(tokens: list[str], frames_per_second: float) -> dict[str, float | list[float]] | None:
    """The features of one piece, or None when it holds no notes."""
    pitches, starts, ends = roll_notes(tokens_to_roll(tokens))
    if len(pitches) == 0:
        return None
    order = np.lexsort((pitches, starts))  # by onset, then pitch: the order a listener meets them
    pitches, starts, lengths = pitches[order], starts[order], (ends - starts)[order]
    onsets = np.unique(starts)
    pitch_classes = np.bincount(pitches % 12, minlength=12)
    length_bins = np.histogram(lengths, bins=LENGTH_BIN_EDGES)[0]
    return {
        "pitch_count": float(len(np.unique(pitches))),
        "pitch_class_histogram": (pitch_classes / pitch_classes.sum()).tolist(),
        "pitch_range": float(pitches.max() - pitches.min()),
        "average_pitch_interval": float(np.abs(np.diff(pitches)).mean()) if len(pitches) > 1 else 0.0,
        "notes_per_second": len(pitches) * frames_per_second / max(len(tokens), 1),
        "inter_onset_interval": float(np.diff(onsets).mean() / frames_per_second) if len(onsets) > 1 else 0.0,
        "note_length_histogram": (length_bins / length_bins.sum()).tolist(),
        "one_frame_share": float(np.mean(lengths == 1)),
    }


def segments(songs: list[list[str]], frames: int) -> list[list[str]]:
    """Songs cut into pieces of `frames` frames (the length of the generated pieces), tails dropped."""
    return [song[start:start + frames] for song in songs for start in range(0, len(song) - frames + 1, frames)]


def _distance(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)))


def _density(samples: np.ndarray, grid: np.ndarray, scale: float) -> np.ndarray:
    """A Gaussian kernel density (Silverman's bandwidth), with a floor so identical samples still spread."""
    bandwidth = max(1.06 * samples.std() * len(samples) ** -0.2, 0.05 * scale, 1e-9)
    density = np.exp(-0.5 * ((grid[:, None] - samples[None, :]) / bandwidth) ** 2).sum(axis=1)
    return density / np.trapezoid(density, grid)


def overlapping_area(intra: list[float], inter: list[float]) -> float:
    """Area shared by the smoothed distributions of intra-set and inter-set distances (0..1)."""
    intra, inter = np.asarray(intra, dtype=float), np.asarray(inter, dtype=float)
    if len(intra) == 0 or len(inter) == 0:
        return float("nan")
    both = np.concatenate([intra, inter])
    scale = max(both.max() - both.min(), both.max(), 1e-6)
    grid = np.linspace(both.min() - scale, both.max() + scale, 2048)
    shared = np.minimum(_density(intra, grid, scale), _density(inter, grid, scale))
    return float(min(np.trapezoid(shared, grid), 1.0))


def compare(generated: list[list[str]], real: list[list[str]], frames_per_second: float) -> dict:
    """Per feature: the mean over each set and the overlapping area (Yang & Lerch's OA)."""
    generated_features = [f for f in (piece_features(p, frames_per_second) for p in generated) if f]
    real_features = [f for f in (piece_features(p, frames_per_second) for p in real) if f]
    report = {"generated_pieces": len(generated_features), "real_pieces": len(real_features),
              "silent_generated_pieces": len(generated) - len(generated_features), "features": {}}
    for name in FEATURES:
        real_values = [f[name] for f in real_features]
        generated_values = [f[name] for f in generated_features]
        intra = [_distance(a, b) for i, a in enumerate(real_values) for b in real_values[i + 1:]]
        inter = [_distance(a, b) for a in generated_values for b in real_values]
        entry = {"overlap": overlapping_area(intra, inter)}
        if not isinstance(real_values[0] if real_values else 0.0, list):
            entry["generated_mean"] = float(np.mean(generated_values)) if generated_values else None
            entry["real_mean"] = float(np.mean(real_values)) if real_values else None
        report["features"][name] = entry
    return report
