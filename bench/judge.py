"""Does a correction or selection around the network pass a judge it does not read?

The independent judge (evaluate/judge.py: gradient-boosted trees over where in the bar each part
plays, the melody on the accompaniment's harmony, bass motion, bars coming back at 1-8 bars,
coarse note lengths, register) tells 8-bar stretches of 60 s pieces from the held-out songs'.
Side by side in one run, over the same seeds: the model as shipped (each piece kept from its
song-likeness's candidates) and the same model with one candidate a piece (the sampler alone).

Last line JSON: judge_auc_shipped, judge_auc_one_candidate (means over draws), by_draw_shipped,
by_draw_one_candidate, candidates, pieces, draws, held_out_songs.
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
from train.data import load_corpus, split_held_out, training_digests

ROOT = Path(__file__).resolve().parents[1]
POP909 = ROOT.parent / "shared" / "datasets" / "pop909"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", type=Path, default=POP909)
    parser.add_argument("--pieces", type=int, default=64)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shipped = load(args.model)
    alone = dataclasses.replace(shipped, corrections=shipped.corrections.without("among candidates"))
    held_out, _ = split_held_out(load_corpus(args.data, shipped.config, progress=False),
                                 training_digests(shipped.folder))
    real, names = [song.score for song in held_out], [song.name for song in held_out]
    by_draw = {"shipped": [], "one_candidate": []}
    for draw in range(args.draws):
        for name, model in (("shipped", shipped), ("one_candidate", alone)):
            generated, _ = sample_scores(model, args.pieces, 60.0, args.seed + draw)
            by_draw[name].append(round(judge.auc(generated, real, names, seed=args.seed + draw), 4))
            print(f"draw {draw} {name}: judge AUC {by_draw[name][-1]:.3f}", flush=True)
    likeness = shipped.corrections.likeness
    print(json.dumps({"judge_auc_shipped": round(float(np.mean(by_draw["shipped"])), 4),
                      "judge_auc_one_candidate": round(float(np.mean(by_draw["one_candidate"])), 4),
                      "by_draw_shipped": by_draw["shipped"], "by_draw_one_candidate": by_draw["one_candidate"],
                      "candidates": likeness.candidates if likeness else 1, "pieces": args.pieces,
                      "draws": args.draws, "held_out_songs": len(held_out)}))


if __name__ == "__main__":
    main()
