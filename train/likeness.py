"""Fit a trained event model's song-likeness (musicgen.likeness) on its training songs.

    python -m train.likeness MODEL_FOLDER [--data ../shared/datasets/pop909]

`python -m train` fits it once it has trained; this gives it to a model folder trained before
(its training songs are found in DATA by the hashes its metrics.json lists). The network writes
LIKENESS_PIECES pieces of 60 s with the folder's sampling defaults, one candidate each; a
logistic model learns to tell them from the training songs' 60 s segments. Writes
MODEL_FOLDER/likeness.json and prints what the model leans on.
"""
from __future__ import annotations

import sys
from pathlib import Path


from musicgen.hub import load_folder
from musicgen.likeness import LIKENESS_FILE, Likeness
from musicgen.listening import CLASSIFIER_VECTOR_NAMES

from .measure import on_training_songs

LIKENESS_PIECES = 256  # the network's own pieces, against about 2,700 segments of POP909's training songs
SECONDS = 60.0


def fit_likeness(folder: Path, songs: list, pieces: int = LIKENESS_PIECES, seed: int = 0) -> Likeness | None:
    """The song-likeness of the model in folder, from these (training) songs, saved beside it;
    None (and nothing written) when the songs or the network's pieces are all silent."""
    from .evaluate_events import generated_scores
    from .listening import segments, statistics

    music_model = load_folder(folder)
    music_model.vocab.likeness = None  # the network's own pieces, as it writes them
    # Songs shorter than a segment count whole; every key alike (Likeness.logits).
    song_statistics, _ = statistics([segment for song in songs
                                     for segment in segments(song.score, SECONDS) or [song.score]])
    pieces = min(pieces, max(16, 2 * len(song_statistics)))  # a small folder: about as many pieces as segments
    piece_statistics, _ = statistics(generated_scores(music_model, pieces, SECONDS, seed)[0])
    if not song_statistics or not piece_statistics:
        return None
    likeness = Likeness.fit(song_statistics, piece_statistics)
    likeness.save(folder)
    return likeness


def fit(folder: Path, config, songs: list, listed: int) -> None:
    likeness = fit_likeness(folder, songs)
    if likeness is None:
        print(f"no {LIKENESS_FILE} written: the songs or the network's pieces are silent")
        return
    leaning = sorted(zip(CLASSIFIER_VECTOR_NAMES, likeness.coefficients), key=lambda item: -abs(item[1]))[:6]
    print(f"wrote {folder / LIKENESS_FILE} from {len(songs)} of its {listed} training songs and its own pieces; "
          f"each piece is kept from {likeness.candidates} candidates. Songs have more (+) or less (-) of: "
          + ", ".join(f"{name} {value:+.2f}" for name, value in leaning))


def main(argv: list[str] | None = None) -> int:
    return on_training_songs(argv, __doc__.splitlines()[0], fit)


if __name__ == "__main__":
    sys.exit(main())
