"""The one path from a loaded model and a Request to pieces: primer -> ids -> pieces.

    request = Request.build(music_model.config, primer="note:C4", seconds=30, seed=7)
    draft = sample_draft(music_model, request)      # the ids, kept between clicks
    pieces = pieces_of(music_model, draft)          # MIDI, score, key, tempo
    longer = extend_draft(music_model, draft, 0, request.replace(seconds=10, seed=8))

`compose(music_model, request)` is the first two in one call. Every entry (the CLI, the app, the
API, publishing, evaluation) goes through here; the model's scheme (musicgen.schemes) does what
differs between event and frame models.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .hub import MusicModel
from .piece import Draft, Piece
from .request import LIBRARY, Request
from .sampling import Primer
from .steering import Steering


def make_primer(music_model: MusicModel, spec: str, seed: int = 0, variations: int = 1,
                steering: Steering | None = None) -> Primer:
    """A primer from "random", "note:C4" (or "note:60") or "midi:PATH"; ValueError when spec is neither
    or when the model cannot do what steering asks."""
    steering = steering or Steering()
    music_model.scheme.check_steering(music_model, steering)
    return music_model.scheme.primer(music_model, spec, seed, variations, steering)


def sample_draft(music_model: MusicModel, request: Request, frame_sampler=None, primer: Primer | None = None) -> Draft:
    """The Draft of request.variations pieces. frame_sampler (frame models) lets the app sample
    several visitors together; primer: one made already for this request (make_primer)."""
    scheme = music_model.scheme
    scheme.check_steering(music_model, request.steering)
    if primer is None:
        primer = scheme.primer(music_model, request.primer, request.seed, request.variations, request.steering)
    return scheme.sample(music_model, primer, request, frame_sampler)


def compose(music_model: MusicModel, request: Request, primer: Primer | None = None) -> list[Piece]:
    """The pieces of a request."""
    return pieces_of(music_model, sample_draft(music_model, request, primer=primer))


def extend_draft(music_model: MusicModel, draft: Draft, index: int, request: Request, frame_sampler=None) -> Draft:
    """A new Draft in which piece `index` goes on for about request.seconds more (event models: a
    whole number of bars), sampled with request's settings and seed."""
    if not 0 <= index < len(draft.rows):
        raise ValueError(f"there is no piece {index + 1} to continue")
    longer = music_model.scheme.extend(music_model, draft, index, request, frame_sampler)
    rows = [*draft.rows[:index], longer.tolist(), *draft.rows[index + 1:]]
    return dataclasses.replace(draft, rows=rows)


def pieces_of(music_model: MusicModel, draft: Draft) -> list[Piece]:
    """The pieces a Draft holds, in its primer's key, at its speed, with its instrument."""
    return [music_model.scheme.piece(music_model, draft, index) for index in range(len(draft.rows))]


def sample_scores(music_model: MusicModel, pieces: int, seconds: float, seed: int) -> tuple[list, float]:
    """(Scores of `pieces` pieces with the model's own sampling settings, half from random and half
    from one-note primers; the share that decoded): what the evaluation and the song-likeness hear."""
    config, batch = music_model.config, LIBRARY.max_variations
    notes = np.random.default_rng([seed, 2]).integers(55, 80, pieces)
    scores, decoded = [], 0
    requests = [Request.build(config, primer="random", seconds=seconds, seed=seed + 1000 * index,
                              variations=min(batch, pieces // 2 - first))
                for index, first in enumerate(range(0, pieces // 2, batch))]
    requests += [Request.build(config, primer=f"note:{int(note)}", seconds=seconds, seed=seed + 1 + index)
                 for index, note in enumerate(notes[:pieces - pieces // 2])]
    drafts = [sample_draft(music_model, request) for request in requests]
    for draft in drafts:
        try:
            for piece in pieces_of(music_model, draft):
                scores.append(piece.score)
                decoded += 1
        except Exception:  # a row that does not decode counts against the model, not the report
            continue
    return scores, decoded / max(pieces, 1)
