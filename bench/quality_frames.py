"""Music quality by k-fold over songs: the original recipe vs ours vs the best n-gram, one command.

    python bench/quality_frames.py [--data DIR] [--folds 4] [--original-epochs 6] [--out runs/kfold]

Each fold holds out a quarter of the songs; both recipes train on the rest (through
`train.fit.train`, so each fold folder is a normal model folder with evaluation.json). Held-out
NLL is read per epoch from the run's history: ours is taken at its last epoch (no peeking at
the held-out songs); the original at its best epoch, which flatters it (it over-fits after 2).
Each is compared with the best interpolated n-gram fitted on the same training tokens.
Runs already in --out are not trained again; their evaluation (generated vs real, with each
recipe's default sampling settings) is always redone.
Prints one JSON line per fold and run, a Markdown table, and a final JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import musicgen  # noqa: F401
from musicgen.config import ORIGINAL_RECIPE, Config
from musicgen.hub import load_folder
from train.data import load_midi_folder as load_corpus
from evaluate.frames import evaluate_folder, write
from train.fit import train

REFERENCE = ROOT.parent / "shared" / "datasets" / "jjlin-pool"


def fold_names(names: list[str], folds: int, seed: int = 0) -> list[list[str]]:
    order = np.random.default_rng(seed).permutation(len(names))
    return [[names[index] for index in sorted(part)] for part in np.array_split(order, folds)]


def run_result(folder: Path, at: str, corpus, sampling: dict) -> dict:
    """The run's held-out numbers; its evaluation is redone with sampling (and today's code)."""
    music_model = load_folder(folder)
    music_model.config = music_model.config.replace(**sampling)
    report = evaluate_folder(music_model, corpus)
    write(folder, report)
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    rows = metrics["history"]
    row = min(rows, key=lambda r: r["val_loss"]) if at == "best" else rows[-1]
    if row["epoch"] != metrics["best"]["epoch"]:  # model.keras holds the best epoch's weights
        raise SystemExit(f"{folder}: model.keras holds epoch {metrics['best']['epoch']}, not epoch {row['epoch']}")
    best_ngram = report["ngram"][report["best_ngram"]]
    features = report["generated_vs_real"]["features"]
    result = {"epoch": row["epoch"], "nll": report["nll"], "network_nll": report.get("network_nll", report["nll"]),
              "top1": report["top1_accuracy"], "best_ngram": report["best_ngram"], "best_ngram_nll": best_ngram,
              "vs_ngram": report["nll"] / best_ngram - 1.0, "oov": report["oov_share"],
              "min_overlap": min(entry["overlap"] for entry in features.values()),
              "overlap": {name: entry["overlap"] for name, entry in features.items()},
              "one_frame_generated": features["one_frame_share"]["generated_mean"],
              "one_frame_real": features["one_frame_share"]["real_mean"]}
    if "ngram_with_memory" in report:
        result["best_ngram_with_memory_nll"] = report["ngram_with_memory"][report["best_ngram_with_memory"]]
        result["vs_ngram_with_memory"] = report["nll_vs_best_ngram_with_memory"]
    return result


def mean_spread(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REFERENCE)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--original-epochs", type=int, default=6,
                        help="the original over-fits after epoch 2 in every run seen; 20 changes nothing but time")
    parser.add_argument("--epochs", type=int, help="override our epochs (quick trials)")
    parser.add_argument("--out", type=Path, default=Path("runs") / time.strftime("kfold-%Y%m%d-%H%M%S"))
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"error: {args.data}: no such folder (the reference corpus lives in ../shared)", file=sys.stderr)
        return 2
    corpus = load_corpus(args.data, "first", 5, progress=False)
    recipes = {"original": (Config(**{**ORIGINAL_RECIPE, "epochs": args.original_epochs}), "best"),
               "ours": (Config(**({"epochs": args.epochs} if args.epochs else {})), "last")}
    sampling = {name: {"temperature": config.temperature, "top_p": config.top_p,
                       "memory_orders": config.memory_orders, "memory_smoothing": config.memory_smoothing}
                for name, (config, _) in recipes.items()}
    results = {name: [] for name in recipes}
    for fold, held_out in enumerate(fold_names(sorted(song.name for song in corpus.songs), args.folds)):
        for name, (config, at) in recipes.items():
            folder = args.out / f"fold{fold}" / name
            if not (folder / "evaluation.json").exists():  # trained already: only the evaluation is redone
                started = time.perf_counter()
                train(config, corpus, folder, verbose=0, held_out=held_out)
                print(f"# fold {fold} {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
            result = run_result(folder, at, corpus, sampling[name])
            results[name].append(result)
            print(json.dumps({"fold": fold, "recipe": name, **result}), flush=True)

    print("\n| recipe | held-out NLL | network alone | best n-gram | vs n-gram | n-gram with memory | vs it "
          "| top-1 | OOV | min overlap | one-frame share (real) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        column = {key: [row.get(key, np.nan) for row in rows] for key in rows[0] if key != "overlap"}
        with_memory = ([mean_spread(column["best_ngram_with_memory_nll"]), f"{np.mean(column['vs_ngram_with_memory']):+.1%}"]
                       if "vs_ngram_with_memory" in column else ["-", "-"])
        print(f"| {name} | {mean_spread(column['nll'])} | {mean_spread(column['network_nll'])} | "
              f"{mean_spread(column['best_ngram_nll'])} | {np.mean(column['vs_ngram']):+.1%} | "
              f"{' | '.join(with_memory)} | {np.mean(column['top1']):.3f} | {np.mean(column['oov']):.1%} | "
              f"{mean_spread(column['min_overlap'])} | {np.mean(column['one_frame_generated']):.2f} "
              f"({np.mean(column['one_frame_real']):.2f}) |")
    print("\nmean overlap per feature (target >= 0.7 each):")
    for name, rows in results.items():
        print(f"  {name}: " + ", ".join(f"{feature} {np.mean([row['overlap'][feature] for row in rows]):.2f}"
                                       for feature in rows[0]["overlap"]))
    summary = {name: {key: float(np.mean([row[key] for row in rows])) for key in rows[0]
                      if key not in ("best_ngram", "overlap")}
               for name, rows in results.items()}
    print(json.dumps({"folds": args.folds, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
