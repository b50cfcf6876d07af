"""A model folder -> a Hugging Face Hub repo, with a model card, a sample and its audio; or the
app's embedded default (`python -m publish`, publish/__main__.py)."""
from __future__ import annotations

import json
from pathlib import Path

import musicgen  # noqa: F401
from musicgen.config import Config
from musicgen.hub import REPRESENTATION_FILES
from musicgen.schemes import scheme_for

from . import PublishError

SAMPLE_SEED = 0
SAMPLE_SECONDS = 20
UPLOADED = ["model.keras", *REPRESENTATION_FILES, "config.json", "metrics.json", "loss.png", "evaluation.json",
            "evaluation.png", "sample.mid", "sample.wav", "sample.png", "README.md"]
POP909_CITATION = ("Wang, Chen, Jiang, Zhang, Xu, Dai, Bin, Xia: \"POP909: A Pop-song Dataset for Music "
                   "Arrangement Generation\", ISMIR 2020 (MIT License)")


def write_sample(folder: Path) -> None:
    """sample.mid, sample.wav and sample.png: what the model makes from a random primer with its defaults."""
    from musicgen.generate import compose
    from musicgen.hub import load_folder
    from musicgen.output import write_piece
    from musicgen.request import Request

    music_model = load_folder(folder)
    request = Request.build(music_model.config, primer="random", seconds=SAMPLE_SECONDS, seed=SAMPLE_SEED)
    piece = compose(music_model, request)[0]
    write_piece(piece, folder / "sample.mid", folder / "sample.wav", folder / "sample.png",
                title=f"sample, seed {SAMPLE_SEED}")


# What the card says of each fitted correction the folder has (musicgen.calibration), in this order.
CORRECTION_WORDS = {
    "articulation.json": "The tokens write note lengths on the sixteenth grid; a piece's notes are played as long as"
                         " the training songs' notes written alike were (drawn from `articulation.json`).",
    "melody_intervals.json": "A bias per melodic interval (`melody_intervals.json`, fitted on training songs)"
                             " corrects the network's lean towards leaps in the melody.",
    "repeats.json": "At each bar line a piece may play one of its own earlier bars again, as often as the training"
                    " songs do (`repeats.json`).",
    "echo.json": "At each step, what came at the same place 1, 2, 4 and 8 bars back is blended into the network's"
                 " choice, trusted the more the longer it has been right (`echo.json`, fitted by likelihood): phrases"
                 " come back, varied.",
    "forms.json": "A piece asked for no form plays one drawn from the training songs' own (`forms.json`, POP909's"
                  " section labels): its sections come back as songs' do, recalled by the echo, varied.",
    "melody_key.json": "A tune brought to accompany is read in the key its notes are likeliest in, by how the"
                       " training songs' melodies sit in theirs (`melody_key.json`).",
    "harmony.keras": "Under a tune brought to accompany, the chords are read from the whole tune, a half bar each, by"
                     " a small bidirectional GRU trained on the training songs' own chords (`harmony.keras`).",
    "likeness.json": "Each piece is kept from a few sampled ones in proportion to how song-like it sounds, by a"
                     " logistic model of the training songs against the network's own pieces (`likeness.json`).",
}


def played_words(folder: Path) -> str:
    """What the card says of the model's fitted corrections, for those the folder has (none without an
    articulation: a folder from before the corrections)."""
    if not (folder / "articulation.json").is_file():
        return ""
    return "".join(f" {words}" for name, words in CORRECTION_WORDS.items() if (folder / name).is_file())


