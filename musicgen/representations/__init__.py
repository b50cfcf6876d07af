"""Token schemes: how music becomes the ids a network reads, and back.

- `events` (the default, `events.py`): beat-aligned REMI tokens for melody and accompaniment
  (miditok over symusic), read by a causal GRU over whole sequences and sampled statefully
  with the token grammar masked in (`musicgen.stateful`).
- `frames` (the original study's, `--recipe original`): one token per 5 fps frame, the set of
  sounding pitches (`musicgen.midi`, `musicgen.vocab`), read through windows of frames.

`load()` is the one place that picks the scheme a model folder's config names.
"""
from __future__ import annotations

from pathlib import Path

TABLE_FILES = {"events": "tokenizer.json", "frames": "vocab.json"}  # the token table each scheme saves


def load(representation: str, folder: str | Path):
    """The token table saved in folder for a config's representation (Events, or a frames Vocab)."""
    folder = Path(folder)
    if representation == "events":
        from .events import Events

        return Events.load(folder)
    from ..vocab import Vocab

    return Vocab.load(folder / TABLE_FILES["frames"])
