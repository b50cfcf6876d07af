"""Generation speed, one run on one machine: the study's predict loop, our sampler, the machine's limit.

    python bench/generation.py [--model SOURCE] [--seconds 60]

- The study: its network (3 x BiGRU(128) on 5 fps chord tokens, untrained: the time does not
  depend on the weights; its vocabulary built from ../shared/datasets/jjlin-pool when present,
  else 300 tokens) sampled as it did, one `model.predict` per frame: 5 per second of music.
- Ours: the default (or given) event model's stateful sampler (musicgen.stateful.sample, as the
  app calls it through compose), 60 s of music from a random primer: 8 pieces (seeds 0-7) at
  batch 1, per token and per second of music over all of them; and 8 variations of seed 0 at once.
  The sampler alone: one candidate a piece. As shipped: each piece kept from the model's
  song-likeness candidates (musicgen/likeness.py), per second of music kept.
- The limit: the bare arithmetic of one step of the same network at batch 1 in NumPy/BLAS: the
  recurrent and output matrix products (the input projection is a table lookup), nothing else.
- End to end: compose + FluidSynth + the Ogg Vorbis the page's player gets, for 60 s of music
  (the median of 4 seeds), in this process; and through the API as the page meets it: app.py
  running (offline), Generate asked with gradio_client, then the Ogg fetched over HTTP as the
  player fetches it (the .mid, WAV and picture stay on the server until someone downloads them).
  After one request to warm up, the median of 4 seeds.

Last line JSON: seed_ms_per_music_second, ms_per_music_second, speedup (the sampler alone),
shipped_ms_per_music_second and shipped_speedup (with the candidates), candidates, limit_ms_per_token,
ms_per_token, limit_ratio (ms_per_token / limit), batch8_wall_ratio (8 variations / 1),
end_to_end_seconds and realtime_factor (seconds of music per second of waiting), and the same
two through the API: api_end_to_end_seconds, api_realtime_factor; and the sampler on two BLAS
threads, side by side: two_threads_ms_per_music_second, two_threads_speedup.

Everything of ours runs on one BLAS thread, as the CLI and the app sample (musicgen/__init__.py,
app.py: one request a core); the sampler alone is timed on two as well, what one request on an
otherwise idle 2-core machine could have (docs/measurements/speed.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as shipped; set before NumPy loads OpenBLAS

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

import musicgen  # noqa: F401
from musicgen.hub import load

REFERENCE = ROOT.parent / "shared" / "datasets" / "jjlin-pool"


def best_of(function, repeats: int = 3) -> float:
    """The fastest of a few runs, in seconds: the machine's noise only ever adds time."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def study_network():
    """(the original recipe's network, its frames per second), built as the study built it."""
    from musicgen.config import ORIGINAL_RECIPE, Config
    from musicgen.midi import REST_TOKEN
    from musicgen.model import build_model
    from musicgen.vocab import Vocab

    config = Config(**ORIGINAL_RECIPE)
    tokens = [REST_TOKEN, *(str(pitch) for pitch in range(299))]
    if REFERENCE.is_dir():
        from train.data import load_midi_folder

        corpus = load_midi_folder(REFERENCE, config.tracks, config.frames_per_second, progress=False)
        tokens = [token for song in corpus.songs for token in song.tokens]
    vocab = Vocab.build([tokens], config.min_count)
    return build_model(config, vocab), config.seq_len, config.frames_per_second


def study_ms_per_music_second(frames: int = 50) -> float:
    """One model.predict per frame, the study's loop, per second of music."""
    network, seq_len, fps = study_network()
    rng = np.random.default_rng(0)
    window = list(rng.integers(0, network.output_shape[-1], seq_len))
    network.predict(np.array([window]), verbose=0)  # builds the predict function

    def loop():
        for _ in range(frames):
            probabilities = network.predict(np.array([window[-seq_len:]]), verbose=0)[0].astype(np.float64)
            window.append(int(rng.choice(len(probabilities), p=probabilities / probabilities.sum())))

    return 1000 * best_of(loop, 2) / frames * fps


def limit_ms_per_token(weights) -> float | None:
    """The recurrent and output products of one step at batch 1, nothing else, in the fastest
    form we found (the sampler's: transposed matrices, a large recurrent one in float16,
    musicgen.steps.StepWeights.recurrent_product). None for an
    attention network (its step is mostly products already)."""
    if not hasattr(weights, "units"):
        return None
    h = [np.zeros((1, units), np.float32) for units in weights.units]
    steps = 2000

    def arithmetic():
        for _ in range(steps):
            for layer in range(len(weights.layers)):
                weights.recurrent_product(layer, h[layer])
            weights.output(h[-1])

    return 1000 * best_of(arithmetic) / steps


PIECES = 8  # batch-1 pieces (seeds 0-7): a piece's token count varies with how busy it is


def ours(music_model, seconds: float) -> dict:
    """The sampler alone (one candidate a piece), then a piece as shipped (kept from the song-likeness's
    candidates) per second of music."""
    likeness = music_model.corrections.likeness
    alone = sampled(dataclasses.replace(music_model, corrections=music_model.corrections.without("among candidates")),
                    seconds)
    shipped = sampled(music_model, seconds, with_batch=False) if likeness is not None else alone
    from threadpoolctl import threadpool_limits

    with threadpool_limits(2, user_api="blas"):
        two_threads = sampled(dataclasses.replace(music_model, corrections=music_model.corrections.without(
            "among candidates")), seconds, with_batch=False)
    return {**alone, "shipped_ms_per_music_second": shipped["ms_per_music_second"],
            "two_threads_ms_per_music_second": two_threads["ms_per_music_second"],
            "candidates": likeness.candidates if likeness is not None else 1}