def model_card(folder: Path, repo_id: str) -> str:
    """README.md for the Hub: metadata, data, hyper-parameters, results, and how to use it."""
    config = Config.load(folder / "config.json")
    if scheme_for(config).whole_sequences:
        return event_model_card(folder, repo_id, config)
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    dataset, best = metrics.get("dataset", {}), metrics.get("best") or {}
    skipped = dataset.get("files_skipped", [])
    hyper = "\n".join(f"| `{key}` | {value} |" for key, value in json.loads(config.to_json()).items())
    oov = dataset.get("validation_oov_rate")
    results = [f"| best epoch | {best.get('epoch', '?')} of {len(metrics.get('history', []))} |"]
    for key, label in (("val_loss", "validation loss (nats per frame)"), ("val_accuracy", "validation top-1 accuracy"),
                       ("loss", "training loss"), ("accuracy", "training accuracy")):
        if key in best:
            results.append(f"| {label} | {best[key]:.4f} |")
    if oov is not None:
        results.append(f"| validation frames with chords never seen in training | {oov:.1%} |")
    results = "\n".join(results)
    evaluation = evaluation_section(metrics.get("evaluation"))
    layers = (f"{config.rnn_layers} x " if config.rnn_layers > 1 else "") + \
        f"{'Bidirectional ' if config.bidirectional else ''}GRU({config.rnn_units})"
    inputs = f"Embedding({config.embedding_dim})" + (" + the frame's pitches" if config.pitch_input else "")
    keys = (" Songs are moved to C major / A minor (estimated key) before training"
            + (f", and each is also seen moved by up to {config.transpose_augment} semitones."
               if config.transpose_augment else ".") if config.key_normalize else "")
    return f"""---
library_name: keras
license: other  # a model follows the terms of the music it was trained on
tags:
- music-generation
- midi
- tensorflow
- keras
- musicgen
pipeline_tag: audio-generation
---

# {repo_id.split('/')[-1]}

A musicgen model: it reads the last {config.seq_len} frames of music
({config.frames_per_second} frames per second, one token per frame: the set of sounding pitches)
and predicts the next one. {inputs} -> {layers} with dropout {config.dropout} ->
Dense({config.dense_units}) + LeakyReLU -> softmax over {dataset.get('vocab_size', '?')} tokens.{keys}

Listen: `sample.wav` (its score: `sample.mid`), drawn from a random primer with seed {SAMPLE_SEED}.

## Training data

{dataset.get('source', '?')}: {len(dataset.get('files_used', []))} files used, {len(skipped)} skipped;
{len(dataset.get('train_songs', []))} songs for training ({dataset.get('frames', {}).get('train', '?')} frames),
{len(dataset.get('validation_songs', []))} held out for validation ({dataset.get('frames', {}).get('validation', '?')} frames),
split by whole song. Tracks: `{config.tracks}`.

## Results

| | |
|---|---|
{results}

![loss curve](loss.png)
{evaluation}
## Hyper-parameters (`config.json`)

| setting | value |
|---|---|
{hyper}

## Use

In the web app: put `{repo_id}` in the Model box, or start it with `MUSICGEN_MODEL={repo_id} python app.py`.

From the command line:

```bash
python -m musicgen generate --model {repo_id} --primer note:C4 --seconds 60 --out song.mid --wav song.wav
```

From Python:

```python
from musicgen.generate import compose
from musicgen.hub import load
from musicgen.request import Request

model = load("{repo_id}")
pieces = compose(model, Request.build(model.config, primer="random", seconds=60, seed=1))
pieces[0].midi.write("song.mid")
```

Loading uses only JSON and Keras' `safe_mode=True`: no code from this repository runs.
"""


