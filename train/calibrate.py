"""Fit a trained event model's corrections (musicgen.calibration) on its training songs.

    python -m train.calibrate MODEL_FOLDER [--data DIR] [--only tempos,articulation,...]

`python -m train` runs this once the network is trained. For a folder trained before a correction
existed, it finds the folder's training songs in DATA (by the hashes its metrics.json lists) and
writes every member beside the weights: the tempo table, the articulation and the repeats are
measured on the songs, and so is how the songs' melodies sit in their keys (to read the key of a
tune brought to accompany), and a small tagger learns their chords from their melodies (to read the
chords under that tune); the songs' forms are read where their folder names them (POP909's human
labels), and the echo of the piece's earlier bars is fitted under the trained network. Asked for
with --only: the melody's interval bias (fitted under the network; the echo after it, under both)
and the song-likeness, which learns to tell the network's own pieces from the songs. The network is
not touched.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from musicgen.calibration import FAMILY, Corrections
from musicgen.calibration.articulation import Articulation
from musicgen.calibration.echo import DISTANCES, Echo, return_distances
from musicgen.calibration.forms import SongForms
from musicgen.calibration.harmony import Harmony
from musicgen.calibration.likeness import Likeness
from musicgen.calibration.melody import fit_on_songs
from musicgen.model import read_logits
from musicgen.calibration.melody_key import MelodyKey
from musicgen.calibration.repeats import Repeats
from musicgen.calibration.tempo import TempoTable
from musicgen.config import ANY_STYLE, Config
from musicgen.listening import CLASSIFIER_VECTOR_NAMES, segments, statistics

from .data import load_corpus, prepared_ids, split_held_out, training_digests

MELODY_FIT_SONGS = 80  # enough: 27,000 melody notes of POP909 for 13 numbers
ECHO_FIT_SONGS = 60  # 480,000 tokens of POP909 for 16 numbers (20 with the returns of the 53 whose forms align)
LIKENESS_PIECES = 256  # the network's own pieces, against about 2,700 segments of POP909's training songs
LIKENESS_SECONDS = 60.0
NAMES = {Path(member.FILE).stem: member for member in FAMILY}  # --only's words
# Fitted unless asked otherwise. The song-likeness and the melody interval bias only when asked
# (--only likeness, --only melody_intervals): the judge they do not read confirms neither
# (docs/measurements/song-likeness.md, corrections.md). Drawn forms are fitted (where the songs'
# folder labels their sections): with their returns recalled by the echo, the independent judge
# hears pieces closer to songs (form.md).
ONLY_WHEN_ASKED = ("likeness", "melody_intervals")
DEFAULT = tuple(name for name in NAMES if name not in ONLY_WHEN_ASKED)


def calibrate(folder: Path, songs: list, songs_ids: list | None = None, only: set[str] | None = None,
              progress: bool = False, say=print) -> Corrections:
    """Fit the corrections named in `only` (default: DEFAULT) for the model in folder on its training
    songs (their ids under its tokens as songs_ids, computed when None), save them beside the
    weights, and return the folder's corrections."""
    from musicgen.hub import load_folder

    music_model = load_folder(folder)
    events, config = music_model.vocab, music_model.config
    wanted = set(DEFAULT) if only is None else only
    if songs_ids is None and wanted & {"repeats", "melody_intervals", "echo"}:  # the songs under the model's tokens
        songs_ids = [prepared_ids(song.score, events, config) for song in songs]
    corrections = music_model.corrections
    measured = []
    if "tempos" in wanted:
        styles = [song.artist if song.artist in (events.styles or ()) else ANY_STYLE for song in songs]
        measured.append(TempoTable.measured([song.score for song in songs], styles))
    if "articulation" in wanted:
        measured.append(measure_articulation(songs, events, progress))
    if "repeats" in wanted:
        measured.append(Repeats.measured(songs_ids, events.grammar.bar_id))
    if "melody_key" in wanted:
        key = MelodyKey.measured([song.score for song in songs])
        if key is not None:
            measured.append(key)
    if "harmony" in wanted:  # a small tagger: 2.5 minutes on POP909's 745 training songs (2 CPU cores)
        harmony = Harmony.fitted([song.score for song in songs], progress=progress)
        if harmony is not None:
            measured.append(harmony)
    if "forms" in wanted:  # only where the songs' folder names their sections (POP909's human labels)
        forms = SongForms.measured([song.form for song in songs])
        if forms is not None:
            measured.append(forms)
    if "melody_intervals" in wanted:
        measured.append(fit_on_songs(lambda ids: read_logits(music_model.network, np.asarray(ids[:-1])[None, :])[0],
                                     songs_ids[:MELODY_FIT_SONGS], events.melody_program_id,
                                     events.pitch_of))
    for member in measured:
        member.save(folder)
        corrections = corrections.with_(member)
    if "echo" in wanted:  # under the network as shipped: its melody bias (fitted just above), if any, included
        echo = fit_echo(music_model, corrections, songs_ids[:ECHO_FIT_SONGS], songs[:ECHO_FIT_SONGS])
        echo.save(folder)
        corrections = corrections.with_(echo)
    say(describe(corrections, len(songs)))
    if "likeness" in wanted:  # it samples the network with the corrections above
        music_model.corrections = corrections.without("among candidates")
        likeness = fit_likeness(music_model, songs)
        if likeness is None:
            say("no likeness.json written: the songs or the network's pieces are silent")
        else:
            likeness.save(folder)
            corrections = corrections.with_(likeness)
            leaning = sorted(zip(CLASSIFIER_VECTOR_NAMES, likeness.coefficients), key=lambda item: -abs(item[1]))[:6]
            say(f"  likeness: each piece kept from {likeness.candidates} candidates; songs have more (+) or less (-) of "
                + ", ".join(f"{name} {value:+.2f}" for name, value in leaning))
    return corrections


