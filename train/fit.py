"""The training run: split, vocabulary, tf.data, strategy, callbacks, checkpoints, resume."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from musicgen.config import Config, ConfigError
from musicgen.schemes import scheme_for
from musicgen.vocab import Vocab

from .data import Corpus, make_dataset, prepared_tokens, split_by_song, training_tokens

BACKUP_DIR = "backup"  # where --resume goes on from; removed when a run completes
BACKUP_EVERY_S = 600.0  # within an epoch too: a kill loses at most this much of a long epoch


def pick_strategy():
    """Several workers (TF_CONFIG) or GPUs: mirror the model; otherwise TF's default placement."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def device_name() -> str:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return f"{len(gpus)} GPU(s)" if gpus else "CPU"


class History:
    """Per-epoch metrics kept in metrics.json, so that a resumed run continues the same record."""

    def __init__(self, path: Path):
        self.path = path
        self.epochs: dict[int, dict] = {}
        if path.exists():
            for row in json.loads(path.read_text(encoding="utf-8")).get("history", []):
                self.epochs[int(row["epoch"])] = row

    def rows(self) -> list[dict]:
        return [self.epochs[epoch] for epoch in sorted(self.epochs)]

    def best(self, monitor: str) -> dict | None:
        rows = [row for row in self.rows() if monitor in row]
        return min(rows, key=lambda row: row[monitor]) if rows else None

    def callback(self, write):
        import keras

        history = self

        class RecordEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                history.epochs[epoch + 1] = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
                # An epoch redone after a resume replaces any later, lost record.
                for stale in [e for e in history.epochs if e > epoch + 1]:
                    del history.epochs[stale]
                write()

        return RecordEpoch()


def save_atomically(model, path: Path) -> None:
    """model.save, but a kill mid-write leaves the previous file whole."""
    partial = path.with_name(path.stem + ".partial.keras")
    model.save(partial)
    os.replace(partial, path)


def save_averaged(model, path: Path) -> None:
    """save_atomically with the optimizer's moving average of the weights, when it keeps one."""
    if not model.optimizer.use_ema:
        save_atomically(model, path)
        return
    as_trained = model.get_weights()
    model.optimizer.finalize_variable_values(model.trainable_variables)
    try:
        save_atomically(model, path)
    finally:
        model.set_weights(as_trained)


def checkpoints(out_dir: Path, monitor: str, best_so_far: float | None, every_s: float | None = None,
                batches_before: int = 0):
    """A callback keeping model.keras at the best `monitor` and backup/ at the end of each epoch and,
    with every_s, that many seconds into one (state.json: the epochs and batches done); batches_before:
    of the first epoch, those trained before a resume."""
    import keras

    backup = out_dir / BACKUP_DIR
    backup.mkdir(exist_ok=True)

    class Checkpoints(keras.callbacks.Callback):
        best = float("inf") if best_so_far is None else best_so_far
        epoch, saved_at = 0, time.monotonic()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if every_s is not None and time.monotonic() - self.saved_at >= every_s:
                self.back_up(self.epoch, batches_before + batch + 1)

        def on_epoch_end(self, epoch, logs=None):
            nonlocal batches_before
            value = (logs or {}).get(monitor)
            if value is not None and value < self.best:
                self.best = value
                save_averaged(self.model, out_dir / "model.keras")
            self.back_up(epoch + 1, 0)
            batches_before = 0

        def back_up(self, epochs_done: int, batches_done: int):
            save_atomically(self.model, backup / "last.keras")  # as trained: a resume goes on from here
            state = backup / "state.json"
            state.with_suffix(".partial").write_text(json.dumps({"epochs_done": epochs_done,
                                                                  "batches_done": batches_done}))
            os.replace(state.with_suffix(".partial"), state)
            self.saved_at = time.monotonic()

    return Checkpoints()


def restore_backup(out_dir: Path):
    """(model with its optimizer state, epochs done, batches done of the next) from an interrupted run,
    or (None, 0, 0)."""
    from musicgen.model import load_keras

    state = out_dir / BACKUP_DIR / "state.json"
    if not state.exists():
        return None, 0, 0
    model = load_keras(out_dir / BACKUP_DIR / "last.keras", compile=True)
    done = json.loads(state.read_text())
    return model, done["epochs_done"], done.get("batches_done", 0)


