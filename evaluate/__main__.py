"""python -m evaluate MODEL --data DIR: held-out likelihood, n-gram baselines, generated-vs-real.

Event models (evaluate/events.py) are scored on the songs of DIR they never trained on (by file
hash); frame models (evaluate/frames.py) on the validation songs their metrics.json names.
docs/evaluation.md describes the report.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from train.data import split_held_out, training_digests

from . import events
from .frames import evaluate_folder, summary, write


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model folder, a Hub id user/name, or 'default' (the embedded model)")
    parser.add_argument("--data", type=Path, required=True,
                        help="a folder of MIDI files, read recursively (beat_midi.txt used where present); "
                             "event models: the songs they never trained on are scored")
    parser.add_argument("--baseline-data", type=Path,
                        help="event models: fit the n-grams on this folder's songs (default: the model's own "
                             "training songs, found by hash in --data)")
    parser.add_argument("--pieces", type=int, default=64, help="generated pieces to compare (default 64)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per generated piece (default 60)")
    parser.add_argument("--frames", type=int, default=300, help="frame models: frames per generated piece")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", default="any", help="event models with styles: read every song under this "
                        "style token (default any)")
    parser.add_argument("--out", type=Path, help="where the report goes: a .json file, or a folder for "
                        "evaluation.json and .png (default: the model folder)")
    args = parser.parse_args(argv)

    import musicgen  # noqa: F401  (quiets TensorFlow)
    from musicgen.errors import ModelError
    from musicgen.hub import load
    from train.data import NoUsableFiles, load_corpus

    try:
        music_model = load(args.model)
        corpus = load_corpus(args.data, music_model.config)
        baseline = load_corpus(args.baseline_data, music_model.config) if args.baseline_data else None
    except (ModelError, NoUsableFiles) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if music_model.scheme.whole_sequences:
        return report_events(music_model, corpus, baseline, args)
    report = evaluate_folder(music_model, corpus, args.pieces, args.frames, args.seed)
    out = args.out.parent if args.out and args.out.suffix == ".json" else args.out
    write(music_model.folder, report, out)
    print(summary(report))
    print(f"wrote {(out or music_model.folder) / 'evaluation.json'} and evaluation.png")
    return 0


def report_events(music_model, corpus, baseline, args) -> int:
    trained_on = training_digests(music_model.folder)
    held_out, seen = split_held_out(corpus, trained_on)
    if not held_out:
        print(f"error: the model trained on every song in {args.data}: nothing held out to score", file=sys.stderr)
        return 2
    if seen:
        print(f"{len(seen)} of {len(corpus.songs)} songs in {args.data} were in the model's training set: "
              f"scoring the other {len(held_out)}")
    if baseline is not None:
        baseline_songs = baseline.songs
    else:
        baseline_songs = seen if seen and len(seen) == len(trained_on) else None
        if seen and len(seen) < len(trained_on):
            print(f"only {len(seen)} of the model's {len(trained_on)} training songs are in {args.data}: "
                  "no n-gram baselines (give --baseline-data)")
    try:
        report = events.evaluate(music_model, held_out, baseline_songs, args.pieces, args.seconds, args.seed,
                                          style=args.style)
    except ValueError as error:  # an unknown style, named with the ones the model knows
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out or music_model.folder / "evaluation.json"
    if out.suffix != ".json":
        out = out / "evaluation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(events.summary(report))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
