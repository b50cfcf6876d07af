"""python -m train.evaluate MODEL --data DIR: held-out likelihood, n-gram baselines, generated-vs-real.

Event models: train/evaluate_events.py scores the songs of DIR the model never trained on (by
file hash). Frame models (this module): the held-out songs are the validation songs named in
the folder's metrics.json (the n-grams are fitted on its training songs); with no such record
every song in DIR is held out and the n-grams are left out.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from musicgen.memory import PieceMemory

from . import features
from .data import prepared_tokens


class NGram:
    """An interpolated (Witten-Bell) n-gram over token ids, backing off down to a uniform distribution.

    Songs are left-padded with rests (id 0), as the network's windows are.
    """

    def __init__(self, songs: list[np.ndarray], vocab_size: int, order: int):
        self.order, self.vocab_size = order, vocab_size
        self.counts = [defaultdict(Counter) for _ in range(order)]  # [n][context tuple][next id]
        for song in songs:
            padded = [0] * (order - 1) + [int(i) for i in song]
            for position in range(order - 1, len(padded)):
                for n in range(order):
                    context = tuple(padded[position - n:position])
                    self.counts[n][context][padded[position]] += 1
        # (total, kinds) of what followed each context, counted once rather than at every look-up
        self.sizes = [{context: (sum(following.values()), len(following)) for context, following in level.items()}
                      for level in self.counts]

    def probability(self, context: tuple, token: int, order: int | None = None) -> float:
        """p(token | context) with contexts up to order - 1 tokens (default: this n-gram's order)."""
        probability = 1.0 / self.vocab_size
        for n in range(order or self.order):
            key = context[len(context) - n:] if n else ()
            following = self.counts[n].get(key)
            if not following:
                continue
            total, types = self.sizes[n][key]
            probability = (following[token] + types * probability) / (total + types)
        return probability

    def target_probabilities(self, song: np.ndarray, order: int | None = None) -> list[float]:
        """The probability of each token of song given the tokens before it."""
        padded = [0] * (self.order - 1) + [int(i) for i in song]
        return [self.probability(tuple(padded[position - self.order + 1:position]), padded[position], order)
                for position in range(self.order - 1, len(padded))]


def ngram_baselines(train_songs: list[np.ndarray], validation_songs: list[np.ndarray], vocab_size: int,
                    orders=(1, 2, 3, 4), memory: PieceMemory | None = None) -> tuple[dict, dict]:
    """({"1-gram": nll, ...}, the same with memory or {}) on the validation songs, fitted on the training songs.

    The n-grams with the piece memory show how much of the network's lead the memory alone makes.
    """
    plain, remembering = {}, {}
    for order in orders:
        ngram = NGram(train_songs, vocab_size, order)
        per_song = [ngram.target_probabilities(song) for song in validation_songs]
        plain[f"{order}-gram"] = mean_nll(np.concatenate(per_song))
        if memory is not None:
            remembering[f"{order}-gram"] = mean_nll(np.concatenate(
                [remembered(memory, song, probabilities) for song, probabilities in zip(validation_songs, per_song)]))
    return plain, remembering


def mean_nll(probabilities) -> float:
    return float(-np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), 1e-12)).mean())


def remembered(memory: PieceMemory, song: np.ndarray, probabilities) -> np.ndarray:
    """Each frame's probability after blending in the memory of the song before it (memory starts empty)."""
    memory = memory.copy()
    blended = np.empty(len(song))
    for position, (token_id, probability) in enumerate(zip(song, probabilities)):
        blended[position] = memory.mix_one(float(probability), int(token_id))
        memory.add(int(token_id))
    return blended


