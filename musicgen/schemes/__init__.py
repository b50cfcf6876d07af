"""Token schemes: how music becomes the ids a network reads, and how a model of each is sampled.

Each scheme is one file behind the same small interface (`Scheme`):

- `events` (the default, `events.py`): beat-aligned REMI tokens for melody and accompaniment
  (`musicgen.representations.events`, miditok over symusic), read by a causal GRU over whole
  sequences and sampled statefully with the token grammar masked in (`musicgen.stateful`).
- `frames` (the original study's, `--recipe original`, `frames.py`): one token per 5 fps frame,
  the set of sounding pitches (`musicgen.midi`, `musicgen.vocab`), read through windows of frames.

`scheme_for(config)` is the one place that reads which scheme a model uses; everything else asks
the scheme. docs/tokens.md describes both.
"""
from __future__ import annotations

from ..config import Config
from .base import Scheme


def scheme_for(config: Config) -> Scheme:
    """The scheme config.json names: the one place that picks."""
    if config.representation == "frames":
        from .frames import FRAMES

        return FRAMES
    from .events import EVENTS

    return EVENTS
