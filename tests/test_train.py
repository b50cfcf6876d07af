"""Training end to end on songs the tests write: the CLI, outputs, resume, and distribution."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, TINY_EVENTS_CONFIG
from musicgen.config import Config
from musicgen.vocab import Vocab
from publish.folder import model_card
from train.__main__ import main

TINY = ["--recipe", "frames", "--seq-len", "8", "--embedding-dim", "8", "--rnn-units", "8", "--rnn-layers", "1",
        "--dense-units", "8", "--batch-size", "16", "--validation-share", "0.4", "--transpose-augment", "1"]


def test_train_writes_a_complete_model_folder(midi_folder, tmp_path):
    out = tmp_path / "run"
    assert main(["--data", str(midi_folder), "--out", str(out), "--epochs", "3", *TINY]) == 0
    assert {p.name for p in out.iterdir()} >= {"model.keras", "vocab.json", "config.json",
                                                "metrics.json", "loss.png"}
    config = Config.load(out / "config.json")
    assert (config.seq_len, config.rnn_units, config.epochs) == (8, 8, 3)
    metrics = json.loads((out / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["history"]] == [1, 2, 3]
    assert metrics["history"][-1]["val_loss"] < metrics["history"][0]["val_loss"]
    dataset = metrics["dataset"]
    assert len(dataset["validation_songs"]) == 2 and len(dataset["train_songs"]) == 3
    assert dataset["vocab_size"] == len(Vocab.load(out / "vocab.json"))
    assert 0 <= dataset["validation_oov_rate"] <= 1

    import keras
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert model.output_shape[-1] == dataset["vocab_size"]
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_the_original_recipe_is_one_flag_and_later_flags_still_apply():
    from musicgen.config import ORIGINAL_RECIPE
    from train.__main__ import parse_args

    args = parse_args(["--recipe", "original", "--epochs", "2", "--no-bidirectional"])
    chosen = {name: getattr(args, name) for name in args.config_fields}
    assert chosen["epochs"] == 2 and chosen["bidirectional"] is False
    for name, value in ORIGINAL_RECIPE.items():
        if name not in ("epochs", "bidirectional") and name in chosen:
            assert chosen[name] == value, name
    from musicgen.schemes import scheme_for

    assert scheme_for(Config(**chosen)).name == "frames" and args.memory_orders == []  # the original has no memory
    ours = parse_args([])
    assert scheme_for(Config(**{name: getattr(ours, name) for name in ours.config_fields})).name == "events"
    assert ours.key_normalize and not ours.bidirectional
    assert parse_args(["--recipe", "frames"]).memory_orders  # our frame recipe remembers its piece
    plain = parse_args(["--no-steering-tokens"])  # a flag that reaches the config
    assert not Config(**{name: getattr(plain, name) for name in plain.config_fields}).steering_tokens


def test_the_memory_is_set_by_flags():
    from train.__main__ import parse_args

    args = parse_args(["--memory-orders", "2,8", "--memory-smoothing", "20"])
    assert (args.memory_orders, args.memory_smoothing) == ([2, 8], 20.0)
    assert parse_args(["--memory-orders", "none"]).memory_orders == []
    with pytest.raises(SystemExit):
        parse_args(["--memory-orders", "two"])


def test_a_warm_start_fine_tunes_a_trained_event_model(tiny_events_model_folder, pop_songs, tmp_path, capsys):
    import numpy as np

    from musicgen.model import load_keras
    from musicgen.representations.events import Events

    source, out = tiny_events_model_folder, tmp_path / "fine"
    assert main(["--data", str(pop_songs), "--out", str(out), "--warm-start", str(source), "--epochs", "1",
                 "--learning-rate", "1e-9", "--average-weights-over", "0", "--style-every-step"]) == 0
    assert "starting from" in capsys.readouterr().out
    before, after = Config.load(source / "config.json"), Config.load(out / "config.json")
    assert (after.rnn_units, after.embedding_dim, after.chunk_tokens) == (before.rnn_units, before.embedding_dim,
                                                                          before.chunk_tokens)  # its settings,
    assert (after.epochs, after.learning_rate, after.style_every_step) == (1, 1e-9, True)  # except the flags given
    assert Events.load(out).vocab == Events.load(source).vocab
    trained, tuned = load_keras(source / "model.keras"), load_keras(out / "model.keras")
    for name in ("embedding", "gru_1", "next_token"):  # a step of 1e-9 from where it started
        for a, b in zip(trained.get_layer(name).get_weights(), tuned.get_layer(name).get_weights()):
            assert np.allclose(a, b, atol=1e-5), name
    assert np.abs(tuned.get_layer("style_every_step").get_weights()[0]).max() < 1e-5  # new: neutral
    assert (out / "repeats.json").is_file() and (out / "echo.json").is_file()
    assert not (out / "melody_intervals.json").exists()  # only when asked (train/calibrate.py)
    earlier = json.loads((source / "metrics.json").read_text(encoding="utf-8"))["history"]
    started = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["warm_start"]  # how the weights were made
    assert (started["from"], started["epochs"], started["history"]) == (str(source), len(earlier), earlier)
    assert f"fine-tuned from `{source}` after its {len(earlier)} epochs" in model_card(out, "you/fine")
    assert main(["--data", str(pop_songs), "--out", str(tmp_path / "other"), "--warm-start", str(pop_songs)]) == 2
    assert "not a model folder" in capsys.readouterr().err
    assert main(["--data", str(pop_songs), "--out", str(tmp_path / "third"), "--warm-start", str(source),
                 "--network", "attention"]) == 2
    assert "another kind of network" in capsys.readouterr().err


def test_the_embedded_default_is_a_warm_start_for_a_folder_of_ones_own(pop_songs, tmp_path, capsys):
    from musicgen.hub import EMBEDDED_MODEL
    from musicgen.representations.events import Events

    out = tmp_path / "mine"
    assert main(["--data", str(pop_songs), "--out", str(out), "--warm-start", "default", "--epochs", "1"]) == 0
    shipped, mine = Config.load(EMBEDDED_MODEL / "config.json"), Config.load(out / "config.json")
    assert (mine.rnn_units, mine.embedding_dim) == (shipped.rnn_units, shipped.embedding_dim)
    assert Events.load(out).vocab == Events.load(EMBEDDED_MODEL).vocab  # its tokens and styles
    assert "starting from" in capsys.readouterr().out
    shipped_epochs = len(json.loads((EMBEDDED_MODEL / "metrics.json").read_text(encoding="utf-8"))["history"])
    started = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["warm_start"]
    assert (started["from"], started["epochs"]) == ("default", shipped_epochs)  # as the person named it


def test_no_usable_file_ends_with_exit_code_2(tmp_path, capsys):
    (tmp_path / "empty.mid").write_bytes(b"")
    assert main(["--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert "empty.mid: the file is empty" in capsys.readouterr().err


def test_an_existing_run_is_not_overwritten(midi_folder, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.keras").write_text("precious")
    assert main(["--data", str(midi_folder), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (out / "model.keras").read_text() == "precious"


def test_a_finished_run_is_not_trained_again_by_resume(midi_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--data", str(midi_folder), "--out", str(out), "--epochs", "1", *TINY]) == 0
    finished = {path.name: path.read_bytes() for path in out.iterdir()}
    assert main(["--resume", "--out", str(out), "--data", str(midi_folder)]) == 2
    said = capsys.readouterr().err
    assert "its training finished, there is nothing to resume" in said and "with more --epochs" in said
    assert {path.name: path.read_bytes() for path in out.iterdir()} == finished  # its files as they were


def run_train(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "train", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_resume_after_a_kill_loses_no_finished_epoch(midi_folder, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(midi_folder), "--out", str(out), "--epochs", "60", *TINY]
    process = run_train(args)
    deadline = time.time() + 180
    epochs_done = []
    while time.time() < deadline and len(epochs_done) < 2:
        time.sleep(0.2)
        try:
            epochs_done = json.loads((out / "metrics.json").read_text())["history"]
        except (FileNotFoundError, json.JSONDecodeError):
            pass
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(epochs_done) >= 2, "training never got going"
    killed_at = len(json.loads((out / "metrics.json").read_text())["history"])
    assert killed_at < 60

    resumed = run_train(["--resume", "--out", str(out), "--data", str(midi_folder)])
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    assert "resuming" in output
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == list(range(1, 61))
    # It continued rather than starting over: far fewer epochs ran than a fresh run needs.
    assert output.count("Epoch ") <= 60 - killed_at + 1 + 1
    assert not (out / "backup").exists()


def test_two_device_mirrored_strategy_on_cpu(midi_folder, tmp_path):
    """The multi-GPU path, exercised on two logical CPU devices."""
    script = f"""
