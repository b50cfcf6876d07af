"""load(source) for a model folder, a Hub id or the embedded default; what a model folder holds."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .config import Config, ConfigError
from . import representations
from .representations import TABLE_FILES
from .vocab import VocabError

EMBEDDED_MODEL = Path(__file__).resolve().parents[1] / "assets" / "model"
MODEL_FILES = ("model.keras", "config.json")  # and the representation's: vocab.json or tokenizer.json
# The representation's files beside the weights (a frame model's vocab.json; an event model's
# tokenizer and what training measured for the sampler: tempi, styles, articulation, melody, repeats).
REPRESENTATION_FILES = ("vocab.json", "tokenizer.json", "tempos.json", "conditions.json", "articulation.json",
                        "melody_intervals.json", "repeats.json", "likeness.json")
DOWNLOADED = [*MODEL_FILES, *REPRESENTATION_FILES]
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+(@[\w./-]+)?$")
MAX_MODEL_BYTES = 50_000_000  # a Hub model's files, from the Hub's metadata, before anything is fetched


class ModelError(ValueError):
    """A model that cannot be loaded, with the reason in words."""


class HubUnreachable(ModelError):
    """The Hub could not be reached (or a download broke off) and no cached copy exists."""


@dataclass
class MusicModel:
    """A network with the vocabulary and config it was trained with."""

    loaded_network: object  # keras.Model; None for an event model until `network` is first asked for
    vocab: object  # frames: a Vocab; events: the Events representation (tokenizer + grammar)
    config: Config
    source: str  # what the user asked for: a folder, a Hub id, or "default"
    folder: Path  # where its files are on this machine
    note: str = ""  # e.g. that it came from the cache because the Hub was unreachable
    steps: object = None  # events: the network's weights as NumPy arrays (musicgen.stateful.StepWeights)

    @property
    def network(self):
        """The Keras model (loaded with safe_mode on first use: event models sample without it)."""
        if self.loaded_network is None:
            self.loaded_network = load_keras(self.folder / "model.keras")
        return self.loaded_network


def load_keras(path: Path, compile: bool = False):
    """The saved network, loaded with safe_mode (nothing in the file runs): every load goes
    through here, so that our own layers (musicgen.model.StyleEveryStep) are registered."""
    import keras

    from . import model  # noqa: F401  (registers its layers with Keras)

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as error:  # a damaged or foreign file: say so rather than show a traceback
        raise ModelError(f"{path} cannot be loaded ({error})") from None


def resolve_source(source: str | None) -> str:
    return source or os.environ.get("MUSICGEN_MODEL") or "default"


def load(source: str | None = None) -> MusicModel:
    """The model at source: "default" (the embedded one), a model folder, or "user/name[@revision]"."""
    source = resolve_source(source)
    note = ""
    if source == "default":
        folder = EMBEDDED_MODEL
        if not (folder / "model.keras").exists():
            raise ModelError(f"the embedded default model is missing from {folder}")
    elif Path(source).expanduser().is_dir():
        folder = Path(source).expanduser()
    elif HUB_ID.match(source):
        folder, note = download(source)
    else:
        raise ModelError(f"{source!r} is neither a model folder nor a Hub id like user/name")
    return load_folder(folder, source, note)


def download(hub_id: str) -> tuple[Path, str]:
    """(local folder, note) for a Hub model; only the files loading needs, the cache when offline."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    repo_id, _, revision = hub_id.partition("@")
    options = dict(repo_id=repo_id, revision=revision or None, allow_patterns=DOWNLOADED)
    try:
        check_hub_model(repo_id, revision or None)
        return Path(snapshot_download(**options)), ""
    except (RepositoryNotFoundError, GatedRepoError):
        raise ModelError(f"{repo_id}: no such model on the Hub (or it is private: log in with "
                         "`hf auth login` or set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise ModelError(f"{repo_id} has no revision {revision!r}") from None
    except ModelError:  # not a musicgen model, or too big: said in words by check_hub_model
        raise
    except LocalEntryNotFoundError:
        raise HubUnreachable(f"{hub_id}: the Hub cannot be reached and the model is not in the local cache") from None
    except Exception as error:  # network failures come in many kinds: try the cache before giving up
        try:
            folder = Path(snapshot_download(**options, local_files_only=True))
            if not all((folder / name).is_file() for name in MODEL_FILES):
                folder = None  # "main" already moved to a revision whose files never arrived
        except Exception:
            folder = None
        if folder is None and not revision:
            folder = newest_cached_snapshot(repo_id)
        if folder is None:
            raise HubUnreachable(f"{hub_id}: the Hub cannot be reached ({type(error).__name__}) "
                                 "and the model is not in the local cache") from None
        return folder, f"the Hub could not be reached ({type(error).__name__}); using the cached copy"


def check_hub_model(repo_id: str, revision: str | None) -> None:
    """ModelError unless the repo is a musicgen model folder (a config.json this version reads) of
    at most MAX_MODEL_BYTES, asked of the Hub's metadata before the weights are fetched."""
    from huggingface_hub import HfApi, hf_hub_download

    info = HfApi().model_info(repo_id, revision=revision, files_metadata=True)
    sizes = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or []}
    if "config.json" not in sizes or "model.keras" not in sizes:
        raise ModelError(f"{repo_id} is not a musicgen model: it has no config.json and model.keras "
                         "(musicgen models are made with python -m train --push-to-hub)")
    total = sum(size for name, size in sizes.items() if name in DOWNLOADED)
    if total > MAX_MODEL_BYTES:
        raise ModelError(f"{repo_id} is too big for this demo: {total / 1e6:.0f} MB of model files "
                         f"(at most {MAX_MODEL_BYTES / 1e6:.0f} MB)")
    try:
        Config.load(hf_hub_download(repo_id, "config.json", revision=revision))
    except ConfigError as error:
        raise ModelError(f"{repo_id} is not a musicgen model this version can read: {error}") from None