def sampled(music_model, seconds: float, with_batch: bool = True) -> dict:
    from musicgen.generate import sample_draft
    from musicgen.request import Request

    config = music_model.config
    sample_draft(music_model, Request.build(config, primer="random", seconds=4.0, seed=0))  # warm-up
    drafts = {}

    def run(seed, variations):
        drafts[seed, variations] = sample_draft(music_model, Request.build(config, primer="random", seconds=seconds,
                                                                          seed=seed, variations=variations))

    single = [best_of(lambda: run(seed, 1)) for seed in range(PIECES)]
    wall_8 = best_of(lambda: run(0, 8)) if with_batch else float("nan")
    tokens = sum(len(drafts[seed, 1].rows[0]) - 1 for seed in range(PIECES))  # BOS is the primer's
    music_seconds = PIECES * seconds  # each piece ends on the bar line nearest to `seconds`
    return {"tokens": tokens, "wall_1": single[0], "wall_8": wall_8,
            "ms_per_token": 1000 * sum(single) / tokens, "ms_per_music_second": 1000 * sum(single) / music_seconds}


def end_to_end(music_model, seconds: float, pieces: int = 4) -> float:
    """Seconds from a request to a playable audio file (sampling, FluidSynth, the file the page
    gets), the median over a few seeds."""
    from musicgen.generate import compose
    from musicgen.output import write_piece
    from musicgen.request import Request

    def request(seed):
        piece = compose(music_model, Request.build(music_model.config, primer="random", seconds=seconds, seed=seed))[0]
        with tempfile.TemporaryDirectory() as folder:  # what the page gets: the .mid and the Ogg it plays
            write_piece(piece, Path(folder) / "piece.mid", ogg_path=Path(folder) / "piece.ogg")

    request(0)
    return float(np.median([best_of(lambda: request(seed)) for seed in range(pieces)]))


def api_end_to_end(model: str, seconds: float, pieces: int = 4) -> float:
    """Seconds from Generate (through the app's API) to the player's Ogg in hand, the median over a few seeds."""
    import urllib.request

    from gradio_client import Client

    from load import running_app  # bench/load.py, beside this script

    with running_app(model) as url:
        client = Client(url, verbose=False, download_files=False)

        def request(seed):
            started = time.perf_counter()
            result = client.predict(seconds=seconds, seed=str(seed), api_name="/generate")
            urllib.request.urlopen(result[0]["url"]).read()
            return time.perf_counter() - started

        request(pieces)  # warm-up
        return float(np.median([request(seed) for seed in range(pieces)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    music_model = load(args.model)
    if not music_model.scheme.whole_sequences:
        sys.exit("bench/generation.py times event models (the default); frame models: see git history")
    study = study_ms_per_music_second()
    measured = ours(music_model, args.seconds)
    limit = limit_ms_per_token(music_model.steps)
    e2e = end_to_end(music_model, args.seconds)
    api_e2e = api_end_to_end(args.model or "default", args.seconds)
    result = {
        "model": music_model.source, "seconds_of_music": args.seconds, "tokens": measured["tokens"],
        "seed_ms_per_music_second": round(study, 2),
        "ms_per_music_second": round(measured["ms_per_music_second"], 3),
        "speedup": round(study / measured["ms_per_music_second"], 1),
        "candidates": measured["candidates"],
        "shipped_ms_per_music_second": round(measured["shipped_ms_per_music_second"], 3),
        "shipped_speedup": round(study / measured["shipped_ms_per_music_second"], 1),
        "two_threads_ms_per_music_second": round(measured["two_threads_ms_per_music_second"], 3),
        "two_threads_speedup": round(study / measured["two_threads_ms_per_music_second"], 1),
        "limit_ms_per_token": round(limit, 4) if limit else None,
        "ms_per_token": round(measured["ms_per_token"], 4),
        "limit_ratio": round(measured["ms_per_token"] / limit, 2) if limit else None,
        "batch8_wall_ratio": round(measured["wall_8"] / measured["wall_1"], 2),
        "end_to_end_seconds": round(e2e, 3),
        "realtime_factor": round(args.seconds / e2e, 1),
        "api_end_to_end_seconds": round(api_e2e, 3),
        "api_realtime_factor": round(args.seconds / api_e2e, 1),
    }
    print(f"study (model.predict per frame): {study:.1f} ms per second of music")
    print(f"ours: {result['ms_per_music_second']:.2f} ms per second of music ({result['speedup']}x the study), "
          f"{result['ms_per_token']:.3f} ms per token vs the bare step {result['limit_ms_per_token']} ms "
          f"({result['limit_ratio']}x); 8 variations take {result['batch8_wall_ratio']}x the wall time of 1")
    print(f"the sampler on two BLAS threads (one request on an idle machine): "
          f"{result['two_threads_ms_per_music_second']:.2f} ms per second of music ({result['two_threads_speedup']}x)")
    print(f"as shipped, each piece kept from {result['candidates']}: {result['shipped_ms_per_music_second']:.2f} ms per "
          f"second of music ({result['shipped_speedup']}x the study)")
    print(f"end to end from a random start, 60 s of music to a playable file: {e2e:.2f} s "
          f"({result['realtime_factor']}x real time); through the API from the page's start (one note) to the "
          f"player's Ogg: {api_e2e:.2f} s ({result['api_realtime_factor']}x)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
