"""Sampling settings by generated-vs-real distance: which temperature / top-p sounds most like the songs.

    python bench/sampling.py MODEL_FOLDER [--data DIR] [--pieces 16] [--frames 300]

For each setting, generates pieces from random primers and compares them with the model's
held-out songs (train/features.py, after Yang & Lerch). Prints one JSON line per setting and a
final JSON line naming the setting with the largest smallest-overlap whose one-frame-note share
is within 25% of the real songs'.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import musicgen  # noqa: E402,F401
from musicgen.hub import load_folder  # noqa: E402
from train import features  # noqa: E402
from train.data import load_folder as load_corpus, prepared_tokens  # noqa: E402
from train.evaluate import generated_pieces, songs_for  # noqa: E402

REFERENCE = ROOT.parent / "shared" / "datasets" / "jjlin-pool"
SETTINGS = [(temperature, top_p) for temperature in (0.8, 0.9, 1.0, 1.1) for top_p in (0.9, 0.95, 1.0)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, default=REFERENCE)
    parser.add_argument("--pieces", type=int, default=16)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    music_model = load_folder(args.model)
    config = music_model.config
    corpus = load_corpus(args.data, config.tracks, config.frames_per_second, progress=False)
    held_out, _ = songs_for(args.model, corpus)
    real = features.segments([prepared_tokens(song.tokens, config) for song in held_out], args.frames)
    rows = []
    for temperature, top_p in SETTINGS:
        music_model.config = config.replace(temperature=temperature, top_p=top_p)
        generated = generated_pieces(music_model, args.pieces, args.frames, seed=0)
        report = features.compare(generated, real, config.frames_per_second)["features"]
        one_frame = report["one_frame_share"]
        row = {"temperature": temperature, "top_p": top_p,
               "min_overlap": round(min(entry["overlap"] for entry in report.values()), 3),
               "mean_overlap": round(sum(entry["overlap"] for entry in report.values()) / len(report), 3),
               "one_frame_generated": round(one_frame["generated_mean"], 3),
               "one_frame_real": round(one_frame["real_mean"], 3),
               "notes_per_second": round(report["notes_per_second"]["generated_mean"], 2),
               "real_notes_per_second": round(report["notes_per_second"]["real_mean"], 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    close = [row for row in rows if abs(row["one_frame_generated"] / row["one_frame_real"] - 1) <= 0.25] or rows
    best = max(close, key=lambda row: (row["min_overlap"], row["mean_overlap"]))
    print(json.dumps({"best": best}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
