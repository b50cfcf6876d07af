"""Accompany held-out songs' melodies and compare what the model writes with the songs' own piano.

For each POP909 song the model never trained on (by file hash): 16 bars of its melody from its
first section with a melody (its hand labels placed on the MIDI by train/sections.py; a song whose
labels do not align: from its first bar with a melody note), written as one unnamed track at the
song's tempo, go through
`python -m musicgen accompany`'s path (Request "melody:PATH" -> sample_draft -> pieces_of). Then:
- every run succeeds, and the melody comes back note for note (pitch, onset within an eighth of a beat);
- the chord-tone share of the accompaniment against the song's annotated chords, as the issue reads
  them: `finalized_chord.txt`'s own pitch classes (sevenths, sixths and bass notes included), where
  its labels align; and against chord_midi.txt's chords read as musicgen's 96, beside the song's
  own piano over the same bars, and the song's piano over the chords moved 2 bars
  (a wrong progression in the same key); split in two: how well the accompaniment follows the chords
  it was written over (its chord-tone share against them) and how often those chords' roots are the
  song's own, at each half bar;
- notes per beat and mean pitch of the accompaniment, the model's against the song's;
- two judges between the songs' bars and the accompanied ones (gradient-boosted trees, folds by
  song): one on the listening features, and the independent one (evaluate/judge.py: where in the
  bar each part plays, the melody on the accompaniment's harmony, bass motion, bars coming back);
  the melody is the same on both sides, so they hear the accompaniment;
- CPU seconds per 60 s of accompaniment.

Last line JSON: songs, from_sections, succeeded_share, melody_kept_share, annotated_chord_tone_share,
songs_annotated_chord_tone_share, chord_tone_share, songs_chord_tone_share,
own_chords_chord_tone_share, chord_root_agreement, wrong_progression_chord_tone_share, notes_per_beat,
songs_notes_per_beat, mean_pitch, songs_mean_pitch, judge_auc, independent_judge_auc, cpu_seconds_per_minute.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as shipped: the CLI and the app sample on one BLAS thread

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pretty_midi

from evaluate import judge as independent_judge
from musicgen.calibration.harmony import chords_at_half_bars
from musicgen.chords import NO_CHORD, chord_tone_share
from musicgen.generate import pieces_of, sample_draft
from musicgen.hub import load
from musicgen.listening import statistics
from musicgen.request import Request
from musicgen.score import ACCOMPANIMENT, MELODY, Score
from train.data import load_corpus, split_held_out, training_digests
from train.sections import MIN_AGREEMENT, best_shift, label_roots

ROOT = Path(__file__).resolve().parents[1]
POP909 = ROOT.parent / "shared" / "datasets" / "pop909"
BARS = 16
ANNOTATED_CHORD = re.compile(r"^(\S+)\s+\[([^\]]*)\]\s*(?:-?\d+)?\s+(\d+)\s*$")  # finalized_chord.txt: NAME [PCS] ROOT BEATS


def first_melody_bar(song) -> tuple[int, bool] | None:
    """(the bar an excerpt starts at, whether it is a labelled section's first bar): the first
    section with a melody (upper-case letter), else the first bar with a melody note."""
    melodic = [first for first, letter, _ in song.sections if letter.isupper()]
    if melodic:
        return min(melodic), True
    melody = song.score.parts.get(MELODY)
    return (int(melody[:, 0].min() // song.score.beats_per_bar), False) if melody is not None and len(melody) else None


def excerpt(score: Score, first_bar: int) -> Score | None:
    """BARS bars of a song from first_bar (None when they hold too little melody or no piano)."""
    cut = score.cropped(4 * first_bar, 4 * (first_bar + BARS))
    return cut if len(cut.parts.get(MELODY, [])) >= 8 and len(cut.parts.get(ACCOMPANIMENT, [])) else None


def annotated_chords(folder: Path, score: Score, first_bar: int) -> np.ndarray | None:
    """finalized_chord.txt's chords over the excerpt from first_bar, placed on the MIDI's beats as
    train/sections.py places the labels: rows (start beat, end beat, pitch classes as a 12-bit
    mask); None without the file or where it does not align."""
    path = folder / "finalized_chord.txt"
    if not path.is_file() or not len(score.chords):
        return None
    shift, agreement = best_shift(label_roots(path), score)
    if agreement < MIN_AGREEMENT:
        return None
    rows, beat = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        match = ANNOTATED_CHORD.match(line.strip())
        if not match:
            continue
        beats = int(match.group(3))
        classes = [int(value) % 12 for value in match.group(2).replace(",", " ").split()]
        if classes and not match.group(1).startswith("N"):
            rows.append((beat + shift - 4 * first_bar, beat + beats + shift - 4 * first_bar,
                         sum(1 << value for value in set(classes))))
        beat += beats
    rows = np.array(rows, float).reshape(-1, 3)
    rows = rows[(rows[:, 1] > 0) & (rows[:, 0] < 4 * BARS)]
    return rows if len(rows) else None


def annotated_tone_share(notes: np.ndarray, chords: np.ndarray | None) -> float | None:
    """Share of the notes' duration whose pitch class is one of the annotated chord's at their
    onset (notes under no chord left out), as the POP909 README measures its songs' piano (97%)."""
    if chords is None or not len(notes):
        return None
    index = np.searchsorted(chords[:, 0], notes[:, 0], side="right") - 1
    under = (index >= 0) & (notes[:, 0] < chords[index.clip(0), 1])
    if not under.any():
        return None
    masks = chords[index[under], 2].astype(int)
    hits = (masks >> (notes[under, 2].astype(int) % 12)) & 1
    durations = notes[under, 1] - notes[under, 0]
    return float((durations * hits).sum() / durations.sum())


def write_melody(score: Score, path: Path) -> None:
    """The excerpt's melody as one unnamed track at its tempo (what a person brings)."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=score.tempo_bpm)
    track = pretty_midi.Instrument(0)
    spb = score.seconds_per_beat
    track.notes = [pretty_midi.Note(int(velocity), int(pitch), start * spb, end * spb)
                   for start, end, pitch, velocity in score.parts[MELODY]]
    midi.instruments.append(track)
    midi.write(str(path))


def melody_kept(score: Score, midi: pretty_midi.PrettyMIDI) -> float:
    """The share of the excerpt's melody notes found in the piece's Melody part (pitch, onset within 1/8 beat)."""
    melody = next((instrument for instrument in midi.instruments if instrument.name == MELODY), None)
    if melody is None:
        return 0.0
    spb = score.seconds_per_beat
    found = {(note.pitch, round(note.start / spb * 8)) for note in melody.notes}
    wanted = [(int(pitch), start) for start, _, pitch, _ in score.parts[MELODY]]
    return float(np.mean([any((pitch, round(start * 8) + d) in found for d in (-1, 0, 1)) for pitch, start in wanted]))


def root_agreement(written: np.ndarray, songs: np.ndarray) -> float | None:
    """The share of half bars under a chord in both whose chords share a root (the chords the
    accompaniment was written over against the song's own)."""
    ours, theirs = chords_at_half_bars(written, 2 * BARS), chords_at_half_bars(songs, 2 * BARS)
    both = (ours != NO_CHORD) & (theirs != NO_CHORD)
    return float(np.mean(ours[both] // 8 == theirs[both] // 8)) if both.any() else None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", type=Path, default=POP909)
    parser.add_argument("--songs", type=int, default=40, help="held-out songs to accompany (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = load(args.model)
    corpus = load_corpus(args.data, model.config, progress=False)
    held_out, _ = split_held_out(corpus, training_digests(model.folder))
    excerpts = []  # (name, the excerpt, whether it starts at a labelled section, its annotated chords)
    for song in held_out:
        start = first_melody_bar(song)
        if start is not None and (cut := excerpt(song.score, start[0])) is not None:
            excerpts.append((song.name, cut, start[1], annotated_chords(args.data / Path(song.name).parent,
                                                                        song.score, start[0])))
    excerpts = excerpts[:args.songs]
    rows, generated, real, cpu, music_seconds = [], [], [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as folder:
        for index, (name, cut, _, annotated) in enumerate(excerpts):
            path = Path(folder) / f"{index}.mid"
            write_melody(cut, path)
            started = time.process_time()
            try:
                piece = pieces_of(model, sample_draft(model, Request.build(model.config, primer=f"melody:{path}",
                                                                           seed=args.seed + index)))[0]
            except Exception as error:  # a run that fails counts against the model, and is named
                print(f"{name}: failed ({type(error).__name__}: {error})")
                rows.append({"song": name, "succeeded": False})
                continue
            cpu += time.process_time() - started
            music_seconds += BARS * 4 * cut.seconds_per_beat
            ours = piece.score.parts.get(ACCOMPANIMENT, np.zeros((0, 4)))
            theirs = cut.parts[ACCOMPANIMENT]
            moved = cut.chords.copy()
            moved[:, :2] += 8  # the song's chords two bars late: a wrong progression in the right key
            rows.append({"song": name, "succeeded": True, "melody_kept": melody_kept(cut, piece.midi),
                         "annotated_chord_tones": annotated_tone_share(ours, annotated),
                         "songs_annotated_chord_tones": annotated_tone_share(theirs, annotated),
                         "chord_tones": chord_tone_share(ours, cut.chords) if len(cut.chords) else None,
                         "own_chord_tones": chord_tone_share(ours, piece.score.chords) if len(piece.score.chords) else None,
                         "root_agreement": root_agreement(piece.score.chords, cut.chords),
                         "songs_chord_tones": chord_tone_share(theirs, cut.chords) if len(cut.chords) else None,
                         "wrong_chord_tones": chord_tone_share(theirs, moved) if len(cut.chords) else None,
                         "notes_per_beat": len(ours) / (4 * BARS), "songs_notes_per_beat": len(theirs) / (4 * BARS),
                         "mean_pitch": float(ours[:, 2].mean()) if len(ours) else float("nan"),
                         "songs_mean_pitch": float(theirs[:, 2].mean())})
            generated.append(Score({MELODY: cut.parts[MELODY], ACCOMPANIMENT: ours}, cut.tempo_bpm))
            real.append(cut)
            row = rows[-1]
            print(f"{name}: melody kept {row['melody_kept']:.2f}, chord tones {row['annotated_chord_tones'] or float('nan'):.2f} "
                  f"(song's piano {row['songs_annotated_chord_tones'] or float('nan'):.2f}), notes/beat "
                  f"{row['notes_per_beat']:.2f} ({row['songs_notes_per_beat']:.2f})")
    done = [row for row in rows if row["succeeded"]]

    def mean(key):
        values = [row[key] for row in done if row.get(key) is not None and np.isfinite(row[key])]
        return round(float(np.mean(values)), 4) if values else None

    from evaluate.listening import two_sample_auc

    generated_stats, _ = statistics(generated)
    names = [name for name, *_ in excerpts[:len(real)]]
    real_stats, groups = statistics(real, names)
    judge = two_sample_auc(generated_stats, real_stats, groups, seed=args.seed, nonlinear=True)
    independent = independent_judge.auc(generated, real, names, seed=args.seed, generated_groups=names)
    print(json.dumps({"songs": len(rows), "from_sections": sum(from_section for _, _, from_section, _ in excerpts),
                      "succeeded_share": round(len(done) / max(len(rows), 1), 4),
                      "melody_kept_share": mean("melody_kept"),
                      "annotated_chord_tone_share": mean("annotated_chord_tones"),
                      "songs_annotated_chord_tone_share": mean("songs_annotated_chord_tones"),
                      "chord_tone_share": mean("chord_tones"),
                      "songs_chord_tone_share": mean("songs_chord_tones"),
                      "own_chords_chord_tone_share": mean("own_chord_tones"), "chord_root_agreement": mean("root_agreement"),
                      "wrong_progression_chord_tone_share": mean("wrong_chord_tones"),
                      "notes_per_beat": mean("notes_per_beat"), "songs_notes_per_beat": mean("songs_notes_per_beat"),
                      "mean_pitch": mean("mean_pitch"), "songs_mean_pitch": mean("songs_mean_pitch"),
                      "judge_auc": round(judge, 4) if np.isfinite(judge) else None,
                      "independent_judge_auc": round(independent, 4) if np.isfinite(independent) else None,
                      "cpu_seconds_per_minute": round(60 * cpu / max(music_seconds, 1e-9), 3)}))


if __name__ == "__main__":
    main()
