"""The web demo as a visitor meets it, one run: seconds to a served page, seconds to the first
piece, and what the player downloads per second of music (Ogg Vorbis) against the WAV it got before.

    python bench/web.py [--model SOURCE] [--seconds 60]

The app is started as `make demo` starts it (python app.py, offline); the piece is asked for
through the API (gradio_client), from the page's defaults. Last line JSON: seconds_to_page,
seconds_to_first_piece, ogg_kB_per_music_second, wav_kB_per_music_second, size_ratio.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from load import running_app  # bench/load.py, beside this script (its folder is on the path when run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    from gradio_client import Client

    started = time.perf_counter()
    with running_app(args.model) as url:
        to_page = time.perf_counter() - started
        client = Client(url, verbose=False)
        asked = time.perf_counter()
        result = client.predict(seconds=args.seconds, seed="1", api_name="/generate")
        to_piece = time.perf_counter() - asked
    ogg = Path(result[0])
    wav = next(Path(path) for path in result[1] if str(path).endswith(".wav"))
    figures = {"seconds_to_page": round(to_page, 2), "seconds_to_first_piece": round(to_piece, 2),
               "ogg_kB_per_music_second": round(ogg.stat().st_size / 1000 / args.seconds, 1),
               "wav_kB_per_music_second": round(wav.stat().st_size / 1000 / args.seconds, 1)}
    figures["size_ratio"] = round(figures["ogg_kB_per_music_second"] / figures["wav_kB_per_music_second"], 3)
    print(f"page served {to_page:.1f} s after start; a {args.seconds:g} s piece {to_piece:.2f} s after asking; "
          f"the player downloads {figures['ogg_kB_per_music_second']} kB per second of music "
          f"(the WAV: {figures['wav_kB_per_music_second']})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