import musicgen, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from musicgen.config import Config
from train.data import load_midi_folder
from train.fit import train
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
config = Config(representation="frames", seq_len=8, embedding_dim=8, rnn_units=8, rnn_layers=1, dense_units=8,
                batch_size=16, epochs=2, validation_share=0.4)
metrics = train(config, load_midi_folder({str(midi_folder)!r}, "piano", 5, progress=False),
                {str(tmp_path / "mirrored")!r}, strategy=strategy, verbose=0)
print("EPOCHS", len(metrics["history"]))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert "EPOCHS 2" in result.stdout, result.stderr[-3000:]
    assert (tmp_path / "mirrored" / "model.keras").exists()


def test_model_keras_holds_the_weights_that_were_validated(tiny_model_folder, tiny_songs):
    """With weight averaging on, validation and model.keras must both use the average."""
    from musicgen.hub import load_folder as load_model_folder
    from train.data import load_midi_folder, prepared_tokens
    from evaluate.frames import network_scores

    metrics = json.loads((tiny_model_folder / "metrics.json").read_text())
    model = load_model_folder(tiny_model_folder)
    assert model.config.average_weights_over > 0
    corpus = load_midi_folder(tiny_songs, model.config.tracks, 5, progress=False)
    held_out = [model.vocab.encode(prepared_tokens(song.tokens, model.config))
                for song in corpus.songs if song.name in metrics["dataset"]["validation_songs"]]
    nll = network_scores(model.network, held_out, model.config.seq_len)["nll"]
    assert abs(nll - metrics["best"]["val_loss"]) < 1e-3


