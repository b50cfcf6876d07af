"""Measure a trained event model's articulation (musicgen.articulation) from its training songs.

    python -m train.articulation MODEL_FOLDER [--data ../shared/datasets/pop909]

`python -m train` measures it while it trains; this gives it to a model folder trained before
(its training songs are found in DATA by the hashes its metrics.json lists). Writes
MODEL_FOLDER/articulation.json and prints what a written length is played as.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from musicgen.articulation import ARTICULATION_FILE
from musicgen.config import Config
from musicgen.representations.events import Events

from .data import load_corpus, measure_articulation
from .evaluate_events import split_held_out, training_digests

POP909 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pop909"


def training_songs(folder: Path, data: str) -> tuple[Config, list, int]:
    """(config, the folder's training songs found in data, how many its metrics.json lists);
    ValueError when it is not an event model or none of its songs is there."""
    try:
        config = Config.load(folder / "config.json")
    except OSError:
        raise ValueError(f"{folder} is not a model folder (no config.json in it)") from None
    if config.representation != "events":
        raise ValueError(f"{folder} holds a {config.representation} model; this is for event models")
    trained_on = training_digests(folder)
    _, songs = split_held_out(load_corpus(data, config), trained_on)
    if not trained_on or not songs:
        raise ValueError(f"none of the training songs that {folder / 'metrics.json'} lists is in {data}")
    return config, songs, len(trained_on)


def on_training_songs(argv: list[str] | None, description: str, action) -> int:
    """The command line of MODEL_FOLDER [--data DIR]: action(folder, config, its training songs,
    how many metrics.json lists) once they are found, else one line and exit status 2."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model", help="a trained event model's folder")
    parser.add_argument("--data", default=str(POP909), help="the folder it was trained on")
    args = parser.parse_args(argv)
    folder = Path(args.model)
    try:
        config, songs, listed = training_songs(folder, args.data)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    action(folder, config, songs, listed)
    return 0


def measure(folder: Path, config: Config, songs: list, listed: int) -> None:
    events = Events.load(folder)
    events.articulation = measure_articulation(songs, events, progress=True)
    events.articulation.save(folder)
    print(f"wrote {folder / ARTICULATION_FILE} from {len(songs)} of its {listed} training songs")
    for part, by_length in events.articulation.lengths.items():
        shown = ", ".join(f"{sixteenths / 4:g} -> {np.median(quantiles):.2f}"
                          for sixteenths, quantiles in list(by_length.items())[:6])
        print(f"  {part}, written beats -> median played beats: {shown}")


def main(argv: list[str] | None = None) -> int:
    return on_training_songs(argv, __doc__.splitlines()[0], measure)


if __name__ == "__main__":
    sys.exit(main())