def fit_echo(music_model, corrections, songs_ids: list, songs: list | None = None) -> Echo:
    """The echo's weights under the network and the melody bias in corrections, on these songs
    (their ids; with the songs, their returning sections recalled where their forms are known)."""
    events, melody = music_model.vocab, corrections.melody
    probabilities = []
    for ids in songs_ids:
        ids = np.asarray(ids)
        logits = read_logits(music_model.network, ids[:-1][None, :])[0].astype(np.float64)
        if melody is not None:
            melody.adjust(ids, logits, events.melody_program_id, events.pitch_of)
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        probabilities.append(np.exp(log_p[np.arange(len(ids) - 1), ids[1:]]))
    returns = None
    if songs is not None:
        bar_id = events.grammar.bar_id
        returns = [return_distances(song.sections or (), int(np.sum(np.asarray(ids) == bar_id)))
                   for song, ids in zip(songs, songs_ids)]
    return Echo.fitted(songs_ids, probabilities, events.grammar, returns)


def measure_articulation(songs: list, events, progress: bool = False) -> Articulation:
    """The songs' performed note lengths against the written ones."""
    from tqdm import tqdm

    return Articulation.measured((song.score for song in tqdm(songs, desc="measuring articulation", unit="song",
                                                              disable=not progress)), events)


def fit_likeness(music_model, songs: list, pieces: int = LIKENESS_PIECES, seed: int = 0) -> Likeness | None:
    """The song-likeness of music_model (sampled without one) from these (training) songs; None
    when the songs or the network's pieces are all silent."""
    from musicgen.generate import sample_scores

    # Songs shorter than a segment count whole; every key alike (Likeness.logits).
    song_statistics, _ = statistics([segment for song in songs
                                     for segment in segments(song.score, LIKENESS_SECONDS) or [song.score]])
    pieces = min(pieces, max(16, 2 * len(song_statistics)))  # a small folder: about as many pieces as segments
    piece_statistics, _ = statistics(sample_scores(music_model, pieces, LIKENESS_SECONDS, seed)[0])
    if not song_statistics or not piece_statistics:
        return None
    return Likeness.fit(song_statistics, piece_statistics)