def event_model_card(folder: Path, repo_id: str, config: Config) -> str:
    """The card of an event model: what it reads and writes, its data (citing POP909), its measurements."""
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    dataset, best = metrics.get("dataset", {}), metrics.get("best") or {}
    hyper = "\n".join(f"| `{key}` | {value} |" for key, value in json.loads(config.to_json()).items())
    source = dataset.get("source", "?")
    cite = f"\n\nThe songs are POP909: {POP909_CITATION}." if "pop909" in source.lower() else ""
    hours = dataset.get("seconds", {}).get("train", 0) / 3600
    report_path = folder / "evaluation.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None
    steering = steering_words(folder, repo_id, report)
    return f"""---
library_name: keras
license: mit
tags:
- music-generation
- midi
- symbolic-music
- tensorflow
- keras
- musicgen
pipeline_tag: audio-generation
---

# {repo_id.split('/')[-1]}

A musicgen model that writes pop music as MIDI: a melody (General MIDI flute, track "Melody")
over a piano accompaniment (track "Accompaniment"), on a 4/4 bar grid of sixteenths.

It reads and writes REMI event tokens (miditok over symusic; `tokenizer.json`): Bar,
Position (16 a bar), then per note Program (the part), Pitch, Velocity (8 levels) and Duration,
so a held note and a re-struck one differ. {network_words(config)} -> logits over
{dataset.get('vocab_size', '?')} tokens, trained on chunks of {config.chunk_tokens} tokens in which every
token predicts the next; sampled statefully one token at a time, with the token grammar masked
in so that every sample decodes. {key_words(config)}{played_words(folder)}
{steering}
Listen: `sample.wav` (score `sample.mid`, picture `sample.png`), drawn from a random start with seed {SAMPLE_SEED}.

## Training data

{source}: {len(dataset.get('files_used', []))} files used, {len(dataset.get('files_skipped', []))} skipped;
{len(dataset.get('train_songs', []))} songs ({hours:.1f} hours, {dataset.get('tokens', {}).get('train', '?')} tokens) for
training, {len(dataset.get('validation_songs', []))} held out for validation, split by song. Every training song is
listed by name and sha256 in `metrics.json`.{cite}

## Results

| | |
|---|---|
| best epoch | {best.get('epoch', '?')} of {len(metrics.get('history', []))}{fine_tuned_words(metrics)} |
| validation loss (nats per token) | {best.get('val_loss', float('nan')):.4f} |
{event_evaluation_rows(report)}
![loss curve](loss.png)

## Hyper-parameters (`config.json`)

| setting | value |
|---|---|
{hyper}

## Use

In the web app: put `{repo_id}` in the Model box, or start it with `MUSICGEN_MODEL={repo_id} python app.py`.

```bash
python -m musicgen generate --model {repo_id} --primer note:C4 --seconds 60 --out song.mid --wav song.wav
```

Loading uses only JSON and Keras' `safe_mode=True`: no code from this repository runs.
"""


def fine_tuned_words(metrics: dict) -> str:
    """How a fine-tuned network started (train.fit.started_from), or nothing for one trained from scratch."""
    earlier = metrics.get("warm_start")
    if not earlier:
        return ""
    losses = [row["val_loss"] for row in earlier.get("history", []) if "val_loss" in row]
    where = f", validation loss {min(losses):.4f}" if losses else ""
    return f", fine-tuned from `{earlier.get('from', '?')}` after its {earlier.get('epochs', '?')} epochs{where}"


def steering_words(folder: Path, repo_id: str, report: dict | None) -> str:
    """The card's paragraph on steering, for a model with chord and style tokens ("" otherwise)."""
    conditions_file = folder / "conditions.json"
    if not conditions_file.exists():
        return ""
    conditions = json.loads(conditions_file.read_text(encoding="utf-8"))
    styles = conditions["styles"]
    starts = (" and where in a song the piece starts (`--start opening` as songs begin, `--start middle` as from a bar "
              "inside one)" if conditions.get("starts") else "")
    tones = (report or {}).get("chord_tones")
    measured = ""
    if tones:
        measured = (f" Over {tones['progression']}, {tones['forced'].get('Accompaniment', 0):.0%} of the accompaniment "
                    f"and {tones['forced'].get('Melody', 0):.0%} of the melody (by duration) are chord tones "
                    f"(left free: {tones['free'].get('Accompaniment', 0):.0%} and {tones['free'].get('Melody', 0):.0%}).")
    if conditions.get("melody_first"):
        order = ("It writes each bar's melody first, then the bar's chord token and its accompaniment, so the "
                 "accompaniment is sampled knowing the melody above it: `python -m musicgen accompany TUNE.mid` writes "
                 "a piano part under a melody you bring, and a progression can be forced bar by bar.")
    else:
        order = "It can be steered: every bar opens with a chord token, so a progression can be forced bar by bar."
    if conditions.get("sections"):
        order += (" Section tokens (`Section_<letter> Bars_<n>`, from POP909's hand-labelled forms aligned to the "
                  "MIDI) mark where each section of a song begins, so a form can be asked "
                  "(`--form \"i4 A8 B8 A8 B8 o4\"`): a returning section sings its first time's melody again over "
                  "a new accompaniment.")
    return f"""
{order} A header names the style ({', '.join(styles)}), the mode{starts}.{measured} Try:
`python -m musicgen generate --model {repo_id} --chords "C G Am F" --key "Eb major" --tempo 96 --out idea.mid`.
"""


