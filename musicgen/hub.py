"""load(source) for a model folder, a Hub id or the embedded default; what a model folder holds."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .calibration import FILES as CORRECTION_FILES
from .calibration import Corrections
from .config import Config, ConfigError
from .errors import HubUnreachable, ModelError
from .representations.events import CONDITIONS_FILE
from .schemes import Scheme, scheme_for
from .vocab import VocabError

# The default model: inside the package where musicgen is installed, else in the source tree's assets/.
_INSTALLED_MODEL = Path(__file__).resolve().parent / "assets" / "model"
EMBEDDED_MODEL = _INSTALLED_MODEL if _INSTALLED_MODEL.is_dir() else Path(__file__).resolve().parents[1] / "assets" / "model"
MODEL_FILES = ("model.keras", "config.json")  # and the scheme's token table: vocab.json or tokenizer.json
# Beside the weights: the token tables (a frame model's vocab.json; an event model's tokenizer and
# its styles) and the fitted corrections (musicgen.calibration).
REPRESENTATION_FILES = ("vocab.json", "tokenizer.json", CONDITIONS_FILE, *CORRECTION_FILES)
DOWNLOADED = [*MODEL_FILES, *REPRESENTATION_FILES]
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+(@[\w./-]+)?$")
MAX_MODEL_BYTES = 50_000_000  # a Hub model's files, from the Hub's metadata, before anything is fetched


@dataclass
class MusicModel:
    """A network with the vocabulary and config it was trained with."""

    loaded_network: object  # keras.Model; None for an event model until `network` is first asked for
    vocab: object  # the scheme's token table: frames: a Vocab; events: Events (tokenizer + grammar)
    config: Config
    source: str  # what the user asked for: a folder, a Hub id, or "default"
    folder: Path  # where its files are on this machine
    note: str = ""  # e.g. that it came from the cache because the Hub was unreachable
    steps: object = None  # events: the network's weights as NumPy arrays (musicgen.steps.StepWeights)
    corrections: Corrections = field(default_factory=Corrections)  # fitted beside the weights

    @property
    def scheme(self) -> Scheme:
        return scheme_for(self.config)

    @property
    def network(self):
        """The Keras model (loaded with safe_mode on first use: event models sample without it)."""
        if self.loaded_network is None:
            from .model import load_keras

            self.loaded_network = load_keras(self.folder / "model.keras")
        return self.loaded_network


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
    scheme = scheme_for(config)
    table = scheme.table_file
    if not (folder / table).is_file():
        raise ModelError(f"{folder} is not a model folder: {table} missing")
    try:
        vocab = scheme.load_tokens(folder)
    except (VocabError, ValueError, KeyError, OSError) as error:
        raise ModelError(f"{folder}: its token table cannot be read ({error})") from None
    try:
        corrections = Corrections.load(folder)
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise ModelError(f"{folder}: a fitted correction cannot be read ({error})") from None
    network, steps = scheme.load_weights(folder, config, len(vocab))
    return MusicModel(network, vocab, config, source or str(folder), folder, note, steps, corrections)