def network_scores(network, songs_ids: list[np.ndarray], seq_len: int,
                   memory: PieceMemory | None = None) -> dict[str, float]:
    """Per-frame NLL (nats) and top-1 accuracy on every frame of the songs, with the piece memory
    when given (and then also the network's alone, as network_nll and network_top1_accuracy)."""
    from .data import windows_of

    windows, targets = windows_of(songs_ids, seq_len)
    probabilities = network.predict(windows, batch_size=512, verbose=0)
    scores = {"nll": mean_nll(probabilities[np.arange(len(targets)), targets]),
              "top1_accuracy": float((probabilities.argmax(axis=1) == targets).mean())}
    if memory is None:
        return scores
    first = 0
    for song in songs_ids:
        song_memory = memory.copy()
        for row in range(first, first + len(song)):
            probabilities[row] = song_memory.mix(probabilities[row])
            song_memory.add(int(targets[row]))
        first += len(song)
    return {"nll": mean_nll(probabilities[np.arange(len(targets)), targets]),
            "top1_accuracy": float((probabilities.argmax(axis=1) == targets).mean()),
            "network_nll": scores["nll"], "network_top1_accuracy": scores["top1_accuracy"]}


PRIMER_KINDS = ("random", "note")


def generated_pieces(music_model, pieces: int, frames: int, seed: int, primer: str = "note") -> list[list[str]]:
    """pieces x frames frames with the model's default sampling settings, from single notes (one
    drawn per piece between G3 and G5, as a visitor might pick: the app's default) or random primers."""
    from musicgen.sampling import generate, note_primer, random_primer

    config, vocab = music_model.config, music_model.vocab
    if primer == "note":
        notes = np.random.default_rng([seed, 2]).integers(55, 80, pieces)
        primer_ids = np.stack([note_primer(vocab, int(note), config.seq_len).ids for note in notes])
    elif primer == "random":
        primer_ids = random_primer(vocab, config.seq_len, seed, pieces).ids
    else:
        raise ValueError(f"primer must be one of {', '.join(PRIMER_KINDS)}, not {primer!r}")
    ids = generate(music_model.network, primer_ids, frames, config.temperature, config.top_k,
                   config.top_p, seed, pieces, PieceMemory.from_config(config))
    return [vocab.decode(row) for row in ids]


def evaluate(music_model, held_out: list[list[str]], training: list[list[str]], pieces: int = 32,
             frames: int = 300, seed: int = 0) -> dict:
    """The report for held-out songs (token lists, already in the model's representation)."""
    vocab, config = music_model.vocab, music_model.config
    held_out_ids = [vocab.encode(song) for song in held_out]
    all_tokens = [token for song in held_out for token in song]
    memory = PieceMemory.from_config(config)
    report = {"held_out_songs": len(held_out), "held_out_frames": len(all_tokens),
              "oov_share": vocab.oov_share(all_tokens),
              **network_scores(music_model.network, held_out_ids, config.seq_len, memory)}
    if training:
        baselines, with_memory = ngram_baselines([vocab.encode(song) for song in training], held_out_ids,
                                                 len(vocab), memory=memory)
        best = min(baselines, key=baselines.get)
        report.update(ngram=baselines, best_ngram=best,
                      nll_vs_best_ngram=report["nll"] / baselines[best] - 1.0)
        if with_memory:
            best_remembering = min(with_memory, key=with_memory.get)
            report.update(ngram_with_memory=with_memory, best_ngram_with_memory=best_remembering,
                          nll_vs_best_ngram_with_memory=report["nll"] / with_memory[best_remembering] - 1.0)
    real = features.segments(held_out, frames) or held_out
    # Held-out songs come in the model's representation (moved to C major / A minor when the
    # config says so); generated pieces, which may drift into another key, are compared alike.
    generated = [prepared_tokens(piece, config) for piece in generated_pieces(music_model, pieces, frames, seed)]
    report["generated_vs_real"] = features.compare(generated, real, config.frames_per_second)
    report["generated_vs_real"].update(pieces=pieces, frames=frames, seed=seed, temperature=config.temperature,
                                       top_k=config.top_k, top_p=config.top_p)
    return report


