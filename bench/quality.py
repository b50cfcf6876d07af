"""Music quality of an event model on songs it never trained on, against the issue's targets, one run.

    python bench/quality.py [MODEL] [--data DIR]                  # a trained model (default: the embedded one)
    python bench/quality.py --folds 4 --epochs 2 [--data DIR] [--out runs/kfold-events]   # k-fold by song
    python bench/quality.py --from-report FOLDER/evaluation.json  # the targets of an evaluation already run

MODEL is scored on the songs of DIR (default ../shared/datasets/pop909) that it never trained on
(known by hash from its metrics.json), with n-grams fitted on its own training songs
(evaluate/events.py). With --folds, K models are trained, each holding out one K-th of
the songs, and each is scored on its own held-out fold; the table gives mean +- spread.
Prints the figures against each target, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import musicgen  # noqa: F401
from musicgen.config import Config
from musicgen.hub import load
from evaluate import events as evaluate_events
from train.data import split_held_out, training_digests
from train.data import load_corpus

POP909 = ROOT.parent / "shared" / "datasets" / "pop909"


def measured(report: dict) -> dict:
    """The figures the targets are about, from one evaluation report."""
    heard = report["listening"]
    generated, real = heard["generated"], heard["real"]
    figures = {
        "nats_per_second": report["nats_per_second"],
        "vs_best_ngram": report.get("vs_best_ngram", float("nan")),
        "vs_best_ngram_with_memory": report.get("vs_best_ngram_with_memory", float("nan")),
        "hold_10s_share": generated["hold_10s_share"],
        "longest_note_ratio": generated["longest_note_median_seconds"] / real["longest_note_median_seconds"],
        "notes_per_second_ratio": generated["notes_per_second"] / real["notes_per_second"],
        "decoded_share": heard["decoded_share"],
        "on_grid_share": generated["on_grid_share"],
        "both_parts_share": generated["both_parts_share"],
        "min_overlap": heard["min_overlap"],
        "classifier_auc": heard["classifier_auc"],  # the mean over the report's draws of pieces
        "independent_judge_auc": heard["independent_judge_auc"],
        "melody_in_4_bars_share": heard["melody_in_4_bars_share"],
    }
    for distance, pair in heard["melody_repeat"].items():
        figures[f"melody_repeat_{distance}_ratio"] = pair["generated"] / max(pair["songs"], 1e-9)
    # References, not targets: see evaluate/events.py, classifier_over_draws.
    for reference in ("classifier_auc_against_openings", "songs_openings_auc", "songs_middles_auc"):
        if reference in heard:
            figures[reference] = heard[reference]
    figures.update({f"overlap_{name}": value for name, value in heard["overlap"].items()})
    return figures


TARGETS = {  # name: (test, words)
    "vs_best_ngram": (lambda v: v <= 0.80, "<= 0.80 x the best n-gram (nats/s)"),
    "vs_best_ngram_with_memory": (lambda v: v <= 0.80, "<= 0.80 x the best n-gram with the memory"),
    "hold_10s_share": (lambda v: v <= 0.02, "<= 2% of pieces hold a note >= 10 s"),
    "longest_note_ratio": (lambda v: v <= 1.5, "longest-note median <= 1.5 x the songs'"),
    "notes_per_second_ratio": (lambda v: 0.65 <= v <= 1.35, "notes/s within +-35% of the songs'"),
    "decoded_share": (lambda v: v >= 1.0, "100% decode"),
    "on_grid_share": (lambda v: v >= 0.95, ">= 95% of onsets on the sixteenth grid"),
    "both_parts_share": (lambda v: v >= 0.90, ">= 90% have both parts, named"),
    "min_overlap": (lambda v: v >= 0.80, "Yang & Lerch overlap >= 0.8 on every feature"),
    "classifier_auc": (lambda v: v <= 0.75, "two-sample classifier AUC <= 0.75"),
    # The song-form issue's (one draw of pieces here; bench/judge.py takes five).
    "independent_judge_auc": (lambda v: v <= 0.75, "independent judge AUC <= 0.75 (8-bar stretches)"),
    "melody_repeat_4_ratio": (lambda v: 0.75 <= v <= 1.5, "melody bars back 4 bars later 0.75x-1.5x the songs'"),
    "melody_repeat_8_ratio": (lambda v: 0.75 <= v <= 1.5, "melody bars back 8 bars later 0.75x-1.5x the songs'"),
    "melody_in_4_bars_share": (lambda v: v >= 0.90, ">= 90% of free pieces have a melody in 4 bars"),
}


def kfold(data: Path, folds: int, epochs: int, out: Path, pieces: int, seed: int) -> list[dict]:
    from train.fit import train

    config = Config(epochs=epochs, validation_share=0.0)
    corpus = load_corpus(data, config)
    names = sorted(song.name for song in corpus.songs)
    order = np.random.default_rng(seed).permutation(len(names))
    reports = []
    for fold, part in enumerate(np.array_split(order, folds)):
        held_out = {names[index] for index in part}
        folder = out / f"fold{fold}"
        if not (folder / "model.keras").exists():
            print(f"fold {fold}: training on {len(names) - len(held_out)} songs, {len(held_out)} held out", flush=True)
            train(config.replace(validation_share=0.15), corpus, folder, held_out=sorted(held_out), verbose=2)
        model = load(str(folder))
        test = [song for song in corpus.songs if song.name in held_out]
        baseline = [song for song in corpus.songs if song.name not in held_out]
        report = evaluate_events.evaluate(model, test, baseline, pieces, 60.0, seed + fold)
        (folder / "evaluation.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(json.dumps({"fold": fold, **measured(report)}), flush=True)
        reports.append(report)
    return reports


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="default")
    parser.add_argument("--data", type=Path, default=POP909)
    parser.add_argument("--folds", type=int, default=0, help="train and score K models, one per fold of songs")
    parser.add_argument("--epochs", type=int, default=2, help="with --folds: epochs per fold model")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "kfold-events")
    parser.add_argument("--pieces", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, help="also write the model's evaluation report (JSON) here")
    parser.add_argument("--from-report", type=Path, help="an evaluation report already written (python -m evaluate "
                        "leaves one in the model folder): its figures against the targets, nothing run again")
    args = parser.parse_args(argv)
    if args.from_report:
        try:
            reports = [json.loads(args.from_report.read_text(encoding="utf-8"))]
            measured(reports[0])
        except (OSError, ValueError, KeyError) as error:
            print(f"error: {args.from_report} is not an event model's evaluation report ({error})", file=sys.stderr)
            return 2
    elif not args.data.is_dir():
        print(f"error: {args.data} is not here", file=sys.stderr)
        return 2
    elif args.folds:
        reports = kfold(args.data, args.folds, args.epochs, args.out, args.pieces, args.seed)
    else:
        model = load(args.model)
        corpus = load_corpus(args.data, model.config)
        trained_on = training_digests(model.folder)
        held_out, seen = split_held_out(corpus, trained_on)
        baseline = seen if len(seen) == len(trained_on) and seen else None
        reports = [evaluate_events.evaluate(model, held_out, baseline, args.pieces, 60.0, args.seed)]
        print(evaluate_events.summary(reports[0]))
        if args.report:
            args.report.write_text(json.dumps(reports[0], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    rows = [measured(report) for report in reports]
    summary = {name: (float(np.mean([row[name] for row in rows])), float(np.std([row[name] for row in rows])))
               for name in rows[0]}
    print("\n| target | measured | met |\n|---|---|---|")
    met = {}
    for name, (test, words) in TARGETS.items():
        mean, spread = summary[name]
        met[name] = bool(test(mean))
        shown = f"{mean:.3f}" + (f" +- {spread:.3f}" if len(rows) > 1 else "")
        print(f"| {words} | {shown} | {'yes' if met[name] else 'NO'} |")
    print(json.dumps({"folds": len(rows), "held_out_songs": sum(r["held_out_songs"] for r in reports),
                      "means": {name: value[0] for name, value in summary.items()},
                      "met": met, "all_met": all(met.values())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