def newest_cached_snapshot(repo_id: str) -> Path | None:
    """The newest complete copy of repo_id in the Hub cache, whatever revision "main" now names.

    (A download that broke off may already have moved "main" to a revision not fully fetched.)
    """
    from huggingface_hub import constants, scan_cache_dir

    try:
        repos = [repo for repo in scan_cache_dir(constants.HF_HUB_CACHE).repos
                 if repo.repo_id == repo_id and repo.repo_type == "model"]
    except Exception:  # no cache directory yet, or one we cannot read
        return None
    complete = [revision for repo in repos for revision in repo.revisions
                if set(MODEL_FILES) <= {file.file_name for file in revision.files}]
    return max(complete, key=lambda revision: revision.last_modified).snapshot_path if complete else None


def load_folder(folder: Path, source: str | None = None, note: str = "") -> MusicModel:
    """Load and cross-check a model folder; never runs code from it (JSON, HDF5 arrays and safe_mode only)."""
    folder = Path(folder)
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelError(f"{folder} is not a model folder: {', '.join(missing)} missing")
    try:
        config = Config.load(folder / "config.json")
    except ConfigError as error:
        raise ModelError(f"{folder}: {error}") from None
    table = TABLE_FILES[config.representation]
    if not (folder / table).is_file():
        raise ModelError(f"{folder} is not a model folder: {table} missing")
    try:
        vocab = representations.load(config.representation, folder)
    except (VocabError, ValueError, KeyError, OSError) as error:
        raise ModelError(f"{folder}: its token table cannot be read ({error})") from None
    if config.representation == "events":
        from .stateful import StepWeights

        # Sampling reads the weights as arrays: no TensorFlow until something asks for the network.
        try:
            steps = StepWeights.from_keras_file(folder / "model.keras")
        except Exception as error:  # a damaged or foreign file: say so rather than show a traceback
            raise ModelError(f"{folder / 'model.keras'} cannot be loaded ({error})") from None
        if steps.vocab_size != len(vocab):
            raise ModelError(f"{folder}: the model predicts {steps.vocab_size} tokens but {table} holds "
                             f"{len(vocab)}: they come from different runs")
        return MusicModel(None, vocab, config, source or str(folder), folder, note, steps)
    trained = load_keras(folder / "model.keras")
    outputs, window = trained.output_shape[-1], trained.input_shape[-1]
    if outputs != len(vocab):
        raise ModelError(f"{folder}: the model predicts {outputs} tokens but {table} holds "
                         f"{len(vocab)}: they come from different runs")
    if window != config.seq_len:
        raise ModelError(f"{folder}: the model reads {window} frames but config.json says seq_len "
                         f"{config.seq_len}")
    return MusicModel(trained, vocab, config, source or str(folder), folder, note)