def plot_history(rows: list[dict], path: Path) -> None:
    """loss.png: training and validation loss (nats per frame) against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=100)
    epochs = [row["epoch"] for row in rows]
    for key, label in (("loss", "training"), ("val_loss", "validation")):
        if any(key in row for row in rows):
            axis.plot(epochs, [row.get(key, np.nan) for row in rows], marker="o", label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel("cross-entropy (nats per frame)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def split(corpus: Corpus, config: Config, held_out: list[str] | None):
    if held_out is None:
        styled = scheme_for(config).steerable and config.steering_tokens
        return split_by_song(corpus.songs, config.validation_share, config.seed,
                             config.style_min_songs if styled else None)
    return ([song for song in corpus.songs if song.name not in held_out],
            [song for song in corpus.songs if song.name in held_out])


def train(config: Config, corpus: Corpus, out_dir: str | Path, resume: bool = False,
          strategy=None, verbose: int | None = None, held_out: list[str] | None = None,
          warm_start: str | Path | None = None, warm_start_source: str | None = None) -> dict:
    """Train on corpus and write a model folder (see train_sequences / train_windows); warm_start_source:
    what the person named to start from (a folder, a Hub id, "default"), for metrics.json."""
    if not scheme_for(config).whole_sequences:
        if warm_start:
            raise ConfigError("--warm-start needs an event model (the original study's frames start afresh)")
        if config.network != "gru":
            raise ConfigError(f"--network {config.network} reads event tokens; a frame model is the study's GRUs")
        return train_windows(config, corpus, out_dir, resume, strategy, verbose, held_out)
    return train_sequences(config, corpus, out_dir, resume, strategy, verbose, held_out, warm_start, warm_start_source)


def warm_started(model, folder: Path) -> list[str]:
    """model with the weights of folder's network wherever a layer has the same name and shapes
    (a layer it lacks keeps its start: StyleEveryStep's is neutral), or where only the number of
    token kinds grew (tokens added at the end of the table: the known ones' rows and columns are
    taken, the new ones keep their start); the names of those it took."""
    from musicgen.model import load_keras

    trained = load_keras(Path(folder) / "model.keras")
    taken = []
    for layer in model.layers:
        try:
            source = trained.get_layer(layer.name)
        except ValueError:
            continue
        weights, own = source.get_weights(), layer.get_weights()
        if weights and [w.shape for w in weights] == [w.shape for w in own]:
            layer.set_weights(weights)
            taken.append(layer.name)
        elif weights and len(weights) == len(own) and all(grown(w.shape, o.shape) for w, o in zip(weights, own)):
            for learned, start in zip(weights, own):
                start[tuple(slice(0, size) for size in learned.shape)] = learned
            layer.set_weights(own)
            taken.append(f"{layer.name} (grown)")
    return taken


def grown(learned: tuple, now: tuple) -> bool:
    """Whether an array of shape now extends one of shape learned along its token axis only."""
    return len(learned) == len(now) and all(a <= b for a, b in zip(learned, now)) and \
        sum(a != b for a, b in zip(learned, now)) == 1


def train_sequences(config: Config, corpus: Corpus, out_dir: str | Path, resume: bool = False,
                    strategy=None, verbose: int | None = None, held_out: list[str] | None = None,
                    warm_start: str | Path | None = None, warm_start_source: str | None = None) -> dict:
    """Events: chunks of config.chunk_tokens in which every token predicts the next.

    Writes model.keras, tokenizer.json (+ tempos.json), config.json, metrics.json (with the
    training songs by name and sha256) and loss.png. With resume, goes on after the last
    finished epoch in out_dir with the tokenizer saved there. With warm_start (a model folder),
    the network starts from that one's weights and reads its tokens (fine-tuning); what the
    sampler reads of the songs is measured again on these.
    """
    import keras

    from musicgen.model import build_network, compile_model
    from musicgen.representations.events import TOKENIZER_FILE, Events

    from .calibrate import calibrate
    from .data import make_sequence_dataset, song_ids, styles_of, training_header

    verbose = (1 if sys.stdout.isatty() else 2) if verbose is None else verbose
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    train_songs, validation_songs = split(corpus, config, held_out)
    if resume and (out_dir / TOKENIZER_FILE).exists():
        representation = Events.load(out_dir)
    elif warm_start:  # its ids, and what they are conditioned on, as that network learned them (and any new)
        learned = Events.load(warm_start)
        if Config.load(Path(warm_start) / "config.json").network != config.network:
            raise ConfigError(f"{warm_start} is another kind of network than --network {config.network}: "
                              "a warm start goes on with the network it starts from")
        if learned.melody_first and not config.melody_first:
            raise ConfigError(f"{warm_start} writes each bar's melody first: fine-tune it with --melody-first")
        representation = Events(learned.tokenizer, learned.styles, learned.starts, config.melody_first,
                                config.section_tokens or learned.sections)
    else:
        styles = styles_of(train_songs, config.style_min_songs) if config.steering_tokens else None
        representation = Events.new(styles=styles, starts=config.start_tokens, melody_first=config.melody_first,
                                    sections=config.section_tokens)
    config.save(out_dir / "config.json")

    representation.save(out_dir)
    train_ids = song_ids(train_songs, representation, config, progress=bool(verbose))
    validation_ids = song_ids(validation_songs, representation, config)
    header = training_header(representation, config)
    shifts = range(-config.transpose_augment, config.transpose_augment + 1)
    transpositions = [representation.transposition(shift) for shift in shifts]
    dataset_summary = {
        "source": corpus.source,
        "files_used": [song.name for song in corpus.songs],
        "files_skipped": corpus.skipped,
        "train_songs": [{"name": song.name, "sha256": song.digest} for song in train_songs],
        "validation_songs": [{"name": song.name, "sha256": song.digest} for song in validation_songs],
        "tokens": {"train": int(sum(len(ids) for ids in train_ids)),
                   "validation": int(sum(len(ids) for ids in validation_ids))},
        "seconds": {"train": round(sum(song.score.seconds for song in train_songs), 1),
                    "validation": round(sum(song.score.seconds for song in validation_songs), 1)},
        "vocab_size": len(representation),
    }
    if representation.sections:  # which songs' forms were written in, and why the others were not
        dataset_summary["forms"] = {"aligned": sum(bool(song.sections) for song in corpus.songs),
                                    "not_aligned": corpus.unaligned}
    if verbose:
        print(f"{len(train_songs)} training songs ({dataset_summary['tokens']['train']} tokens), "
              f"{len(validation_songs)} validation songs, {len(representation)} token kinds, on {device_name()}")
    if verbose and representation.steerable:
        print(f"styles: {', '.join(representation.styles)}")
    validation_data = (make_sequence_dataset(validation_ids, config.chunk_tokens, config.batch_size, 0, shuffle=False,
                                             header=header) if validation_ids else None)

    strategy = strategy or pick_strategy()
    with strategy.scope():
        model, epochs_done, batches_done = restore_backup(out_dir) if resume else (None, 0, 0)
        if model is None:
            steps_per_epoch = max(1, dataset_summary["tokens"]["train"] // (config.chunk_tokens * config.batch_size))
            model = build_network(config, len(representation))
            if warm_start:
                taken = warm_started(model, Path(warm_start))
                if verbose:
                    print(f"starting from {warm_start}: {', '.join(taken)}")
            model = compile_model(model, config, steps_per_epoch)
        elif verbose:
            print(f"continuing in epoch {epochs_done + 1} after its batch {batches_done}" if batches_done
                  else f"continuing after epoch {epochs_done}")

    def epochs_from(epoch: int, skip_batches: int = 0):
        return make_sequence_dataset(train_ids, config.chunk_tokens, config.batch_size, config.seed, transpositions,
                                     header=header, first_epoch=epoch, skip_chunks=skip_batches * config.batch_size)

    rest_of_epoch = epochs_from(epochs_done, batches_done) if batches_done else None
    metrics = fit_with_checkpoints(model, config, epochs_from(epochs_done + bool(batches_done)), validation_data,
                                   out_dir, resume, epochs_done, dataset_summary, verbose,
                                   started_from(warm_start, warm_start_source), rest_of_epoch, batches_done)
    # The corrections around the network, fitted on the same songs once the weights are saved.
    calibrate(out_dir, train_songs, train_ids, progress=bool(verbose), say=print if verbose else lambda *_: None)
    return metrics


def started_from(warm_start: str | Path | None, source: str | None = None) -> dict | None:
    """What a fine-tuned network went through before this run (metrics.json's "warm_start"): the
    model it started from (source, else the folder's name) and that run's epochs, its own earlier
    runs first, so that a card can say how the weights were made."""
    if not warm_start:
        return None
    path = Path(warm_start) / "metrics.json"
    earlier = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    before = earlier.get("warm_start") or {}
    history = [*before.get("history", []), *earlier.get("history", [])]
    epochs = int(before.get("epochs", 0)) + len(earlier.get("history", []))
    return {"from": source or Path(warm_start).name, "epochs": epochs, "history": history}


def fit_with_checkpoints(model, config: Config, train_data, validation_data, out_dir: Path, resume: bool,
                         epochs_done: int, dataset_summary: dict, verbose: int, warm_start: dict | None = None,
                         rest_of_epoch=None, batches_done: int = 0, within_epochs: bool = True) -> dict:
    """model.fit with metrics.json per epoch, model.keras at the best epoch, backup/ for --resume, loss.png;
    warm_start (started_from) is kept in metrics.json. rest_of_epoch (a run killed batches_done batches
    into its next epoch: that epoch's other batches) is trained first, as an epoch of its own fit (Keras
    holds every later epoch of a fit to its first one's length); then train_data, whole epochs, backed
    up every BACKUP_EVERY_S within them too where within_epochs (a dataset that can start mid-epoch)."""
    import keras

    monitor = "val_loss" if validation_data is not None else "loss"
    metrics_path = out_dir / "metrics.json"
    history = History(metrics_path)
    if not resume:
        history.epochs.clear()
    elif warm_start is None and metrics_path.exists():  # a resumed fine-tuning: still the run it started from
        warm_start = json.loads(metrics_path.read_text(encoding="utf-8")).get("warm_start")
    started = time.perf_counter()

    def write_metrics():
        metrics = {"history": history.rows(), "best": history.best(monitor), "monitor": monitor,
                   "dataset": dataset_summary, "device": device_name(),
                   "train_seconds": round(time.perf_counter() - started, 1)}
        if warm_start:
            metrics["warm_start"] = warm_start
        metrics_path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return metrics

    best_so_far = history.best(monitor)
    callbacks = [history.callback(write_metrics),
                 checkpoints(out_dir, monitor, best_so_far[monitor] if best_so_far else None,
                             BACKUP_EVERY_S if within_epochs else None, batches_done)]
    if model.optimizer.use_ema:  # validate the averaged weights (checkpoints() saves them)
        callbacks.insert(0, keras.callbacks.SwapEMAWeights())
    if config.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=config.early_stopping_patience))
    # shuffle=False: the dataset reshuffles itself each epoch (Keras would only warn that it ignores it).
    fit = dict(validation_data=validation_data, shuffle=False, callbacks=callbacks, verbose=verbose)
    if rest_of_epoch is not None:
        model.fit(rest_of_epoch, epochs=epochs_done + 1, initial_epoch=epochs_done, **fit)
        epochs_done += 1
    if epochs_done < config.epochs and not getattr(model, "stop_training", False):  # EarlyStopping in the rest
        model.fit(train_data, epochs=config.epochs, initial_epoch=epochs_done, **fit)
    shutil.rmtree(out_dir / BACKUP_DIR, ignore_errors=True)
    metrics = write_metrics()
    plot_history(history.rows(), out_dir / "loss.png")
    return metrics


def train_windows(config: Config, corpus: Corpus, out_dir: str | Path, resume: bool = False,
                  strategy=None, verbose: int | None = None, held_out: list[str] | None = None) -> dict:
    """Train on corpus and write model.keras, vocab.json, config.json, metrics.json and loss.png.

    With resume, the run continues from the last completed epoch in out_dir (config and
    vocabulary are taken from there); finished epochs and the best checkpoint are kept.
    held_out names the validation songs (a k-fold); by default config.validation_share of them.
    """
    import keras

    from musicgen.model import build_model, compile_model

    if verbose is None:  # a live progress bar on a terminal, one line per epoch in a log
        verbose = 1 if sys.stdout.isatty() else 2
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)

    train_songs, validation_songs = split(corpus, config, held_out)
    train_tokens = training_tokens(train_songs, config)
    validation_songs_tokens = [prepared_tokens(song.tokens, config) for song in validation_songs]
    vocab_path = out_dir / "vocab.json"
    if resume and vocab_path.exists():
        vocab = Vocab.load(vocab_path)
    else:
        vocab = Vocab.build(train_tokens, config.min_count)
        vocab.save(vocab_path)
    config.save(out_dir / "config.json")

    validation_tokens = [token for song in validation_songs_tokens for token in song]
    dataset_summary = {
        "source": corpus.source,
        "files_used": [song.name for song in corpus.songs],
        "files_skipped": corpus.skipped,
        "train_songs": [song.name for song in train_songs],
        "validation_songs": [song.name for song in validation_songs],
        "frames": {"train": sum(len(song.tokens) for song in train_songs),
                   "validation": len(validation_tokens)},
        "vocab_size": len(vocab),
        "validation_oov_rate": vocab.oov_share(validation_tokens) if validation_tokens else None,
    }
    if verbose:
        print(f"{len(train_songs)} training songs, {len(validation_songs)} validation songs, "
              f"{len(vocab)} tokens, on {device_name()}")

    def encoded(songs):
        return [vocab.encode(tokens) for tokens in songs]

    train_data = make_dataset(encoded(train_tokens), config.seq_len, config.batch_size, True, config.seed)
    validation_data = (make_dataset(encoded(validation_songs_tokens), config.seq_len, config.batch_size, False, 0)
                       if validation_songs else None)

    strategy = strategy or pick_strategy()
    with strategy.scope():
        model, epochs_done, _ = restore_backup(out_dir) if resume else (None, 0, 0)  # backed up at epochs' ends
        if model is None:
            steps_per_epoch = -(-sum(len(song) for song in train_tokens) // config.batch_size)
            model = compile_model(build_model(config, vocab), config, steps_per_epoch, logits=False)
        elif verbose:
            print(f"continuing after epoch {epochs_done}")

    return fit_with_checkpoints(model, config, train_data, validation_data, out_dir, resume, epochs_done,
                                dataset_summary, verbose, within_epochs=False)