def network_words(config) -> str:
    """The event network in a line."""
    if config.network == "attention":
        return (f"Embedding({config.attention_width}) -> {config.attention_layers} causal attention blocks "
                f"({config.attention_heads} heads, distances by ALiBi, dropout {config.dropout}), its keys and values "
                f"cached while sampling")
    return f"Embedding({config.embedding_dim}) -> {config.rnn_layers} x GRU({config.rnn_units}) with dropout {config.dropout}"


def key_words(config: Config) -> str:
    if not config.key_normalize:
        return "Songs are read in their own keys."
    if config.transpose_augment:
        return (f"Songs are moved to C major / A minor, then seen moved by up to {config.transpose_augment} "
                "semitones each epoch, so the model writes in any key.")
    return "Songs are moved to C major / A minor before training, so the model writes in C major or A minor."


def event_evaluation_rows(report: dict | None) -> str:
    """Rows of the held-out report (python -m evaluate), when the folder has one."""
    if not report:
        return ""
    rows = [f"| held-out songs (never trained on) | {report['held_out_songs']} "
            f"({report['held_out_seconds'] / 3600:.1f} hours) |",
            f"| nats per second of music, as shipped | {report['nats_per_second']:.3f} |"]
    if "ngram_nats_per_second" in report:
        best = min(report["ngram_nats_per_second"].values())
        rows.append(f"| best n-gram (orders 1-5), same tokens | {best:.3f} (model: {report['vs_best_ngram']:.2f}x) |")
    heard = report["listening"]
    generated, real = heard["generated"], heard["real"]
    rows += [f"| 60 s pieces holding a note 10 s or more | {generated['hold_10s_share']:.0%} (songs {real['hold_10s_share']:.0%}) |",
             f"| notes per second | {generated['notes_per_second']:.2f} (songs {real['notes_per_second']:.2f}) |",
             f"| smallest Yang & Lerch overlap | {heard['min_overlap']:.3f} |",
             f"| classifier AUC, generated vs real (0.5 = cannot tell) | {heard['classifier_auc']:.3f}"
             + (f" (mean of {len(heard['classifier_auc_by_draw'])} draws of pieces; against the songs' openings "
                f"{heard['classifier_auc_against_openings']:.3f})" if "classifier_auc_by_draw" in heard else "") + " |"]
    if "independent_judge_auc" in heard:
        rows.append(f"| independent judge AUC, 8-bar stretches (features the sampler never selects on) | "
                    f"{heard['independent_judge_auc']:.3f} |")
    return "\n".join(rows) + "\n"


def evaluation_section(headline: dict | None) -> str:
    """The held-out evaluation (evaluate/frames.py) in a few lines, when the folder has one."""
    if not headline:
        return ""
    remembers = "network_nll" in headline
    lines = ["", "### Held-out evaluation", "", "| | |", "|---|---|",
             f"| NLL (nats per frame){', network with piece memory' if remembers else ''} | {headline['nll']:.3f} |",
             f"| top-1 accuracy | {headline['top1_accuracy']:.3f} |"]
    if remembers:
        lines.append(f"| NLL of the network alone | {headline['network_nll']:.3f} |")
    if headline.get("best_ngram"):
        lines.append(f"| best n-gram ({headline['best_ngram']}) NLL, same training songs | "
                     f"{headline['best_ngram_nll']:.3f} ({headline['nll_vs_best_ngram']:+.1%} for the model) |")
    if headline.get("best_ngram_with_memory_nll"):
        lines.append(f"| best n-gram with the same piece memory | {headline['best_ngram_with_memory_nll']:.3f} "
                     f"({headline['nll_vs_best_ngram_with_memory']:+.1%} for the model) |")
    one_frame = headline["one_frame_share"]
    lines += [f"| frames with unseen chords | {headline['oov_share']:.1%} |",
              f"| smallest generated-vs-real overlap (Yang & Lerch) | {headline['min_overlap']:.2f} |",
              f"| one-frame notes, generated vs real | {one_frame['generated']:.2f} vs {one_frame['real']:.2f} |",
              "", "![evaluation](evaluation.png)", ""]
    return "\n".join(lines)