def test_save_averaged_writes_the_moving_average_and_leaves_training_weights_alone(tmp_path):
    import keras
    import numpy as np

    from musicgen.model import build_model, compile_model
    from train.fit import save_averaged

    config = Config(seq_len=4, embedding_dim=4, rnn_units=4, dense_units=4, average_weights_over=1.0)
    vocab = Vocab(["e", "60", "62", "64"])
    model = compile_model(build_model(config, vocab), config, steps_per_epoch=20, logits=False)
    rng = np.random.default_rng(0)
    for _ in range(20):  # not fit(): it ends by copying the average into the weights
        model.train_on_batch(rng.integers(0, 4, (32, 4)), rng.integers(0, 4, 32))
    as_trained = [np.array(w) for w in model.get_weights()]
    save_averaged(model, tmp_path / "model.keras")
    assert all(np.array_equal(a, b) for a, b in zip(as_trained, model.get_weights()))
    saved = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True).get_weights()
    changed = [not np.allclose(a, b) for a, b in zip(saved, as_trained)]
    assert any(changed)  # the average of the last ~20 steps is not the last step
    model.optimizer.finalize_variable_values(model.trainable_variables)
    assert all(np.allclose(a, b) for a, b in zip(saved, model.get_weights()))


def test_a_fine_tuning_of_a_fine_tuning_counts_every_epoch_before_it(tmp_path):
    from train.fit import started_from

    first = [{"epoch": epoch, "val_loss": 1.0 / epoch} for epoch in (1, 2, 3)]
    second = [{"epoch": 1, "val_loss": 0.3}]
    (tmp_path / "metrics.json").write_text(json.dumps(
        {"history": second, "warm_start": {"from": "default", "epochs": 3, "history": first}}), encoding="utf-8")
    assert started_from(tmp_path, "runs/tuned") == {"from": "runs/tuned", "epochs": 4, "history": first + second}
    assert started_from(None) is None  # trained from scratch


