"""Does a correction or selection around the network pass a judge it does not read?

The independent judge (evaluate/judge.py: gradient-boosted trees over where in the bar each part
plays, the melody on the accompaniment's harmony, bass motion, bars coming back at 1-4 bars,
coarse note lengths, register) tells 8-bar stretches of 60 s pieces from the held-out songs'.
Side by side in one run, over the same seeds: the model as shipped and the same model without one
correction, for each stage named (--without, stages of musicgen.calibration separated by commas; by
default every one the model has that acts on a free piece), and with --melody-by-bar N the model
whose random openings without a tune by bar N are drawn again. Also how often the
melody's bars come back 4 and 8 bars later (Jaccard of (onset sixteenth, pitch), the mean over bar
pairs), against the songs'.

Last line JSON: without (the stages), judge_auc, by_draw, melody_repeat_4_ratio, melody_repeat_8_ratio
(each by side: "shipped", "without STAGE"; the ratios are the pieces' over the songs'), pieces,
draws, held_out_songs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from evaluate import judge
from musicgen.generate import sample_scores
from musicgen.hub import load
from musicgen.schemes import events as event_scheme
from train.data import load_corpus, split_held_out, training_digests

ROOT = Path(__file__).resolve().parents[1]
POP909 = ROOT.parent / "shared" / "datasets" / "pop909"
ACCOMPANYING = ("reading a melody", "harmonizing a melody")  # act on accompaniments only: bench/accompany.py


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", type=Path, default=POP909)
    parser.add_argument("--pieces", type=int, default=64)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--without", default="all", help="the stages (comma-separated) whose corrections the "
                        "other sides go without, one side each (default: all, every one the model has that acts "
                        "on a free piece); '' for the model as shipped alone (comparing models: run once each, "
                        "the same seeds)")
    parser.add_argument("--melody-by-bar", type=int, default=None, help="also a side whose random openings "
                        "without a melody note by this bar are drawn again, 0: none is (shipped: "
                        "musicgen.schemes.events.MELODY_BY_BAR)")
    args = parser.parse_args(argv)
    shipped = load(args.model)
    stages = ([stage for stage in shipped.corrections.members if stage not in ACCOMPANYING] if args.without == "all"
              else [stage.strip() for stage in args.without.split(",") if stage.strip()])
    missing = [stage for stage in stages if stage not in shipped.corrections.members]
    if missing:
        parser.error(f"the model has no correction at {', '.join(missing)} "
                     f"(it has: {', '.join(shipped.corrections.members) or 'none'})")
    sides = {"shipped": (shipped, event_scheme.MELODY_BY_BAR)}
    for stage in stages:
        sides[f"without {stage}"] = (dataclasses.replace(shipped, corrections=shipped.corrections.without(stage)),
                                     event_scheme.MELODY_BY_BAR)
    if args.melody_by_bar is not None:
        sides[f"melody by bar {args.melody_by_bar}"] = (shipped, args.melody_by_bar)
    held_out, _ = split_held_out(load_corpus(args.data, shipped.config, progress=False),
                                 training_digests(shipped.folder))
    real, names = [song.score for song in held_out], [song.name for song in held_out]
    by_draw = {name: [] for name in sides}
    repeats = {name: [] for name in sides}
    songs_repeat = {distance: judge.melody_repeat(real, distance) for distance in (4, 8)}
    for draw in range(args.draws):
        for name, (model, melody_by_bar) in sides.items():
            event_scheme.MELODY_BY_BAR = melody_by_bar  # the scheme's setting, for this side's pieces
            generated, _ = sample_scores(model, args.pieces, 60.0, args.seed + draw)
            by_draw[name].append(round(judge.auc(generated, real, names, seed=args.seed + draw), 4))
            repeats[name].append([judge.melody_repeat(generated, distance) for distance in (4, 8)])
            print(f"draw {draw} {name}: judge AUC {by_draw[name][-1]:.3f}, melody bars back at 4 / 8 bars "
                  f"{repeats[name][-1][0]:.3f} / {repeats[name][-1][1]:.3f} (songs {songs_repeat[4]:.3f} / "
                  f"{songs_repeat[8]:.3f})", flush=True)
    result = {"without": stages, "judge_auc": {name: round(float(np.mean(by_draw[name])), 4) for name in sides},
              "by_draw": by_draw}
    for index, distance in enumerate((4, 8)):
        result[f"melody_repeat_{distance}_ratio"] = {
            name: round(float(np.mean([row[index] for row in repeats[name]])) / max(songs_repeat[distance], 1e-9), 3)
            for name in sides}
    for name in sides:
        print(f"{name}: judge AUC {result['judge_auc'][name]:.3f} over {args.draws} draws")
    print(json.dumps({**result, "pieces": args.pieces, "draws": args.draws, "held_out_songs": len(held_out)}))


if __name__ == "__main__":
    main()
