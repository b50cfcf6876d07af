"""Measure what a trained event model's sampler reads from its training songs, for a folder
trained before the measure existed.

    python -m train.measure MODEL_FOLDER [--data ../shared/datasets/pop909]

`python -m train` measures all of it while it trains. This finds the folder's training songs in
DATA (by the hashes its metrics.json lists) and writes, beside the weights: tempos.json (each
song's tempo, and how busy it is and its opening bars: musicgen.representations.events),
articulation.json (how long the notes written alike were played: musicgen.articulation) and
repeats.json (how often a bar is played again: musicgen.repeats). The network is not touched.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from musicgen.config import Config
from musicgen.representations.events import Events

from .data import load_corpus, measure_for_sampling, prepared_ids
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
    measure_for_sampling(events, songs, [prepared_ids(song.score, events, config) for song in songs], progress=True)
    events.save(folder)
    print(f"wrote tempos.json, articulation.json and repeats.json in {folder} from {len(songs)} of its {listed} "
          f"training songs")
    print(f"  tempo: median {np.median(events.tempos):.0f} BPM, {np.median(events.onsets_per_beat):.2f} onsets a beat")
    for part, by_length in events.articulation.lengths.items():
        shown = ", ".join(f"{sixteenths / 4:g} -> {np.median(quantiles):.2f}"
                          for sixteenths, quantiles in list(by_length.items())[:6])
        print(f"  {part}, written beats -> median played beats: {shown}")
    shown = ", ".join(f"{distance} bars back {start:.2%} (then {go_on:.0%})"
                      for distance, (start, go_on) in events.repeats.chances.items())
    print(f"  a bar starts playing the bar {shown}")


def main(argv: list[str] | None = None) -> int:
    return on_training_songs(argv, __doc__.splitlines()[0], measure)


if __name__ == "__main__":
    sys.exit(main())
