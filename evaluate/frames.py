"""The report for a frame model (the original study's scheme): held-out per-frame likelihood,
n-gram baselines, generated-vs-real features.

The held-out songs are the validation songs named in the folder's metrics.json (the n-grams are
fitted on its training songs); with no such record every song in the folder is held out and the
n-grams are left out.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from musicgen.memory import PieceMemory

from . import features
from train.data import prepared_tokens

from .ngram import mean_nll, ngram_baselines


def network_scores(network, songs_ids: list[np.ndarray], seq_len: int,
                   memory: PieceMemory | None = None) -> dict[str, float]:
    """Per-frame NLL (nats) and top-1 accuracy on every frame of the songs, with the piece memory
    when given (and then also the network's alone, as network_nll and network_top1_accuracy)."""
    from train.data import windows_of

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
    from train.data import training_tokens

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


