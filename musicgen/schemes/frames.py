"""The frame scheme (the original study's): one token a frame at 5 frames/s, the set of sounding
pitches, sampled a frame at a time through windows of seq_len frames by the Keras network.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..memory import PieceMemory
from ..midi import tokens_to_midi, transpose
from ..piece import Draft, Piece
from ..request import LIBRARY
from ..sampling import Primer, generate, last_frames, midi_primer, note_primer, random_primer
from ..steering import Steering
from ..vocab import Vocab
from .base import Scheme

VOCAB_FILE = "vocab.json"


class FrameScheme(Scheme):
    name = "frames"
    table_file = VOCAB_FILE
    steerable = False
    whole_sequences = False
    shares_batches = True
    logits = False

    def load_tokens(self, folder: Path) -> Vocab:
        return Vocab.load(folder / VOCAB_FILE)

    def load_weights(self, folder: Path, config, vocab_size: int) -> tuple:
        """The Keras network itself, which samples (through windows of seq_len frames)."""
        from ..model import load_keras

        trained = load_keras(folder / "model.keras")
        outputs, window = trained.output_shape[-1], trained.input_shape[-1]
        if outputs != vocab_size:
            raise ModelError(f"{folder}: the model predicts {outputs} tokens but {self.table_file} holds "
                             f"{vocab_size}: they come from different runs")
        if window != config.seq_len:
            raise ModelError(f"{folder}: the model reads {window} frames but config.json says seq_len "
                             f"{config.seq_len}")
        return trained, None

    def check_steering(self, music_model, steering: Steering) -> None:
        if not steering.is_free:
            raise ValueError("chords, key, tempo, style and start need an event model; this one uses the original "
                             "study's frames (pick the default model, or train one with python -m train)")

    def primer(self, music_model, spec: str, seed: int, variations: int, steering: Steering) -> Primer:
        kind, _, value = spec.partition(":")
        seq_len = music_model.config.seq_len
        if kind == "random" and not value:
            return random_primer(music_model.vocab, seq_len, seed, variations)
        if kind == "note" and value:
            return note_primer(music_model.vocab, value, seq_len)
        if kind == "midi" and value:
            return midi_primer(Path(value), music_model.vocab, music_model.config)
        if kind == "melody" and value:
            raise ValueError("accompanying a melody needs an event model; this one uses the original study's frames "
                             "(pick the default model)")
        raise ValueError(f"primer {spec!r} is not random, note:NAME (e.g. note:C4) or midi:PATH")

    def sample(self, music_model, primer: Primer, request, frame_sampler=None) -> Draft:
        config = music_model.config
        frames = frame_count(config, request.seconds, request.speed)
        memory = PieceMemory.from_config(config, primer.history) if request.memory else None
        sampler = frame_sampler or (lambda *args: generate(music_model.network, *args))
        rows = sampler(primer.ids, frames, request.temperature, request.top_k, request.top_p, request.seed,
                       request.variations, memory).tolist()
        return Draft(music_model.source, request.seed, rows, transpose=primer.transpose, speed=request.speed,
                     program=request.program, steering=request.steering.to_json())

    def extend(self, music_model, draft: Draft, index: int, request, frame_sampler=None) -> np.ndarray:
        config = music_model.config
        ids = np.asarray(draft.rows[index], np.int32)
        frames = frame_count(config, request.seconds, draft.speed)
        longest = frame_count(config, LIBRARY.max_seconds, 1.0)
        if len(ids) + frames > longest:
            raise ValueError(f"a piece can be continued up to {LIBRARY.max_seconds:g} seconds; this one would be "
                             f"{(len(ids) + frames) / config.frames_per_second:g}")
        sampler = frame_sampler or (lambda *args: generate(music_model.network, *args))
        more = sampler(last_frames(ids, config.seq_len), frames, request.temperature, request.top_k, request.top_p,
                       request.seed, 1, PieceMemory.from_config(config, ids))[0]
        return np.concatenate([ids, more])

    def piece(self, music_model, draft: Draft, index: int) -> Piece:
        """The piece that generated frames make, moved by draft.transpose (see Primer.transpose)."""
        config = music_model.config
        ids = np.asarray(draft.rows[index], np.int32)
        tokens = transpose(music_model.vocab.decode(ids), draft.transpose)
        frames_per_second = config.frames_per_second * draft.speed
        program = config.program if draft.program is None else draft.program
        midi = tokens_to_midi(tokens, frames_per_second, program, config.velocity)
        return Piece(ids, midi, tokens=tokens, frames_per_second=frames_per_second)


FRAMES = FrameScheme()


def frame_count(config, seconds: float, speed: float) -> int:
    """The frames that make `seconds` played at `speed`."""
    return max(1, round(float(seconds) * config.frames_per_second * speed))
