"""Steering, against the issue's targets, one run: chord tones over a progression, tempo, style.

    python bench/steer.py [MODEL] [--data DIR] [--jjlin DIR] [--pieces N] [--seconds S]

MODEL (default: the embedded one) must be steerable (chord and style tokens).
- Chord tones (duration-weighted share of notes whose pitch class is in the chord at their
  onset): N pieces over I-V-vi-IV in C major (C G Am F) and in E-flat major (Eb Bb Cm Ab), and N
  free pieces in the same key scored against the same progression.
- Tempo: the MIDI of a piece asked at 96 BPM.
- Style: held-out nats per second (network alone) of JJ Lin songs the model never trained on,
  read under "JJ Lin" and under "any": POP909's JJ Lin songs outside the model's training set
  (by hash) and, when present, the original study's jjlin-pool (songs never in any training set).
  Beside the targets: the median tempo of N pieces under each style the model knows (a style's
  pieces play at its own songs' tempi).
Prints the figures against each target, then one JSON line.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import musicgen  # noqa: F401
from musicgen.hub import load
from evaluate import events as evaluate_events
from train.data import split_held_out, training_digests
from train.data import load_scores

SHARED = ROOT.parent / "shared" / "datasets"
PROGRESSIONS = {"C major": "C G Am F", "Eb major": "Eb Bb Cm Ab"}


def tempo_of_a_piece(music_model, bpm: float) -> float:
    import pretty_midi

    from musicgen.generate import compose
    from musicgen.request import Request
    from musicgen.steering import Steering

    request = Request.build(music_model.config, primer="random", seconds=10, temperature=1.0, top_k=0, top_p=1.0,
                            seed=1, steering=Steering.parse(tempo=bpm))
    piece = compose(music_model, request)[0]
    written = io.BytesIO()
    piece.midi.write(written)
    return float(pretty_midi.PrettyMIDI(io.BytesIO(written.getvalue())).get_tempo_changes()[1][0])


def style_tempi(music_model, pieces: int, seconds: float, seed: int) -> dict[str, float]:
    """The median tempo (BPM) of `pieces` pieces from a random primer under each style."""
    import numpy as np

    from musicgen.generate import compose
    from musicgen.request import LIBRARY, Request
    from musicgen.steering import Steering

    tempi = {}
    for style in music_model.vocab.styles:
        steering = Steering.parse(style=style)
        drawn = []
        for batch in range(0, pieces, LIBRARY.max_variations):
            request = Request.build(music_model.config, primer="random", seconds=seconds, temperature=1.0, top_k=0,
                                    top_p=0.98, seed=seed + batch, steering=steering,
                                    variations=min(LIBRARY.max_variations, pieces - batch))
            drawn += [piece.tempo_bpm for piece in compose(music_model, request)]
        tempi[style] = float(np.median(drawn))
    return tempi


def style_figures(music_model, data: Path, jjlin: Path) -> dict:
    """nats/s under "JJ Lin" and "any" on JJ Lin songs the model never trained on."""
    figures = {}
    trained_on = training_digests(music_model.folder)
    corpus = load_scores(data, progress=False)
    held, _ = split_held_out(corpus, trained_on)
    pop_jj = [song for song in held if song.artist == "JJ Lin"]
    sets = {"pop909_held_out": pop_jj}
    if jjlin.is_dir():
        sets["jjlin_pool"] = [song for song in load_scores(jjlin, progress=False).songs
                              if song.digest not in trained_on]
    for name, songs in sets.items():
        if not songs:
            continue
        figures[name] = {"songs": len(songs),
                         "jj_lin": evaluate_events.nats_per_second(music_model, songs, "JJ Lin"),
                         "any": evaluate_events.nats_per_second(music_model, songs, "any")}
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="default")
    parser.add_argument("--data", type=Path, default=SHARED / "pop909")
    parser.add_argument("--jjlin", type=Path, default=SHARED / "jjlin-pool")
    parser.add_argument("--pieces", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    music_model = load(args.model)
    if not getattr(music_model.vocab, "steerable", False):
        print(f"error: {music_model.source} has no chord and style tokens", file=sys.stderr)
        return 2
    result: dict = {"model": music_model.source, "pieces": args.pieces, "seconds": args.seconds}
    rows = []
    for key, progression in PROGRESSIONS.items():
        tones = evaluate_events.chord_tones(music_model, progression, key, args.pieces, args.seconds, args.seed)
        result[key] = tones
        forced, free = tones["forced"], tones["free"]
        accompaniment, melody = forced.get("Accompaniment", 0.0), forced.get("Melody", 0.0)
        gain = accompaniment - free.get("Accompaniment", 0.0)
        rows += [(f"{key}: accompaniment chord tones", accompaniment, accompaniment >= 0.85, ">= 0.85 (songs 0.97)"),
                 (f"{key}: melody chord tones", melody, melody >= 0.60, ">= 0.60 (songs 0.69)"),
                 (f"{key}: accompaniment vs free", gain, gain >= 0.20, ">= +0.20 (songs over shifted chords: 0.43)")]
        print(f"{key} over {progression}: forced {forced}, free {free}", flush=True)
    tempo = tempo_of_a_piece(music_model, 96)
    result["tempo_asked"], result["tempo_written"] = 96, tempo
    rows.append(("tempo written for 96 BPM", tempo, abs(tempo - 96) < 1e-6, "= 96"))
    result["style"] = style_figures(music_model, args.data, args.jjlin)
    for name, figures in result["style"].items():
        rows.append((f"JJ Lin nats/s, {name} ({figures['songs']} songs): JJ Lin / any",
                     figures["jj_lin"] / figures["any"], figures["jj_lin"] < figures["any"],
                     f"< 1 ({figures['jj_lin']:.2f} vs {figures['any']:.2f})"))
    result["style_tempo_median_bpm"] = style_tempi(music_model, args.pieces, args.seconds, args.seed)
    print("median tempo of the pieces under each style:",
          ", ".join(f"{style} {bpm:.0f}" for style, bpm in result["style_tempo_median_bpm"].items()))
    print(f"{'target':62s} {'measured':>9s}  met  (target)")
    for name, value, met, words in rows:
        print(f"{name:62s} {value:9.3f}  {'yes' if met else 'NO ':3s}  {words}")
    result["targets_met"] = sum(met for *_, met, _ in rows)
    result["targets"] = len(rows)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
