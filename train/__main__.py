"""python -m train --data DIR [--out DIR] [hyper-parameters] [--resume]"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import musicgen  # noqa: F401  (quiets TensorFlow before anything imports it)
from musicgen.config import FRAMES_RECIPE, ORIGINAL_RECIPE, NETWORKS, STARTS, TRACK_CHOICES, Config, ConfigError
from musicgen.hub import ModelError
from musicgen.schemes import scheme_for

from .data import NoUsableFiles, load_corpus
from .fit import BACKUP_DIR

RECIPES = {"ours": {}, "original": ORIGINAL_RECIPE, "frames": FRAMES_RECIPE}

DEFAULTS = Config()


def context_lengths(text: str) -> list[int]:
    """--memory-orders "1,2,4,8,16" -> [1, 2, 4, 8, 16]; "" or "none" turns the memory off."""
    if text.strip().lower() in ("", "none", "off"):
        return []
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of frame counts like 1,2,4,8,16") from None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Train a musicgen model on a folder of MIDI files and write a model folder.")
    parser.add_argument("--data", type=Path, help="folder of *.mid/*.midi files, searched recursively "
                        "(default: Bach chorales from music21's bundled corpus)")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/<timestamp>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in --out, with its saved config")
    parser.add_argument("--push-to-hub", metavar="USER/NAME", help="publish the model folder to the Hub after training")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: a private repository")
    parser.add_argument("--max-files", type=int, help="use at most this many files (quick trials)")
    parser.add_argument("--warm-start", metavar="MODEL",
                        help="fine-tune: start from a trained event model (a folder, a Hub id user/name, or "
                             "default: the embedded one), its weights and tokens; its settings apply except where "
                             "a flag says otherwise")
    hyper = parser.add_argument_group("hyper-parameters (saved in config.json)")
    flags = {
        "epochs": int, "batch_size": int, "seq_len": int, "frames_per_second": int,
        "embedding_dim": int, "rnn_units": int, "rnn_layers": int, "dense_units": int,
        "dropout": float, "learning_rate": float, "min_count": int, "validation_share": float,
        "early_stopping_patience": int, "seed": int, "transpose_augment": int, "average_weights_over": float,
        "temperature": float, "top_p": float, "memory_orders": context_lengths, "memory_smoothing": float,
        "chunk_tokens": int, "style_min_songs": int, "style_dropout": float,
        "attention_layers": int, "attention_width": int, "attention_heads": int,
    }
    for name, kind in flags.items():
        hyper.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(DEFAULTS, name),
                           help=f"(default {getattr(DEFAULTS, name)})")
    for name, words in (("key_normalize", "transpose every song to C major / A minor"),
                        ("bidirectional", "read each window both ways, as the original"),
                        ("pitch_input", "show the network each frame's pitches besides its token"),
                        ("steering_tokens", "events: style, mode and chord tokens, so pieces can be steered"),
                        ("style_every_step", "events: the style joins the network's input at every step"),
                        ("start_tokens", "events: the header says whether a sequence starts where its song starts "
                                         "or at a bar inside it"),
                        ("melody_first", "events: each bar's melody before its chord and accompaniment"),
                        ("section_tokens", "events: a section token where each section of a song's form begins")):
        hyper.add_argument("--" + name.replace("_", "-"), action=argparse.BooleanOptionalAction,
                           default=getattr(DEFAULTS, name), help=f"{words} (default {getattr(DEFAULTS, name)})")
    hyper.add_argument("--recipe", choices=tuple(RECIPES), default="ours",
                       help="ours: event tokens, melody + accompaniment (the default); original: the study's "
                            "frames (5 fps chords, 3 x BiGRU(128), no key change); frames: our earlier frame "
                            "recipe. Flags given beside it still apply")
    hyper.add_argument("--network", choices=NETWORKS, default=DEFAULTS.network,
                       help="events: a GRU or a causal attention decoder (default %(default)s)")
    hyper.add_argument("--representation", choices=("events", "frames"), default=DEFAULTS.representation,
                       help=f"token scheme (default {DEFAULTS.representation})")
    hyper.add_argument("--start", choices=STARTS, default=DEFAULTS.start,
                       help=f"events with start tokens: where generated pieces start by default (default {DEFAULTS.start})")
    hyper.add_argument("--fps", dest="frames_per_second", type=int, help="same as --frames-per-second")
    hyper.add_argument("--tracks", choices=TRACK_CHOICES, default=DEFAULTS.tracks,
                       help=f"which tracks make the piano roll (default {DEFAULTS.tracks})")
    args = parser.parse_args(argv)
    args.config_fields = list(flags) + ["network", "tracks", "key_normalize", "bidirectional", "pitch_input", "representation",
                                        "steering_tokens", "style_every_step", "start_tokens", "melody_first", "section_tokens", "start"]
    args.given = {token.split("=")[0] for token in (argv if argv is not None else sys.argv[1:])}
    if args.recipe != "ours":
        take_unless_given(args, RECIPES[args.recipe])
    return args


def take_unless_given(args: argparse.Namespace, values: dict) -> None:
    """Settings from a recipe or a warm start, except where a flag asked for another."""
    for name, value in values.items():
        if not {"--" + name.replace("_", "-"), "--no-" + name.replace("_", "-")} & args.given:
            setattr(args, name, value)


def warm_start_model(source: str) -> tuple[Path, dict]:
    """(the folder, the settings) of the model a run starts from: a folder, a Hub id or "default";
    ModelError or ConfigError, in words, when it cannot be one."""
    from musicgen.hub import load

    music_model = load(source)  # checked as the app checks it, downloaded when a Hub id
    if not music_model.scheme.whole_sequences:
        raise ConfigError(f"--warm-start {source}: a frame model; only event models can be fine-tuned")
    return music_model.folder, {name: value for name, value in vars(music_model.config).items() if name != "version"}


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    warm_start = None
    try:
        if args.resume:
            if not (out_dir / "config.json").exists():
                raise ConfigError(f"{out_dir}: nothing to resume (no config.json); drop --resume to start a run")
            config = Config.load(out_dir / "config.json")
            if (out_dir / "model.keras").exists() and not (out_dir / BACKUP_DIR / "state.json").exists():
                further = (f"fine-tune it: --warm-start {out_dir} --out NEW_FOLDER; to fit its corrections again: "
                           f"python -m train.calibrate {out_dir} --data DIR" if scheme_for(config).whole_sequences
                           else "start a new run with more --epochs")
                raise ConfigError(f"{out_dir}: its training finished, there is nothing to resume (no {BACKUP_DIR}/). "
                                  f"To train it further, {further}")
            print(f"resuming {out_dir} with its saved config")
        else:
            if out_dir.exists() and any(out_dir.iterdir()):
                raise ConfigError(f"{out_dir} already holds a run: add --resume to continue it, "
                                  "or choose another --out")
            if args.warm_start:
                warm_start, settings = warm_start_model(args.warm_start)
                take_unless_given(args, settings)
            config = Config(**{name: getattr(args, name) for name in args.config_fields})
    except (ConfigError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    try:
        corpus = load_corpus(args.data, config, limit=args.max_files)
    except NoUsableFiles as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.max_files:
        corpus.songs = corpus.songs[:args.max_files]
    print(corpus.summary())

    from .fit import train

    try:
        metrics = train(config, corpus, out_dir, resume=args.resume, warm_start=warm_start,
                        warm_start_source=args.warm_start)
    except (ConfigError, ModelError) as error:  # a warm start that cannot be used
        print(f"error: {error}", file=sys.stderr)
        return 2
    best = metrics["best"] or {}
    print(f"\nwrote {out_dir}: best epoch {best.get('epoch')}, "
          + ", ".join(f"{key} {value:.4f}" for key, value in best.items() if key != "epoch"))
    print(f"next: python -m evaluate {out_dir} --data DIR   (scores the songs of DIR it never trained on)")
    if args.push_to_hub:  # the one step the training command chains: `python -m publish` does the same
        from publish import PublishError
        from publish.folder import publish

        try:
            print(f"published to {publish(out_dir, args.push_to_hub, args.private)}")
        except PublishError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
