"""Fit a trained event model's melody-interval bias (musicgen.melody) on its training songs.

    python -m train.melody MODEL_FOLDER [--data ../shared/datasets/pop909]

`python -m train` fits it once it has trained; this gives it to a model folder trained before
(its training songs are found in DATA by the hashes its metrics.json lists). Writes
MODEL_FOLDER/melody_intervals.json and prints the bias.
"""
from __future__ import annotations

import sys
from pathlib import Path

from musicgen.hub import load_folder
from musicgen.melody import CLASSES, MELODY_FILE

from .measure import on_training_songs
from .data import prepared_ids
from .fit import MELODY_FIT_SONGS, fit_melody_intervals


def fit(folder: Path, config, songs: list, listed: int) -> None:
    events = load_folder(folder).vocab
    fit_melody_intervals(folder, events, [prepared_ids(song.score, events, config) for song in songs])
    bias = " ".join(f"{value:+.2f}" for value in events.melody_intervals.bias)
    print(f"wrote {folder / MELODY_FILE} from {min(len(songs), MELODY_FIT_SONGS)} of its {listed} training "
          f"songs: bias by interval 0..{CLASSES - 1}+ semitones {bias}")


def main(argv: list[str] | None = None) -> int:
    return on_training_songs(argv, __doc__.splitlines()[0], fit)


if __name__ == "__main__":
    sys.exit(main())
