"""Can the network learn the repeats the echo copies? One study, one run on one machine (about an hour).

    python bench/learned_echo.py [--variant head|inputs] [--epochs 1] [--model assets/model]

The echo (musicgen/calibration/echo.py) blends, at each token, what came at the same place 1, 2, 4
and 8 bars back into the network's distribution, with 16 weights fitted once (per distance and per
how long a pointer has been right). Here the same pointers are shown to the network and it is
fine-tuned from the shipped weights on the shipped model's own training songs:

- inputs: each pointer's token and run, embedded (zero at the start) and added to the GRU's input;
- head: the network's distribution mixed with each pointer's token, the mixture's weights read from
  the GRU's state and the pointer's run (started at the echo's fitted weights): a learned echo.

Scored on the shipped model's validation songs (the held-out ones), cut into the same chunks as
in training: nats per token of the shipped network, of the shipped network with its echo, and of
the fine-tuned one every half epoch. Last line JSON: network, with_echo, learned (the last),
history.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import keras  # noqa: E402

from musicgen.calibration.echo import DISTANCES, RUN_EDGES, Recall, run_bucket  # noqa: E402

BUCKETS = len(RUN_EDGES) + 1


def pointer_codes(ids: np.ndarray, grammar, vocab: int) -> np.ndarray:
    """(len(ids), len(DISTANCES)): after each token, each pointer's token and run bucket as one code
    (1 + bucket * vocab + token; 0 where that distance has no bar yet)."""
    recall = Recall(np.zeros((len(DISTANCES), BUCKETS)), grammar.bar_id, grammar.positions)
    codes = np.zeros((len(ids), len(DISTANCES)), np.int32)
    for at, token_id in enumerate(np.asarray(ids, np.int64)):
        recall.add(int(token_id))
        for index, (row, run) in enumerate(zip(recall.rows, recall.runs)):
            codes[at, row] = 1 + run_bucket(run) * vocab + recall.pointed(index)
    return codes


def chunked(songs_ids, songs_codes, chunk_tokens, rng, header):
    """The training chunks (train.data.sequence_chunks) and, cut alike, their pointer codes
    (none in a later chunk's header and in padding)."""
    from train.data import sequence_chunks

    cut = []
    inputs, targets, weights = sequence_chunks(songs_ids, chunk_tokens, rng, header=header, cut=cut)
    codes = np.zeros(inputs.shape + (len(DISTANCES),), np.int32)
    for chunk, (song, start) in enumerate(cut):
        skip = header.length if start else 0
        body = songs_codes[song][start:start + chunk_tokens - skip]
        codes[chunk, skip:skip + len(body)] = body
    return inputs, codes, targets, weights


class EchoHead(keras.layers.Layer):
    """p = a0 softmax(logits) + sum_d a_d [pointer d's token], a = softmax(0, h W + b + run bias)
    over the pointers there are; log p out (a valid logits vector)."""

    def __init__(self, vocab: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab = vocab

    def build(self, shapes):
        distances = len(DISTANCES)
        self.kernel = self.add_weight(shape=(shapes[0][-1], distances), initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(distances,), initializer="zeros", name="bias")
        self.run_bias = self.add_weight(shape=(distances * BUCKETS,), initializer="zeros", name="run_bias")

    def call(self, inputs):
        from keras import ops

        h, logits, codes = inputs
        present = codes > 0
        token = ops.where(present, (codes - 1) % self.vocab, 0)
        bucket = ops.where(present, (codes - 1) // self.vocab, 0)
        run = ops.take(self.run_bias, bucket + BUCKETS * ops.arange(len(DISTANCES), dtype="int32"))
        gates = ops.where(present, ops.matmul(h, self.kernel) + self.bias + run, -1e9)
        shares = ops.softmax(ops.concatenate([ops.zeros_like(gates[..., :1]), gates], axis=-1), axis=-1)
        p = ops.softmax(logits, axis=-1) * shares[..., :1]
        p = p + ops.sum(ops.one_hot(token, self.vocab) * ops.expand_dims(shares[..., 1:], -1), axis=-2)
        return ops.log(ops.maximum(p, 1e-9))


def build(variant: str, config, vocab: int, shipped, echo_weights: np.ndarray) -> keras.Model:
    """The shipped network with the pointers read in (variant inputs) or mixed in (head), its
    weights taken; the new ones start where they change nothing (inputs) or at the echo (head)."""
    from keras import layers

    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    pointers = keras.Input(shape=(None, len(DISTANCES)), dtype="int32", name="pointers")
    x = layers.Embedding(vocab, config.embedding_dim, name="embedding")(tokens)
    if variant == "inputs":
        for index in range(len(DISTANCES)):
            x = x + layers.Embedding(1 + BUCKETS * vocab, config.embedding_dim, embeddings_initializer="zeros",
                                     name=f"pointer_{index}")(pointers[:, :, index])
    for layer in range(config.rnn_layers):
        x = layers.GRU(config.rnn_units, return_sequences=True, name=f"gru_{layer + 1}")(x)
        x = layers.Dropout(config.dropout, name=f"dropout_{layer + 1}")(x)
    out = layers.Dense(vocab, name="next_token")(x)
    if variant == "head":
        out = EchoHead(vocab, name="echo_head")([x, out, pointers])
    model = keras.Model([tokens, pointers], out)
    for name in ("embedding", *(f"gru_{layer + 1}" for layer in range(config.rnn_layers)), "next_token"):
        model.get_layer(name).set_weights(shipped.get_layer(name).get_weights())
    if variant == "head":  # a lone pointer's share is its echo weight: logit(w)
        trusted = np.clip(echo_weights, 1e-6, 1 - 1e-6)
        head = model.get_layer("echo_head")
        kernel, bias, _ = head.get_weights()
        head.set_weights([kernel, bias, np.clip(np.log(trusted / (1 - trusted)), -12, 8).astype(np.float32).ravel()])
    return model


def nats_per_token(log_probabilities: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> float:
    """The weighted mean of -log p(target) (padding and later chunks' headers weigh 0)."""
    return mean_nats(np.take_along_axis(log_probabilities, targets[..., None], -1)[..., 0], weights)


def mean_nats(chosen: np.ndarray, weights: np.ndarray) -> float:
    return float(-(chosen * weights).sum() / weights.sum())


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def with_echo(log_probabilities, codes, targets, echo_weights, vocab: int) -> np.ndarray:
    """log p(target) after the echo's blends, shortest distance first (Recall.mix_one), (chunks, T)."""
    p = np.exp(np.take_along_axis(log_probabilities, targets[..., None], -1)[..., 0])
    for index in range(len(DISTANCES)):
        code = codes[..., index]
        present = code > 0
        weight = np.where(present, echo_weights[index][np.where(present, (code - 1) // vocab, 0)], 0.0)
        p = p * (1 - weight) + weight * (present & ((code - 1) % vocab == targets))
    return np.log(np.maximum(p, 1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "assets" / "model"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "pop909"))
    parser.add_argument("--variant", choices=["head", "inputs"], default="head")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--limit", type=int, default=None, help="read only this many songs (a quick try)")
    args = parser.parse_args()

    from musicgen.calibration.echo import Echo
    from musicgen.config import Config
    from musicgen.model import compile_model, load_keras
    from musicgen.representations.events import Events
    from train.data import load_corpus, song_ids, training_header
    from train.fit import split

    folder = Path(args.model)
    config = Config.load(folder / "config.json")
    events = Events.load(folder)
    vocab = len(events)
    echo = Echo.load(folder)
    if echo is None:
        sys.exit(f"{folder} has no echo.json to compare with")
    corpus = load_corpus(args.data, config)
    corpus.songs = corpus.songs[:args.limit]  # (None: all)
    train_songs, validation_songs = split(corpus, config, None)
    print(f"{len(train_songs)} training songs, {len(validation_songs)} validation songs (the model's split)")
    header = training_header(events, config)
    train_ids, validation_ids = (song_ids(songs, events, config, progress=True) for songs in (train_songs, validation_songs))
    train_codes, validation_codes = ([pointer_codes(ids, events.grammar, vocab) for ids in songs]
                                     for songs in (train_ids, validation_ids))
    vx, vp, vy, vw = chunked(validation_ids, validation_codes, config.chunk_tokens, None, header)

    shipped = load_keras(folder / "model.keras")
    network_log_p = log_softmax(shipped.predict(vx, batch_size=config.batch_size, verbose=0).astype(np.float64))
    network = nats_per_token(network_log_p, vy, vw)
    echoed = mean_nats(with_echo(network_log_p, vp, vy, echo.weights, vocab), vw)
    print(f"the shipped network: {network:.4f} nats a token; with its echo: {echoed:.4f}")

    model = build(args.variant, config, vocab, shipped, echo.weights)
    rng = np.random.default_rng([config.seed, 1])
    tx, tp, ty, tw = chunked(train_ids, train_codes, config.chunk_tokens, rng, header)
    model = compile_model(model, dataclasses.replace(config, learning_rate=args.learning_rate), len(tx) // config.batch_size)
    history, done, total, half = [], 0, round(args.epochs * len(tx)), len(tx) // 2
    order = rng.permutation(len(tx))
    while done < total:
        take = order[done % len(tx):][:min(half, total - done)]
        model.fit((tx[take], tp[take]), ty[take], sample_weight=tw[take], batch_size=config.batch_size,
                  epochs=1, verbose=2, shuffle=False)
        done += len(take)
        read = model.predict((vx, vp), batch_size=config.batch_size, verbose=0).astype(np.float64)
        history.append({"epochs": round(done / len(tx), 2), "nats_per_token": round(nats_per_token(log_softmax(read), vy, vw), 4)})
        print(f"{args.variant} after {history[-1]['epochs']} epochs: {history[-1]['nats_per_token']:.4f} nats a token")
    print(json.dumps({"variant": args.variant, "network": round(network, 4), "with_echo": round(echoed, 4),
                      "learned": history[-1]["nats_per_token"] if history else None, "history": history}))


if __name__ == "__main__":
    main()
