"""Training throughput in predicted tokens ("targets") per second, one run on one machine.

    python bench/training_speed.py [--steps 30]

- The study: its recipe (3 x BiGRU(128) on 5 fps chord frames, one target per 50-frame window,
  batches of 64) and its loop (windows rebuilt in Python, a tf.function step per batch), on the
  jjlin-pool songs (else Bach chorales).
- Ours: the default recipe (events, Embedding -> GRU(512) -> Dense, chunks of 1024 tokens in which
  every position is a target, batches of 16, Keras fit on tf.data) on POP909 songs (else Bach).
- Like for like: our default network trained the study's way, one target per 50-token window
  (the same layers, reading the window and predicting its next token), against the same network
  on sequences: what the pipeline gains with the model's size out of the picture.
- The attention network (`--network attention`, its default size) on the same sequences, against the GRU.

Each is timed over --steps batches after warm-up batches (compilation not counted). Last line
JSON: seed_targets_per_s, ours_targets_per_s, targets_speedup, windows_targets_per_s,
like_for_like_speedup, attention_targets_per_s, attention_ratio.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import musicgen  # noqa: F401
from musicgen.config import ORIGINAL_RECIPE, Config
from musicgen.model import build_model, build_network, compile_model, has_gpu
from musicgen.vocab import Vocab

SHARED = ROOT.parent / "shared" / "datasets"
WARM_UP_STEPS = 3


def study_targets_per_s(steps: int) -> float:
    """The study's loop: Python windows of frames, one tf.function step per batch of 64."""
    import tensorflow as tf

    from train.data import load_bach_chorales, load_midi_folder

    config = Config(**ORIGINAL_RECIPE)
    reference = SHARED / "jjlin-pool"
    corpus = (load_midi_folder(reference, config.tracks, config.frames_per_second, progress=False) if reference.is_dir()
              else load_bach_chorales(config.tracks, config.frames_per_second, limit=40, progress=False))
    songs = [song.tokens for song in corpus.songs]
    vocab = Vocab.build(songs)
    model = build_model(config, vocab)
    optimizer = tf.keras.optimizers.Nadam(config.learning_rate)
    loss_function = tf.keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_function(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    def batches():  # as the study: every window rebuilt from the tokens, in Python
        windows, targets = [], []
        for song in songs:
            padded = [song[0]] * config.seq_len + song
            for index in range(len(song)):
                windows.append([vocab.ids.get(token, 0) for token in padded[index:index + config.seq_len]])
                targets.append(vocab.ids.get(padded[index + config.seq_len], 0))
        order = np.random.default_rng(0).permutation(len(windows))
        for start in range(0, len(order) - config.batch_size, config.batch_size):
            chosen = order[start:start + config.batch_size]
            yield np.array([windows[i] for i in chosen]), np.array([targets[i] for i in chosen])

    stream = batches()
    for _ in range(WARM_UP_STEPS):
        train_step(*next(stream))
    started = time.perf_counter()
    for _ in range(steps):
        train_step(*next(stream))
    return steps * config.batch_size / (time.perf_counter() - started)


def event_ids(limit: int = 60) -> list[np.ndarray]:
    from musicgen.representations.events import Events
    from train.data import load_corpus, song_ids

    config = Config()
    folder = SHARED / "pop909"
    corpus = load_corpus(folder if folder.is_dir() else None, config, limit=limit, progress=False)
    songs = corpus.songs[:limit]
    return song_ids(songs, Events.new(["any"]), config)


def timed_fit(model, dataset, steps: int, targets_per_batch: float) -> float:
    """Targets per second of model.fit over `steps` batches, after WARM_UP_STEPS."""
    import keras

    times = []

    class BatchTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == WARM_UP_STEPS:
                times.append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            if batch == WARM_UP_STEPS + steps - 1:
                times.append(time.perf_counter())

    model.fit(dataset.take(WARM_UP_STEPS + steps), epochs=1, verbose=0, callbacks=[BatchTimer()])
    return steps * targets_per_batch / (times[1] - times[0])


def sequence_targets_per_s(songs_ids, steps: int, config: Config = Config()) -> float:
    """Our default recipe (or config's network): chunks of chunk_tokens, every position a target."""
    from train.data import make_sequence_dataset

    dataset = make_sequence_dataset(songs_ids, config.chunk_tokens, config.batch_size, seed=0).repeat()
    model = compile_model(build_network(config, max(int(ids.max()) for ids in songs_ids) + 1), config)
    # Padded tails weigh 0; the songs here are long, so nearly every position is a target.
    return timed_fit(model, dataset, steps, config.batch_size * config.chunk_tokens)


def window_targets_per_s(songs_ids, steps: int, seq_len: int = 50) -> float:
    """Our default network trained the study's way: one target per window of seq_len tokens."""
    import keras
    import tensorflow as tf

    from train.data import windows_of

    config = Config()
    vocab_size = max(int(ids.max()) for ids in songs_ids) + 1
    windows, targets = windows_of(songs_ids, seq_len)
    dataset = (tf.data.Dataset.from_tensor_slices((windows, targets)).shuffle(len(targets), seed=0)
               .batch(config.batch_size).repeat().prefetch(tf.data.AUTOTUNE))
    tokens = keras.Input(shape=(seq_len,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, config.embedding_dim)(tokens)
    x = keras.layers.GRU(config.rnn_units)(x)  # the same layers, read to the window's end
    x = keras.layers.Dropout(config.dropout)(x)
    model = keras.Model(tokens, keras.layers.Dense(vocab_size)(x))
    model.compile(optimizer=keras.optimizers.Nadam(config.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return timed_fit(model, dataset, steps, config.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed batches per recipe")
    args = parser.parse_args()
    seed = study_targets_per_s(args.steps)
    songs_ids = event_ids()
    ours = sequence_targets_per_s(songs_ids, max(5, args.steps // 3))
    windows = window_targets_per_s(songs_ids, args.steps)
    attention = sequence_targets_per_s(songs_ids, max(5, args.steps // 3), Config(network="attention"))
    result = {"device": "GPU" if has_gpu() else "CPU", "seed_targets_per_s": round(seed, 1),
              "ours_targets_per_s": round(ours, 1), "targets_speedup": round(ours / seed, 2),
              "windows_targets_per_s": round(windows, 1), "like_for_like_speedup": round(ours / windows, 2),
              "attention_targets_per_s": round(attention, 1), "attention_ratio": round(attention / ours, 2)}
    print(f"study: {seed:.0f} targets/s; ours (sequences of {Config().chunk_tokens}): {ours:.0f} targets/s "
          f"({result['targets_speedup']}x); our network on 50-token windows: {windows:.0f} targets/s "
          f"(sequences {result['like_for_like_speedup']}x that); the attention network (--network attention) on the "
          f"same sequences: {attention:.0f} targets/s ({result['attention_ratio']}x the GRU's)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