def headline(report: dict) -> dict:
    """The few numbers that go into metrics.json and the model card."""
    comparison = report["generated_vs_real"]["features"]
    overlaps = {name: entry["overlap"] for name, entry in comparison.items()}
    one_frame = comparison["one_frame_share"]
    keys = ("nll", "network_nll", "top1_accuracy", "oov_share", "best_ngram", "nll_vs_best_ngram",
            "nll_vs_best_ngram_with_memory")
    return {**{key: report[key] for key in keys if key in report},
            "best_ngram_nll": report["ngram"][report["best_ngram"]] if "ngram" in report else None,
            "best_ngram_with_memory_nll": (report["ngram_with_memory"][report["best_ngram_with_memory"]]
                                           if "ngram_with_memory" in report else None),
            "min_overlap": min(overlaps.values()), "overlap": overlaps,
            "one_frame_share": {"generated": one_frame["generated_mean"], "real": one_frame["real_mean"]}}


def plot(report: dict, path: Path) -> None:
    """evaluation.png: held-out NLL against the n-grams, and the overlap of each feature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=100, gridspec_kw={"width_ratios": [1, 2]})
    names, values, colours = ["network"], [report["nll"]], ["tab:orange"]
    if "network_nll" in report:  # the bar above is the network with the memory
        names, values, colours = ["net + memory", "network"], [report["nll"], report["network_nll"]], \
            ["tab:orange", "tab:red"]
    names += list(report.get("ngram", {}))
    values += list(report.get("ngram", {}).values())
    colours += ["tab:gray"] * len(report.get("ngram", {}))
    if "ngram_with_memory" in report:
        names.append(f"{report['best_ngram_with_memory']} + memory")
        values.append(report["ngram_with_memory"][report["best_ngram_with_memory"]])
        colours.append("tab:olive")
    bars = left.bar(range(len(names)), values, color=colours)
    left.bar_label(bars, fmt="%.2f", fontsize=8)
    left.set_xticks(range(len(names)), names, rotation=45, ha="right")
    left.set_ylabel("held-out NLL (nats per frame)")
    left.set_title("lower is better")
    comparison = report["generated_vs_real"]["features"]
    labels = [name.replace("_", " ") for name in comparison]
    right.barh(labels, [entry["overlap"] for entry in comparison.values()], color="tab:blue")
    right.axvline(0.7, color="tab:red", linestyle="--", label="target 0.7")
    right.set_xlim(0, 1)
    right.set_xlabel("overlapping area, generated vs held-out (1 = as alike as real songs)")
    right.invert_yaxis()
    right.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def songs_for(folder: Path, corpus) -> tuple[list, list]:
    """(held-out, training) songs of corpus, as the run in folder split them (when it says)."""
    metrics_path = folder / "metrics.json"
    dataset = json.loads(metrics_path.read_text(encoding="utf-8")).get("dataset", {}) if metrics_path.exists() else {}
    by_name = {song.name: song for song in corpus.songs}
    held_out = [by_name[name] for name in dataset.get("validation_songs", []) if name in by_name]
    if not held_out:
        return corpus.songs, []
    return held_out, [by_name[name] for name in dataset.get("train_songs", []) if name in by_name]


def evaluate_folder(music_model, corpus, pieces: int = 32, frames: int = 300, seed: int = 0) -> dict:
    """evaluate() on the songs of corpus that the model's run held out (see songs_for)."""
    from .data import training_tokens

    held_out, training = songs_for(music_model.folder, corpus)
    return evaluate(music_model, [prepared_tokens(song.tokens, music_model.config) for song in held_out],
                    training_tokens(training, music_model.config), pieces, frames, seed)


