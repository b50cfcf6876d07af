"""Generation speed: the original per-frame model.predict loop against ours, in one run.

    python bench/generation.py [--model SOURCE] [--frames 300]

Prints a final JSON line: seed_ms_per_frame (the original loop), ms_per_frame (ours, batch 1),
batch16_ms_per_frame (ours, 16 variations as one batch, per frame of the batch),
speedup = seed_ms_per_frame / ms_per_frame, batch16_ratio = batch16 / batch 1.
Ours samples as the app does: with the piece memory when the model's config turns it on.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicgen.hub import load  # noqa: E402
from musicgen.memory import PieceMemory  # noqa: E402
from musicgen.sampling import generate, random_primer  # noqa: E402


def original_loop(model, primer: np.ndarray, frames: int, seed: int) -> np.ndarray:
    """The original study's sampler: one model.predict call per frame."""
    rng = np.random.default_rng(seed)
    window = list(primer)
    output = []
    for _ in range(frames):
        probabilities = model.predict(np.array([window[-len(primer):]]), verbose=0)[0].astype(np.float64)
        chosen = int(rng.choice(len(probabilities), p=probabilities / probabilities.sum()))
        window.append(chosen)
        output.append(chosen)
    return np.array(output)


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    music_model = load(args.model)
    model, frames = music_model.network, args.frames
    primer = random_primer(music_model.vocab, music_model.config.seq_len, seed=0).ids[0]

    original_loop(model, primer, 3, 0)  # model.predict builds its function on the first call
    seed_seconds = timed(lambda: original_loop(model, primer, frames, 0))
    compile_seconds = {}
    for batch in (1, 16):
        compile_seconds[batch] = timed(lambda: generate(model, primer, 2, seed=0, variations=batch))
    memory = PieceMemory.from_config(music_model.config)
    batch1 = timed(lambda: generate(model, primer, frames, seed=0, variations=1, memory=memory))
    batch16 = timed(lambda: generate(model, primer, frames, seed=0, variations=16, memory=memory))

    result = {
        "model": music_model.source, "frames": frames, "memory": memory is not None,
        "seed_ms_per_frame": round(1000 * seed_seconds / frames, 2),
        "ms_per_frame": round(1000 * batch1 / frames, 2),
        "batch16_ms_per_frame": round(1000 * batch16 / frames, 2),
        "speedup": round(seed_seconds / batch1, 1),
        "batch16_ratio": round(batch16 / batch1, 2),
        "compile_seconds": {f"batch{b}": round(s, 1) for b, s in compile_seconds.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
