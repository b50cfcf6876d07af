"""Sampling settings by generated-vs-real distance: which temperature, top-p and memory sound most like the songs.

    python bench/sampling.py MODEL_FOLDER [MODEL_FOLDER ...] [--data DIR] [--pieces 16] [--seeds 3]
                             [--frames 300] [--primer note]

For each setting, every model folder (e.g. the k-fold runs of bench/quality.py) generates pieces
(with --seeds different seeds) and compares them with its own held-out songs (evaluate/features.py,
after Yang & Lerch). The memory (musicgen/memory.py) is off, or on at the default context lengths
with a smoothing; it also changes the held-out NLL, which is measured too. Prints one JSON line
per setting with the means over the folders and seeds, and a final JSON line naming the chosen
setting: among those that meet the frame models' targets (every feature's mean overlap at least 0.7, the
one-frame-note share within 25% of the songs'), the lowest held-out NLL; when none does, the one
whose weakest feature is strongest.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import musicgen  # noqa: F401
from musicgen.config import Config
from musicgen.hub import load_folder
from evaluate import features
from train.data import load_midi_folder as load_corpus, prepared_tokens
from musicgen.memory import PieceMemory
from evaluate.frames import PRIMER_KINDS, generated_pieces, network_scores, songs_for

REFERENCE = ROOT.parent / "shared" / "datasets" / "jjlin-pool"
MEMORY_OFF = None
SETTINGS = [(1.0, top_p, smoothing) for top_p in (0.95, 0.97, 0.98, 1.0) for smoothing in (MEMORY_OFF, 50.0, 100.0)]
SETTINGS += [(temperature, 0.98, 100.0) for temperature in (0.9, 1.1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=REFERENCE)
    parser.add_argument("--pieces", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=3, help="generate with seeds 0..N-1 (less noise)")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--primer", choices=PRIMER_KINDS, default="note", help="default: the app's")
    args = parser.parse_args()
    runs = []
    for folder in args.models:
        music_model = load_folder(folder)
        config = music_model.config
        corpus = load_corpus(args.data, config.tracks, config.frames_per_second, progress=False)
        held_out, _ = songs_for(folder, corpus)
        real = features.segments([prepared_tokens(song.tokens, config) for song in held_out], args.frames)
        held_out_ids = [music_model.vocab.encode(prepared_tokens(song.tokens, config)) for song in held_out]
        runs.append((music_model, real, held_out_ids))
    nll = {}  # memory smoothing -> mean held-out NLL over the runs
    for smoothing in sorted({setting[2] for setting in SETTINGS}, key=str):
        memory = None if smoothing is MEMORY_OFF else PieceMemory(Config().memory_orders, smoothing)
        nll[smoothing] = float(np.mean([network_scores(model.network, ids, model.config.seq_len, memory)["nll"]
                                        for model, _, ids in runs]))

    rows = []
    for temperature, top_p, smoothing in SETTINGS:
        memory = ({"memory_orders": []} if smoothing is MEMORY_OFF else
                  {"memory_orders": Config().memory_orders, "memory_smoothing": smoothing})
        reports = []
        for music_model, real, _ in runs:
            sampled = dataclasses.replace(
                music_model, config=music_model.config.replace(temperature=temperature, top_p=top_p, **memory))
            for seed in range(args.seeds):
                generated = [prepared_tokens(piece, sampled.config)  # compared in the key they were trained in
                             for piece in generated_pieces(sampled, args.pieces, args.frames, seed, args.primer)]
                reports.append(features.compare(generated, real, music_model.config.frames_per_second)["features"])
        overlaps = {name: float(np.mean([report[name]["overlap"] for report in reports])) for name in reports[0]}
        row = {"primer": args.primer, "temperature": temperature, "top_p": top_p, "memory_smoothing": smoothing,
               "held_out_nll": round(nll[smoothing], 3),
               "min_overlap": round(float(np.mean([min(e["overlap"] for e in r.values()) for r in reports])), 3),
               "overlap": {name: round(value, 3) for name, value in overlaps.items()},
               **{f"{key}_{side}": round(float(np.mean([r[key][f"{side}_mean"] for r in reports])), 3)
                  for key in ("one_frame_share", "pitch_count", "notes_per_second") for side in ("generated", "real")}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    close = [row for row in rows if abs(row["one_frame_share_generated"] / row["one_frame_share_real"] - 1) <= 0.25]
    # The weakest feature after averaging over the runs: a run's own minimum is mostly the noise
    # of its few held-out songs.
    meeting = [row for row in close if min(row["overlap"].values()) >= 0.7]
    def weakest(row):
        return min(row["overlap"].values()), row["min_overlap"]

    # Settings with the same memory share one NLL: then the stronger weakest feature wins.
    best = (min(meeting, key=lambda row: (row["held_out_nll"], *(-value for value in weakest(row)))) if meeting
            else max(close or rows, key=weakest))
    print(json.dumps({"best": best, "meets_targets": bool(meeting)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