def write(folder: Path, report: dict, out: Path | None = None) -> None:
    """evaluation.json and .png into out (default: the model folder); the headline into metrics.json."""
    out = out or folder
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(report, out / "evaluation.png")
    metrics_path = folder / "metrics.json"
    if out == folder and metrics_path.exists():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        metrics["evaluation"] = headline(report)
        metrics_path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def summary(report: dict) -> str:
    lines = [f"held-out: {report['held_out_songs']} songs, {report['held_out_frames']} frames, "
             f"OOV {report['oov_share']:.1%}",
             f"network NLL {report['nll']:.3f} nats/frame, top-1 accuracy {report['top1_accuracy']:.3f}"
             + (f" (with the piece memory; the network alone {report['network_nll']:.3f})"
                if "network_nll" in report else "")]
    if "ngram" in report:
        lines.append("n-grams: " + ", ".join(f"{k} {v:.3f}" for k, v in report["ngram"].items())
                     + f" -> network vs best {report['nll_vs_best_ngram']:+.1%}")
    if "ngram_with_memory" in report:
        lines.append("n-grams with the same memory: "
                     + ", ".join(f"{k} {v:.3f}" for k, v in report["ngram_with_memory"].items())
                     + f" -> network vs best {report['nll_vs_best_ngram_with_memory']:+.1%}")
    for name, entry in report["generated_vs_real"]["features"].items():
        means = (f" (generated {entry['generated_mean']:.3g}, real {entry['real_mean']:.3g})"
                 if entry.get("generated_mean") is not None and entry.get("real_mean") is not None else "")
        lines.append(f"  {name:24s} overlap {entry['overlap']:.2f}{means}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model folder, a Hub id user/name, or 'default' (the embedded model)")
    parser.add_argument("--data", type=Path, required=True,
                        help="a folder of MIDI files, read recursively (beat_midi.txt used where present); "
                             "event models: the songs they never trained on are scored")
    parser.add_argument("--baseline-data", type=Path,
                        help="event models: fit the n-grams on this folder's songs (default: the model's own "
                             "training songs, found by hash in --data)")
    parser.add_argument("--pieces", type=int, default=64, help="generated pieces to compare (default 64)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per generated piece (default 60)")
    parser.add_argument("--frames", type=int, default=300, help="frame models: frames per generated piece")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", default="any", help="event models with styles: read every song under this "
                        "style token (default any)")
    parser.add_argument("--out", type=Path, help="where the report goes: a .json file, or a folder for "
                        "evaluation.json and .png (default: the model folder)")
    args = parser.parse_args(argv)

    import musicgen  # noqa: F401  (quiets TensorFlow)
    from musicgen.hub import ModelError, load

    from .data import NoUsableFiles, load_corpus

    try:
        music_model = load(args.model)
        corpus = load_corpus(args.data, music_model.config)
        baseline = load_corpus(args.baseline_data, music_model.config) if args.baseline_data else None
    except (ModelError, NoUsableFiles) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if music_model.config.representation == "events":
        return report_events(music_model, corpus, baseline, args)
    report = evaluate_folder(music_model, corpus, args.pieces, args.frames, args.seed)
    out = args.out.parent if args.out and args.out.suffix == ".json" else args.out
    write(music_model.folder, report, out)
    print(summary(report))
    print(f"wrote {(out or music_model.folder) / 'evaluation.json'} and evaluation.png")
    return 0


def report_events(music_model, corpus, baseline, args) -> int:
    from . import evaluate_events

    trained_on = evaluate_events.training_digests(music_model.folder)
    held_out, seen = evaluate_events.split_held_out(corpus, trained_on)
    if not held_out:
        print(f"error: the model trained on every song in {args.data}: nothing held out to score", file=sys.stderr)
        return 2
    if seen:
        print(f"{len(seen)} of {len(corpus.songs)} songs in {args.data} were in the model's training set: "
              f"scoring the other {len(held_out)}")
    if baseline is not None:
        baseline_songs = baseline.songs
    else:
        baseline_songs = seen if seen and len(seen) == len(trained_on) else None
        if seen and len(seen) < len(trained_on):
            print(f"only {len(seen)} of the model's {len(trained_on)} training songs are in {args.data}: "
                  "no n-gram baselines (give --baseline-data)")
    try:
        report = evaluate_events.evaluate(music_model, held_out, baseline_songs, args.pieces, args.seconds, args.seed,
                                          style=args.style)
    except ValueError as error:  # an unknown style, named with the ones the model knows
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out or music_model.folder / "evaluation.json"
    if out.suffix != ".json":
        out = out / "evaluation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(evaluate_events.summary(report))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
