"""This app as a Hugging Face Space that serves one model from the Hub.

    python -m publish --space USER/NAME --model USER/MODEL [--private]

Creates the Space (repo type "space", sdk gradio) or updates it, with one commit holding:
README.md (the Space's front matter: title, sdk, app_file, license, the model), space.py (the
entry: this app on USER/MODEL, the model box limited to it), app.py and the musicgen package,
the embedded default model (the fallback when the Hub cannot be reached), requirements.txt (the
runtime part of ours) and packages.txt (Debian's FluidSynth and a General MIDI soundfont).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEBIAN_PACKAGES = ["fluidsynth", "fluid-soundfont-gm"]
DEBIAN_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"

ENTRY = '''"""The Space's entry point (written by python -m publish --space): the musicgen app on {model}."""
import os

os.environ.setdefault("MUSICGEN_MODEL", "{model}")
os.environ.setdefault("MUSICGEN_ALLOWED_MODELS", "{model}")  # a public page: the model box serves this one
if os.path.isfile("{soundfont}"):  # Debian's fluid-soundfont-gm (packages.txt) sounds fuller than the bundled one
    os.environ.setdefault("MUSICGEN_SOUNDFONT", "{soundfont}")

import app  # noqa: E402

app.main()
'''


def space_card(space_id: str, model_id: str) -> str:
    import gradio

    return f"""---
title: musicgen
emoji: 🎹
colorFrom: indigo
colorTo: yellow
sdk: gradio
sdk_version: {gradio.__version__}
app_file: space.py
license: mit
short_description: Press Generate, hear a new piece, take the .mid away
models:
- {model_id}
---

# musicgen

Press **Generate** to hear a new piece of pop music (melody and accompaniment), steer it with a chord
progression, a key, a tempo and a style, and take the .mid into your DAW.

This Space runs the musicgen app on [{model_id}](https://huggingface.co/{model_id}). Publish your own
model and Space with:

```bash
python -m train --data MY_MIDI_FOLDER --push-to-hub {model_id}
python -m publish --space {space_id} --model {model_id}
```
"""


def runtime_requirements() -> str:
    """Our requirements.txt up to its test section: what the app needs to run."""
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    kept = []
    for line in lines:
        if line.strip().lower().startswith("# tests"):
            break
        kept.append(line)
    return "\n".join(kept).strip() + "\n"


def space_files(space_id: str, model_id: str, folder: Path) -> None:
    """Write everything the Space holds into folder."""
    (folder / "README.md").write_text(space_card(space_id, model_id), encoding="utf-8")
    (folder / "space.py").write_text(ENTRY.format(model=model_id, soundfont=DEBIAN_SOUNDFONT), encoding="utf-8")
    (folder / "requirements.txt").write_text(runtime_requirements(), encoding="utf-8")
    (folder / "packages.txt").write_text("\n".join(DEBIAN_PACKAGES) + "\n", encoding="utf-8")
    shutil.copy2(ROOT / "app.py", folder / "app.py")
    shutil.copytree(ROOT / "musicgen", folder / "musicgen", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(ROOT / "assets" / "model", folder / "assets" / "model")


def publish_space(space_id: str, model_id: str, private: bool = False) -> str:
    """Create or update the Space; the commit URL. Raises PublishError (from publish) with
    the reason and the command to retry."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from . import PublishError

    retry = f"python -m publish --space {space_id} --model {model_id}" + (" --private" if private else "")
    api = HfApi()
    with tempfile.TemporaryDirectory() as staging:
        space_files(space_id, model_id, Path(staging))
        try:
            api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
            commit = api.upload_folder(repo_id=space_id, repo_type="space", folder_path=staging,
                                       commit_message=f"musicgen app on {model_id}")
        except HfHubHTTPError as error:
            status = error.response.status_code if error.response is not None else None
            reason = {401: "the Hub refused the token (log in with `hf auth login` or set HF_TOKEN)",
                      403: "this token may not write to that Space"}.get(status, f"the Hub said: {error}")
            raise PublishError(f"push to the Space {space_id} failed: {reason}.\nRetry with:\n  {retry}") from None
        except Exception as error:  # no network, DNS, TLS, a missing token
            raise PublishError(f"push to the Space {space_id} failed ({type(error).__name__}: {error}).\n"
                               f"Retry with:\n  {retry}") from None
    return commit.commit_url