def publish(folder: str | Path, repo_id: str, private: bool = False) -> str:
    """Create repo_id if needed and upload the model folder as one commit; the commit URL.

    Raises PublishError with the reason and the command to retry; the folder stays as it is.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    folder = Path(folder)
    retry = f"python -m publish {folder} {repo_id}" + (" --private" if private else "")
    table = "tokenizer.json" if (folder / "tokenizer.json").exists() else "vocab.json"
    missing = [name for name in ("model.keras", table, "config.json", "metrics.json")
               if not (folder / name).exists()]
    if missing:
        raise PublishError(f"{folder} is not a finished model folder ({', '.join(missing)} missing)")
    if not (folder / "sample.mid").exists():
        write_sample(folder)
    (folder / "README.md").write_text(model_card(folder, repo_id), encoding="utf-8")

    api = HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        # A model file the folder no longer has (a correction left out since) goes from the repo
        # too, or loading it would still apply it; anything else in the repo is left alone.
        commit = api.upload_folder(repo_id=repo_id, folder_path=folder, allow_patterns=UPLOADED,
                                   delete_patterns=UPLOADED, commit_message="Upload musicgen model")
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        reason = {401: "the Hub refused the token (log in with `hf auth login` or set HF_TOKEN)",
                  403: "this token may not write to that repository"}.get(status, f"the Hub said: {error}")
        raise PublishError(f"push to {repo_id} failed: {reason}.\nThe model is safe in {folder}; "
                           f"retry with:\n  {retry}") from None
    except Exception as error:  # no network, DNS, TLS, a missing token: all leave the folder as it is
        raise PublishError(f"push to {repo_id} failed ({type(error).__name__}: {error}).\n"
                           f"The model is safe in {folder}; retry with:\n  {retry}") from None
    return commit.commit_url


def embed(folder: str | Path, target: Path, data: Path | None = None, **sampling) -> None:
    """Copy a trained model folder to target (the app's embedded default), weights without optimizer
    state; sampling (temperature=..., top_p=...) replaces the default sampling settings in its config.
    With data (the training folder), the evaluation is redone with those settings before the card."""
    import shutil

    from musicgen.model import load_keras
    from musicgen.schemes import scheme_for

    folder, target = Path(folder), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in (*REPRESENTATION_FILES, "metrics.json", "loss.png", "evaluation.json", "evaluation.png"):
        if (folder / name).exists():
            shutil.copy2(folder / name, target / name)
        elif (target / name).exists():  # the model embedded before had it (a correction since left out)
            (target / name).unlink()
    Config.load(folder / "config.json").replace(**sampling).save(target / "config.json")
    model = load_keras(folder / "model.keras")
    model.save(target / "model.keras")
    if data is not None and not scheme_for(Config.load(target / "config.json")).whole_sequences:
        from evaluate.frames import evaluate_folder, write
        from musicgen.hub import load_folder
        from train.data import load_midi_folder

        music_model = load_folder(target)
        corpus = load_midi_folder(data, music_model.config.tracks, music_model.config.frames_per_second)
        write(target, evaluate_folder(music_model, corpus))
    write_sample(target)
    (target / "README.md").write_text(model_card(target, "musicgen/default"), encoding="utf-8")
