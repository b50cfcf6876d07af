"""Generation speed: the original per-frame model.predict loop against ours, in one run.

    python bench/generation.py [--model SOURCE] [--frames 300]

With an event model (the default) it times 60 s of music instead: the stateful NumPy sampler
(batch 1 and 16 variations) against a Keras model.predict call per token over the last 512
tokens (how a windowed sampler would run this network), both per second of music.

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


def events_bench(music_model, seconds: float = 60.0) -> dict:
    from musicgen.compose import make_primer, sample_draft

    primer = make_primer(music_model, "note:C4", 0)
    sample_draft(music_model, primer, 4.0, 1.0, 0, 0.98, 0)  # warm-up
    timings = {}
    for variations in (1, 16):
        started = time.perf_counter()
        draft = sample_draft(music_model, primer, seconds, 1.0, 0, 0.98, 0, variations)
        timings[variations] = time.perf_counter() - started
    tokens = len(draft.rows[0])
    network, window = music_model.network, list(draft.rows[0][:1])
    predict_steps = 100
    network.predict(np.array([window]), verbose=0)
    started = time.perf_counter()
    for token in draft.rows[0][1:predict_steps + 1]:
        network.predict(np.array([window[-512:]]), verbose=0)
        window.append(token)
    predict_per_token = (time.perf_counter() - started) / predict_steps
    tokens_per_second_of_music = tokens / seconds
    ours = timings[1] / seconds
    return {"model": music_model.source, "seconds_of_music": seconds, "tokens_per_second_of_music": round(tokens_per_second_of_music, 1),
            "predict_loop_ms_per_second_of_music": round(1000 * predict_per_token * tokens_per_second_of_music, 1),
            "ms_per_second_of_music": round(1000 * ours, 2),
            "batch16_ms_per_second_of_music": round(1000 * timings[16] / seconds, 2),
            "speedup": round(predict_per_token * tokens_per_second_of_music / ours, 1),
            "batch16_ratio": round(timings[16] / timings[1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    music_model = load(args.model)
    if music_model.config.representation == "events":
        print(json.dumps(events_bench(music_model)))
        return
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