def test_a_resumed_epoch_sees_the_chunks_an_unbroken_one_would_have():
    import numpy as np

    from train.data import make_sequence_dataset

    rng = np.random.default_rng(3)
    songs = [rng.integers(1, 50, size=int(n)) for n in rng.integers(100, 400, size=8)]

    def first_pass(**kwargs):
        dataset = make_sequence_dataset(songs, 32, 4, seed=7, **kwargs)
        return np.concatenate([inputs.numpy() for inputs, _, _ in dataset])

    epoch_0, epoch_2 = first_pass(), first_pass(first_epoch=2)
    assert not np.array_equal(epoch_0[:8], epoch_2[:8])  # each epoch is cut and ordered anew,
    assert np.array_equal(epoch_2, first_pass(first_epoch=2, skip_chunks=0))  # the same for the same epoch
    assert np.array_equal(epoch_2[12:], first_pass(first_epoch=2, skip_chunks=12))  # and its rest is its tail


def test_a_run_killed_within_an_epoch_resumes_from_that_batch(pop_songs, tmp_path, monkeypatch, capsys):
    import train.fit as fit
    from train.data import load_corpus

    class Killed(Exception):
        pass

    real_checkpoints, batches = fit.checkpoints, []

    def watched(kill_at=None):  # checkpoints(), noting each batch trained, and killing the run at (epoch, batch)
        def make(*args, **kwargs):
            callback = real_checkpoints(*args, **kwargs)
            on_batch = callback.on_train_batch_end

            def on_train_batch_end(batch, logs=None):
                on_batch(batch, logs)
                batches.append((callback.epoch, batch))
                if (callback.epoch, batch) == kill_at:
                    raise Killed
            callback.on_train_batch_end = on_train_batch_end
            return callback
        return make

    config = Config(**{**TINY_EVENTS_CONFIG, "epochs": 3, "batch_size": 2})
    corpus = load_corpus(pop_songs, config, progress=False)
    monkeypatch.setattr("train.calibrate.calibrate", lambda *args, **kwargs: None)  # the weights are what is tested
    monkeypatch.setattr(fit, "checkpoints", watched())
    fit.train(config, corpus, tmp_path / "unbroken", verbose=0)
    unbroken = [sum(epoch == e for epoch, _ in batches) for e in range(3)]
    batches.clear()
    out = tmp_path / "run"
    monkeypatch.setattr(fit, "BACKUP_EVERY_S", 0.0)  # back up after every batch
    monkeypatch.setattr(fit, "checkpoints", watched(kill_at=(1, 2)))
    with pytest.raises(Killed):
        fit.train(config, corpus, out, verbose=0)
    state = json.loads((out / fit.BACKUP_DIR / "state.json").read_text())
    assert state == {"epochs_done": 1, "batches_done": 3}
    before = list(batches)

    batches.clear()
    monkeypatch.setattr(fit, "BACKUP_EVERY_S", 1e9)
    monkeypatch.setattr(fit, "checkpoints", watched())
    metrics = fit.train(config, corpus, out, resume=True, verbose=1)
    assert "continuing in epoch 2 after its batch 3" in capsys.readouterr().out
    assert [row["epoch"] for row in metrics["history"]] == [1, 2, 3]
    assert [sum(epoch == e for epoch, _ in before + batches) for e in range(3)] == unbroken  # none twice, none lost
    assert unbroken[1] > 3
    assert batches[0] == (1, 0) and not (out / fit.BACKUP_DIR).exists()