def describe(corrections: Corrections, songs: int) -> str:
    """A few lines on what was measured."""
    lines = [f"corrections from {songs} training songs: {', '.join(corrections.names())}"]
    tempo, articulation, repeats, melody = (corrections.tempo, corrections.articulation, corrections.repeats,
                                            corrections.melody)
    if tempo is not None and tempo.onsets_per_beat is not None:
        lines.append(f"  tempo: median {np.median(tempo.tempos):.0f} BPM, "
                     f"{np.median(tempo.onsets_per_beat):.2f} onsets a beat")
    if articulation is not None:
        for part, by_length in articulation.lengths.items():
            shown = ", ".join(f"{sixteenths / 4:g} -> {np.median(quantiles):.2f}"
                              for sixteenths, quantiles in list(by_length.items())[:6])
            lines.append(f"  {part}, written beats -> median played beats: {shown}")
    if repeats is not None:
        lines.append("  a bar starts playing the bar " + ", ".join(
            f"{distance} bars back {start:.2%} (then {go_on:.0%})" for distance, (start, go_on) in repeats.chances.items()))
    if corrections.forms is not None:
        lines.append(f"  forms: {len(corrections.forms.forms)} songs' sections")
    if corrections.melody_key is not None:
        lines.append("  melodies' time by pitch class in C major / A minor: "
                     + " ".join(f"{share:.2f}" for share in corrections.melody_key.shares))
    if corrections.harmony is not None:
        lines.append("  harmony: a tagger reads a brought tune's chords, a half bar each (harmony.keras)")
    if corrections.echo is not None:
        lines.append("  echo, the weight of the token at the same place " + ", ".join(
            f"{distance} bar{'s' * (distance > 1)} back: {weights[-1]:.2f} after a long match, {weights[0]:.3f} after a miss"
            for distance, weights in zip(DISTANCES, corrections.echo.weights)))
        if corrections.echo.returns is not None:
            lines.append(f"  echo of a returning section's first time: {corrections.echo.returns[-1]:.2f} after a "
                         f"long match, {corrections.echo.returns[0]:.3f} after a miss")
    if melody is not None:
        lines.append("  melody bias by interval: " + " ".join(f"{value:+.2f}" for value in melody.bias))
    return "\n".join(lines)


def training_songs(folder: Path, data: str) -> tuple[Config, list, int]:
    """(config, the folder's training songs found in data, how many its metrics.json lists);
    ValueError when it is not an event model or none of its songs is there."""
    from musicgen.schemes import scheme_for

    try:
        config = Config.load(folder / "config.json")
    except OSError:
        raise ValueError(f"{folder} is not a model folder (no config.json in it)") from None
    if not scheme_for(config).whole_sequences:
        raise ValueError(f"{folder} holds a {config.representation} model; corrections are fitted for event models")
    trained_on = training_digests(folder)
    _, songs = split_held_out(load_corpus(data, config), trained_on)
    if not trained_on or not songs:
        raise ValueError(f"none of the training songs that {folder / 'metrics.json'} lists is in {data}")
    return config, songs, len(trained_on)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained event model's folder")
    parser.add_argument("--data", required=True, help="the folder of MIDI files it was trained on")
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(NAMES)} (default: {', '.join(DEFAULT)})")
    args = parser.parse_args(argv)
    only = None
    if args.only:
        only = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = sorted(only - set(NAMES))
        if unknown:
            print(f"error: no correction named {', '.join(unknown)}; names: {', '.join(NAMES)}", file=sys.stderr)
            return 2
    try:
        _, songs, listed = training_songs(args.model, args.data)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(songs)} of the {listed} training songs found in {args.data}")
    calibrate(args.model, songs, only=only, progress=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
