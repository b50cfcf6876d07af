"""Song form, against its targets, in one run: sections that come back, the melody early, the markers.

    python bench/form.py [--model MODEL] [--pieces 32] [--form "i4 A8 B8 A8 B8 o4"] [--data DIR]

- With the form asked (default "i4 A8 B8 A8 B8 o4"), for each piece: whether its .mid has a marker
  at every section's first bar; the melody's bar-by-bar similarity between sections with the same
  letter and between sections with different letters (Jaccard of (onset sixteenth, pitch) per
  bar, over bar pairs with a melody in either), beside the same figures of the held-out songs'
  own forms (their hand labels aligned to the MIDI: train.sections).
- Free 60 s pieces (the evaluation's mix of random and one-note starts): the share whose melody
  comes in within the first 4 bars.

Last line JSON: markers_share, same_letter_similarity, different_letter_similarity,
songs_same_letter_similarity, songs_different_letter_similarity, melody_in_4_bars_share,
pieces, held_out_songs.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import mido
import numpy as np

from evaluate import judge
from musicgen.generate import compose, sample_scores
from musicgen.hub import load
from musicgen.output import write_piece
from musicgen.request import Request
from musicgen.score import MELODY
from musicgen.steering import Sections, Steering, parse_form
from train.data import load_corpus, split_held_out, training_digests

ROOT = Path(__file__).resolve().parents[1]
POP909 = ROOT.parent / "shared" / "datasets" / "pop909"


def section_similarities(score, sections: list[tuple[int, str, int]]) -> tuple[list[float], list[float]]:
    """(same-letter, different-letter) Jaccards of melody bars, bar k of one section against bar k of
    another, sections with a melody (upper-case letters) only."""
    bars = max(first + length for first, _, length in sections)
    sets = judge.bar_sets(score.parts.get(MELODY, np.zeros((0, 4))), bars)
    same, different = [], []
    sung = [section for section in sections if section[1].isupper()]
    for index, (first, letter, length) in enumerate(sung):
        for other_first, other_letter, other_length in sung[:index]:
            for offset in range(min(length, other_length)):
                a, b = sets[first + offset], sets[other_first + offset]
                if a or b:
                    (same if letter == other_letter else different).append(len(a & b) / len(a | b))
    return same, different


def laid_out(form) -> list[tuple[int, str, int]]:
    return [(first, letter, bars) for (first, _), (letter, bars) in zip(Sections(form).starts(), form)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", type=Path, default=POP909)
    parser.add_argument("--pieces", type=int, default=32)
    parser.add_argument("--form", default="i4 A8 B8 A8 B8 o4")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = load(args.model)
    form = parse_form(args.form)
    held_out, _ = split_held_out(load_corpus(args.data, model.config, progress=False), training_digests(model.folder))

    songs_same, songs_different = [], []
    for song in held_out:
        if song.sections:
            same, different = section_similarities(song.score, song.sections)
            songs_same += same
            songs_different += different

    marked, same, different = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.pieces):
            request = Request.build(model.config, primer="random", seed=args.seed + index,
                                    steering=Steering.parse(form=args.form))
            piece = compose(model, request)[0]
            write_piece(piece, Path(folder) / "piece.mid")
            midi = mido.MidiFile(str(Path(folder) / "piece.mid"))
            seconds_per_bar = 4 * 60.0 / piece.tempo_bpm
            at, markers = 0.0, []
            for message in midi:  # iterating a MidiFile gives seconds
                at += message.time
                if message.type == "marker":
                    markers.append((round(at / seconds_per_bar), message.text[:1]))
            marked.append(markers == [(first, letter) for first, letter, _ in laid_out(form)])
            pair = section_similarities(piece.score, laid_out(form))
            same += pair[0]
            different += pair[1]
    free, _ = sample_scores(model, args.pieces, 60.0, args.seed)

    result = {
        "markers_share": float(np.mean(marked)),
        "same_letter_similarity": float(np.mean(same)) if same else 0.0,
        "different_letter_similarity": float(np.mean(different)) if different else 0.0,
        "songs_same_letter_similarity": float(np.mean(songs_same)) if songs_same else 0.0,
        "songs_different_letter_similarity": float(np.mean(songs_different)) if songs_different else 0.0,
        "melody_in_4_bars_share": judge.melody_within(free, 4),
    }
    print(f"form {args.form}, {args.pieces} pieces; {len(held_out)} held-out songs")
    print(f"  a marker at every section: {result['markers_share']:.0%} of pieces (target 100%)")
    print(f"  melody bars, same letter: {result['same_letter_similarity']:.2f} (target >= 0.6; songs "
          f"{result['songs_same_letter_similarity']:.2f}); different letters: "
          f"{result['different_letter_similarity']:.2f} (target <= 0.2; songs {result['songs_different_letter_similarity']:.2f})")
    print(f"  free 60 s pieces with a melody in their first 4 bars: {result['melody_in_4_bars_share']:.0%} (target >= 90%)")
    print(json.dumps({name: round(value, 4) for name, value in result.items()} |
                     {"pieces": args.pieces, "held_out_songs": len(held_out)}))


if __name__ == "__main__":
    main()
