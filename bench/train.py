"""Training throughput: our pipeline against the original study's loop, same model and data, one run.

    python bench/train.py [--data DIR] [--epochs 1]

The original rebuilds every song's windows in Python each epoch and calls a tf.function train
step per batch of 64. Ours builds the windows once into a tf.data pipeline and trains with
Keras fit. Both are timed on full epochs after a warm-up
epoch, so compilation is not counted. Prints a final JSON line with both samples/s and speedup.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import musicgen  # noqa: E402,F401
from musicgen.config import ORIGINAL_RECIPE, Config  # noqa: E402
from musicgen.model import build_model, compile_model, has_gpu  # noqa: E402
from musicgen.vocab import Vocab  # noqa: E402
from train.data import load_bach_chorales, load_folder, make_dataset  # noqa: E402

REFERENCE = ROOT.parent / "shared" / "datasets" / "jjlin-pool"


def original_epoch(model, train_step, songs: list[list[str]], token_ids: dict, seq_len: int,
                   batch_size: int, rng) -> int:
    """One epoch as the original: Python lists of windows rebuilt from tokens, then batches."""
    windows, targets = [], []
    for song in songs:
        padded = ["e"] * seq_len + song
        for index in range(len(song)):
            windows.append([token_ids[token] for token in padded[index:index + seq_len]])
            targets.append(token_ids[padded[index + seq_len]])
    order = rng.permutation(len(windows))
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        train_step(np.array([windows[i] for i in batch]), np.array([targets[i] for i in batch]))
    return len(windows)


def bench_original(config: Config, songs, vocab: Vocab, epochs: int) -> float:
    import tensorflow as tf

    model = build_model(config, vocab)
    optimizer = tf.keras.optimizers.Nadam(config.learning_rate)
    loss_function = tf.keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_function(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    rng = np.random.default_rng(0)
    original_epoch(model, train_step, songs, vocab.ids, config.seq_len, config.batch_size, rng)  # warm-up
    started, samples = time.perf_counter(), 0
    for _ in range(epochs):
        samples += original_epoch(model, train_step, songs, vocab.ids, config.seq_len, config.batch_size, rng)
    return samples / (time.perf_counter() - started)


def bench_ours(config: Config, songs, vocab: Vocab, epochs: int) -> float:
    import keras

    dataset = make_dataset([vocab.encode(song) for song in songs], config.seq_len,
                           config.batch_size, shuffle=True, seed=0)
    samples = sum(len(song) for song in songs)
    model = compile_model(build_model(config, vocab), config)
    times = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            times.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            times[-1] = time.perf_counter() - times[-1]

    model.fit(dataset, epochs=epochs + 1, verbose=0, shuffle=False, callbacks=[EpochTimer()])
    return samples * epochs / sum(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REFERENCE if REFERENCE.is_dir() else None)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per pipeline")
    parser.add_argument("--max-songs", type=int, default=None)
    args = parser.parse_args()
    # The original's network on both sides, so that the pipelines are compared like for like;
    # our default network is timed on our pipeline as well.
    config = Config(**ORIGINAL_RECIPE)
    corpus = (load_folder(args.data, config.tracks, config.frames_per_second, progress=False) if args.data
              else load_bach_chorales(config.tracks, config.frames_per_second, limit=40, progress=False))
    songs = [song.tokens for song in corpus.songs[:args.max_songs]]
    vocab = Vocab.build(songs)
    original = bench_original(config, songs, vocab, args.epochs)
    ours = bench_ours(config, songs, vocab, args.epochs)
    ours_default_network = bench_ours(Config(), songs, vocab, args.epochs)
    print(json.dumps({"data": corpus.source, "device": "GPU" if has_gpu() else "CPU",
                      "batch_size": config.batch_size, "samples": sum(map(len, songs)),
                      "original_samples_per_s": round(original, 1), "ours_samples_per_s": round(ours, 1),
                      "speedup": round(ours / original, 2),
                      "ours_default_network_samples_per_s": round(ours_default_network, 1),
                      "default_network_speedup": round(ours_default_network / original, 2)}))


if __name__ == "__main__":
    main()
