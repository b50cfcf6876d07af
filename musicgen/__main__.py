"""python -m musicgen generate --model SOURCE --primer random|note:C4|midi:PATH ... --out song.mid"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .config import STARTS
from .midi import MidiError


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line and exit code 2, no usage block
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv=None) -> argparse.Namespace:
    parser = Parser(prog="python -m musicgen", description="Generate music with a musicgen model.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    gen = commands.add_parser("generate", help="sample a new piece and write .mid (and .wav, .png)")
    gen.add_argument("--primer", default="note:C4", help="random | note:C4 | midi:PATH (default note:C4, "
                     "which measured closer to real songs than random tokens)")
    gen.add_argument("--seconds", type=float, default=None,
                     help="length of each piece in seconds, above 0 and at most 600 (default 60); event models end on "
                     "the bar line nearest to it")
    gen.add_argument("--frames", type=int, help="frame models only: frames to generate (instead of --seconds)")
    gen.add_argument("--no-memory", action="store_true",
                     help="sample from the network alone, without the piece's memory of itself (the "
                          "config's piece memory, musicgen/memory.py, else the echo of its earlier bars, echo.json)")
    shared_flags(gen)
    steer = gen.add_argument_group("steering (event models)")
    steer.add_argument("--chords", help="a progression, one chord per 4-beat bar, repeating to the end, e.g. "
                       "\"C G Am F\"; names: C, Cm, C7, Cmaj7, Cm7, Cdim, Csus2, Csus4 on any root, with # or b")
    steer.add_argument("--key", help="e.g. \"Eb major\", \"F# minor\" (any of the 24; the MIDI carries its "
                       "key signature; default: the progression's key, else the model's own)")
    steer.add_argument("--tempo", type=float,
                       help="beats per minute, 30-300 (default: that of training songs about as busy as the piece)")
    steer.add_argument("--style", default="any", help="an artist the model learned (e.g. \"JJ Lin\"), or any")
    steer.add_argument("--start", choices=STARTS, help="begin as songs begin, or as from a bar inside a song "
                       "(default: the model's; needs a model trained with start tokens)")
    steer.add_argument("--form", help="sections and their bars, e.g. \"i4 A8 B8 A8 B8 o4\" (or i4A8B8A8B8o4): "
                       "A-E, X with a melody, i intro, b bridge, o outro, x other without; a returning letter plays "
                       "its first time again, --chords start again at each section; sets the length")
    accompany = commands.add_parser("accompany", help="write a piano accompaniment under a melody you bring")
    accompany.add_argument("melody", type=Path, help="a MIDI file: one track, or a track named melody, vocal or "
                           "lead (else its highest track is taken, and that is said)")
    accompany.add_argument("--chords", help="force a progression, one chord per bar, in the melody's key, repeating "
                           "(default: the chords read from the whole melody, one a half bar)")
    accompany.add_argument("--style", default="any", help="an artist the model learned, or any")
    shared_flags(accompany)
    return parser.parse_args(argv)


def shared_flags(command: argparse.ArgumentParser) -> None:
    """The model, the sampling settings, the seed, variations and the files: every command's."""
    command.add_argument("--model", help="model folder, Hub id user/name[@rev], or 'default' "
                         "(default: $MUSICGEN_MODEL or the embedded model)")
    command.add_argument("--temperature", type=float, help="0 = greedy (default: the model's)")
    command.add_argument("--top-k", type=int, help="keep the k likeliest tokens, 0 = off (default: the model's)")
    command.add_argument("--top-p", type=float, help="nucleus sampling, 1 = off (default: the model's)")
    command.add_argument("--seed", type=int, help="random seed (default: a new one, printed)")
    command.add_argument("--variations", type=int, default=1, help="pieces to draw as one batch")
    command.add_argument("--program", type=int, help="the accompaniment's General MIDI program 0-127 "
                         "(default: the model's)")
    command.add_argument("--out", type=Path, required=True, help="the .mid to write")
    command.add_argument("--wav", type=Path, help="also write audio here")
    command.add_argument("--png", type=Path, help="also write a piano-roll picture here")


def numbered(path: Path | None, index: int, count: int) -> Path | None:
    """song.mid -> song-1.mid, song-2.mid ... when there are several variations."""
    if path is None or count == 1:
        return path
    return path.with_name(f"{path.stem}-{index + 1}{path.suffix}")


def generate_command(args) -> int:
    from .hub import load
    from .request import Request
    from .steering import Steering

    music_model = load(args.model)
    if args.command == "accompany":
        steering = Steering.parse(args.chords, style=args.style)
        request = Request.build(music_model.config, primer=f"melody:{args.melody}", variations=args.variations,
                                temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                                steering=steering, program=args.program)
        return write_pieces(music_model, request, args)
    if args.frames is not None and args.seconds is not None:
        raise ValueError("give --seconds or --frames, not both")
    if args.frames is not None and music_model.scheme.whole_sequences:
        raise ValueError("--frames is for frame models; this model's length is set with --seconds")
    seconds = args.frames / music_model.config.frames_per_second if args.frames is not None else args.seconds
    steering = Steering.parse(args.chords, args.key, args.tempo, args.style, args.start, args.form)
    if steering.form and seconds is not None:
        raise ValueError("a form sets the length: give --form or --seconds, not both")
    request = Request.build(music_model.config, primer=args.primer, seconds=seconds, variations=args.variations,
                            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                            steering=steering, program=args.program, memory=not args.no_memory)
    return write_pieces(music_model, request, args)


def write_pieces(music_model, request, args) -> int:
    """Sample the request's pieces and write each one's files, saying what was made."""
    from .audio import synthesizer_name
    from .chords import bar_by_bar
    from .generate import compose, make_primer
    from .midi import downbeat_beats
    from .output import write_piece
    from .steering import form_name, sections_in_words

    primer = make_primer(music_model, request.primer, request.seed, request.variations, request.steering)
    for note in [music_model.note, *primer.notes]:
        if note:
            print(f"note: {note}")
    started = time.perf_counter()
    pieces = compose(music_model, request, primer)
    made = (f"accompanied {Path(request.primer.partition(':')[2]).name}" if request.primer.startswith("melody:")
            else f"sampled the form {form_name(request.steering.form)}" if request.steering.form
            else f"sampled {request.seconds:g} s")
    print(f"{made} x {len(pieces)} in {time.perf_counter() - started:.2f} s "
          f"(seed {request.seed}, model {music_model.source}"
          + (f", audio through {synthesizer_name()})" if args.wav else ")"))
    for index, piece in enumerate(pieces):
        paths = [numbered(path, index, len(pieces)) for path in (args.out, args.wav, args.png)]
        for path in paths:
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
        rendered = write_piece(piece, *paths, title=f"seed {request.seed}")
        written = ", ".join(str(path) for path in paths if path)
        tempo = f", {piece.tempo_bpm:g} BPM" if piece.tempo_bpm else ""
        tempo += f", {piece.key}" if piece.key else ""
        print(f"wrote {written}: {piece.midi.get_end_time():.1f} s{tempo}, {piece.note_count} notes"
              + (f" [{rendered.synthesizer}]" if rendered else ""))
        if request.primer.startswith("melody:") and not request.steering.chords:
            print(f"  chords read from the melody: {bar_by_bar(piece.score.chords, downbeat_beats(piece.midi))}")
        if piece.sections and not request.steering.form:
            labels = [label for _, label in piece.sections]
            print(f"  sections (a form drawn from the songs' own): {sections_in_words(labels)}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from .errors import ModelError
    from .output import OutputError

    try:
        return generate_command(args)
    except (ValueError, ModelError, MidiError, OSError, OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
