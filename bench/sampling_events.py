"""Sampling settings of an event model by generated-vs-real, on songs it never trained on, one run.

    python bench/sampling_events.py [MODEL] [--data DIR] [--pieces 64] [--settings 1.0,0.98 0.9,0.95,100 ...]
                                    [--starts opening middle] [--candidates 1 8]

For each temperature,top-p[,memory smoothing] (the memory: what followed the last 1-32 tokens
earlier in the piece, musicgen/memory.py), and for each of --starts (a model with start tokens:
pieces begun as songs begin, or as from a bar inside a song; default the model's), and for each of
--candidates (a model with a song-likeness: how many pieces are sampled for each one kept,
musicgen/likeness.py; 1 = the network's first draw; default the model's) it generates
the same number of 60 s pieces (half from random, half from one-note starts, as
evaluate/events.py does) and compares them with the held-out songs' 60 s segments (evaluate/listening.py): the smallest Yang & Lerch overlap, the
two-sample classifier's AUC (the mean over --draws draws of pieces, as the evaluation report's:
one draw measures it to a few hundredths), and the means a listener notices. It picks the setting with the
lowest classifier AUC among those whose notes/s stay within 35% of the songs' and that hold
no note for 10 s in more than 2% of pieces; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import musicgen  # noqa: F401
from musicgen.config import STARTS
from musicgen.hub import load
from musicgen.listening import CLASSIFIER_VECTOR_NAMES, classifier_vector, in_c
from evaluate import events as evaluate_events, listening
from musicgen.generate import sample_scores
from musicgen.listening import statistics
from train.data import split_held_out, training_digests
from train.data import load_corpus

POP909 = ROOT.parent / "shared" / "datasets" / "pop909"
DEFAULT_SETTINGS = ["1.0,1.0", "1.0,0.98", "1.0,0.95", "0.9,0.95", "0.8,1.0", "1.0,1.0,100", "1.0,0.98,100"]
MEMORY_ORDERS = [1, 2, 4, 8, 16, 32]


def univariate_aucs(generated: list[dict], real: list[dict]) -> dict[str, float]:
    """How well each classifier feature alone separates the two sets (0.5 = not at all)."""
    from sklearn.metrics import roc_auc_score

    vectors = np.array([classifier_vector(s) for s in (*generated, *real)])
    labels = np.array([1] * len(generated) + [0] * len(real))
    return {name: float(max(auc := roc_auc_score(labels, vectors[:, i]), 1 - auc))
            for i, name in enumerate(CLASSIFIER_VECTOR_NAMES)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="default")
    parser.add_argument("--data", type=Path, default=POP909)
    parser.add_argument("--pieces", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=evaluate_events.CLASSIFIER_DRAWS,
                        help="draws of pieces the classifier's AUC is averaged over (seeds seed, seed + 1, ...)")
    parser.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS, help="temperature,top_p pairs")
    parser.add_argument("--starts", nargs="+", choices=STARTS, help="where pieces start (default: the model's)")
    parser.add_argument("--candidates", nargs="+", type=int,
                        help="pieces sampled for each one kept by the song-likeness (default: the model's)")
    args = parser.parse_args(argv)
    model = load(args.model)
    corpus = load_corpus(args.data, model.config, progress=False)
    held_out, _ = split_held_out(corpus, training_digests(model.folder))
    real, groups = evaluate_events.real_segments(held_out, 60.0)
    real_stats, _ = statistics(real)
    starts = getattr(model.vocab, "starts", False)
    if args.starts and not starts:
        parser.error("--starts needs a model trained with start tokens")
    likeness = model.corrections.likeness
    if args.candidates and (likeness is None or min(args.candidates) < 1):
        parser.error("--candidates needs a model with a song-likeness (python -m train.calibrate), and 1 or more")
    results = []
    for setting, start, candidates in [(setting, start, candidates) for start in args.starts or [model.config.start]
                                       for candidates in args.candidates or [likeness and likeness.candidates]
                                       for setting in args.settings]:
        if likeness is not None:
            likeness.candidates = candidates
        values = [float(value) for value in setting.split(",")]
        temperature, top_p, smoothing = values[0], values[1], (values[2] if len(values) > 2 else 0.0)
        memory = dict(memory_orders=MEMORY_ORDERS, memory_smoothing=smoothing) if smoothing else dict(memory_orders=[])
        model.config = model.config.replace(temperature=temperature, top_p=top_p, start=start, **memory)
        generated, decoded = sample_scores(model, args.pieces, 60.0, args.seed)
        generated = [in_c(score) for score in generated]
        report = listening.compare(generated, real, groups, decoded)
        generated_stats, _ = statistics(generated)
        separating = sorted(univariate_aucs(generated_stats, real_stats).items(), key=lambda item: -item[1])[:4]
        report.update(evaluate_events.classifier_over_draws(model, generated, held_out, real, groups, args.pieces,
                                                            60.0, args.seed, args.draws))
        row = {"temperature": temperature, "top_p": top_p, "memory_smoothing": smoothing or None,
               "start": start if starts else None, "candidates": candidates,
               "classifier_auc": report["classifier_auc"], "classifier_auc_by_draw": report["classifier_auc_by_draw"],
               "classifier_auc_against_openings": report["classifier_auc_against_openings"],
               "classifier_auc_nonlinear": report["classifier_auc_nonlinear"],
               "min_overlap": report["min_overlap"], "overlap": report["overlap"],
               "generated": report["generated"], "real": report["real"],
               "most_separating": dict((name, round(value, 3)) for name, value in separating)}
        results.append(row)
        print(json.dumps(row), flush=True)
    real_rate = results[0]["real"]["notes_per_second"]
    fair = [row for row in results if abs(row["generated"]["notes_per_second"] / real_rate - 1) <= 0.35
            and row["generated"]["hold_10s_share"] <= 0.02] or results
    best = min(fair, key=lambda row: row["classifier_auc"])
    print("\n| temperature | top-p | memory | start | candidates | classifier AUC | smallest overlap | notes/s (songs) | "
          "longest note median s (songs) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in results:
        g, r = row["generated"], row["real"]
        print(f"| {row['temperature']} | {row['top_p']} | {row['memory_smoothing'] or 'off'} | {row['start'] or '-'} | {row['candidates'] or '-'} | {row['classifier_auc']:.3f} | {row['min_overlap']:.2f} | "
              f"{g['notes_per_second']:.2f} ({r['notes_per_second']:.2f}) | "
              f"{g['longest_note_median_seconds']:.2f} ({r['longest_note_median_seconds']:.2f}) |")
    print(json.dumps({"best": {"temperature": best["temperature"], "top_p": best["top_p"],
                               "memory_smoothing": best["memory_smoothing"], "start": best["start"],
                               "candidates": best["candidates"]},
                      "classifier_auc": best["classifier_auc"], "min_overlap": best["min_overlap"],
                      "held_out_songs": len(held_out), "pieces": args.pieces}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
