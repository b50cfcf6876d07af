"""Sampling settings by generated-vs-real distance: which primer, temperature and top-p sound most like the songs.

    python bench/sampling.py MODEL_FOLDER [MODEL_FOLDER ...] [--data DIR] [--pieces 16] [--frames 300]

For each setting, every model folder (e.g. the k-fold runs of bench/quality.py) generates pieces
and compares them with its own held-out songs (train/features.py, after Yang & Lerch). Prints one
JSON line per setting with the means over the folders, and a final JSON line naming the setting
whose weakest feature (overlaps averaged over the folders) is strongest, among those whose
one-frame-note share is within 25% of the real songs'.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import musicgen  # noqa: E402,F401
from musicgen.hub import load_folder  # noqa: E402
from train import features  # noqa: E402
from train.data import load_folder as load_corpus, prepared_tokens  # noqa: E402
from train.evaluate import PRIMER_KINDS, generated_pieces, songs_for  # noqa: E402

REFERENCE = ROOT.parent / "shared" / "datasets" / "jjlin-pool"
SETTINGS = [(temperature, top_p) for temperature in (0.9, 1.0, 1.1) for top_p in (0.9, 0.95, 1.0)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=REFERENCE)
    parser.add_argument("--pieces", type=int, default=16)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    runs = []
    for folder in args.models:
        music_model = load_folder(folder)
        config = music_model.config
        corpus = load_corpus(args.data, config.tracks, config.frames_per_second, progress=False)
        held_out, _ = songs_for(folder, corpus)
        real = features.segments([prepared_tokens(song.tokens, config) for song in held_out], args.frames)
        runs.append((music_model, real))

    rows = []
    for primer in PRIMER_KINDS:
        for temperature, top_p in SETTINGS:
            reports = []
            for music_model, real in runs:
                sampled = dataclasses.replace(
                    music_model, config=music_model.config.replace(temperature=temperature, top_p=top_p))
                generated = [prepared_tokens(piece, sampled.config)  # compared in the key they were trained in
                             for piece in generated_pieces(sampled, args.pieces, args.frames, seed=0, primer=primer)]
                reports.append(features.compare(generated, real, music_model.config.frames_per_second)["features"])
            overlaps = {name: float(np.mean([report[name]["overlap"] for report in reports])) for name in reports[0]}
            row = {"primer": primer, "temperature": temperature, "top_p": top_p,
                   "min_overlap": round(float(np.mean([min(e["overlap"] for e in r.values()) for r in reports])), 3),
                   "overlap": {name: round(value, 2) for name, value in overlaps.items()},
                   **{f"{key}_{side}": round(float(np.mean([r[key][f"{side}_mean"] for r in reports])), 3)
                      for key in ("one_frame_share", "pitch_count", "notes_per_second") for side in ("generated", "real")}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    close = [row for row in rows
             if abs(row["one_frame_share_generated"] / row["one_frame_share_real"] - 1) <= 0.25] or rows
    # Ranked by the weakest feature after averaging over the runs: a run's own minimum is mostly
    # the noise of its few held-out songs.
    print(json.dumps({"best": max(close, key=lambda row: (min(row["overlap"].values()), row["min_overlap"]))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
