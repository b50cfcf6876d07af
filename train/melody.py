"""Fit a trained event model's melody-interval bias (musicgen.melody) on its training songs.

    python -m train.melody MODEL_FOLDER [--data ../shared/datasets/pop909]

`python -m train` fits it once it has trained; this gives it to a model folder trained before
(its training songs are found in DATA by the hashes its metrics.json lists). Writes
MODEL_FOLDER/melody_intervals.json and prints the bias.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from musicgen.hub import load_folder
from musicgen.melody import CLASSES, MELODY_FILE

from .articulation import POP909, training_songs
from .data import prepared_ids
from .fit import fit_melody_intervals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a trained event model's folder")
    parser.add_argument("--data", default=str(POP909), help="the folder it was trained on")
    args = parser.parse_args(argv)
    folder = Path(args.model)
    try:
        config, songs, _ = training_songs(folder, args.data)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    music_model = load_folder(folder)
    events = music_model.vocab
    fit_melody_intervals(folder, events, [prepared_ids(song.score, events, config) for song in songs])
    print(f"wrote {folder / MELODY_FILE}: bias by interval 0..{CLASSES - 1}+ semitones "
          + " ".join(f"{value:+.2f}" for value in events.melody_intervals.bias))
    return 0


if __name__ == "__main__":
    sys.exit(main())
