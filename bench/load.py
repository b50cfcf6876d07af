"""Load: N visitors pressing Generate at once on the running app, for a bounded time.

    python bench/load.py [--users 16] [--seconds 60] [--length 10] [--url URL | --model SOURCE]

Without --url it starts app.py on a free local port (with --model, default the embedded model).
One visitor alone makes a few requests, then N visitors each send request after request
(gradio_client, /generate, random primer, --length seconds of music) until the time is up, then
the lone visitor asks a few times more: the single-user time is the median of its requests before
and after, so a machine that drifts in speed during the run moves both sides of the ratio. Prints a final JSON line: requests served, failures, p50 and p95 latency, the
single-user time and p95 / single. Target: 16 users, no failures, p95 under 10x single.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(model: str = "default", log: Path | None = None, start_timeout: float = 180, **env):
    """app.py serving on a free port of 127.0.0.1 (offline: no Hub); yields its URL, stops it after."""
    port = free_port()
    log = log or Path(tempfile.mkdtemp()) / "app.log"
    environment = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
                       MUSICGEN_MODEL=model, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
                       PYTHONUNBUFFERED="1", **env)
    with open(log, "w") as output:
        server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=environment,
                                  stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + start_timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError("app.py did not start serving:\n" + log.read_text()[-3000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def one_request(client, length: float, seed: int) -> float:
    """Seconds until the answer (audio, .mid, picture) is ready to fetch."""
    started = time.perf_counter()
    result = client.predict("random", "C4", None, length, 1, 1.0, 0.95, str(seed), 1.0, 0, "",
                            api_name="/generate")
    files = [result[0], *(result[1] or []), result[2]]  # the player's audio, the downloads, the picture
    if len(files) < 4 or not all(isinstance(item, dict) and item.get("url") for item in files):
        raise RuntimeError(f"no audio, MIDI or picture in the answer: {result[:3]}")
    return time.perf_counter() - started


def new_client(url: str):
    from gradio_client import Client

    # The visitors' own downloads are left out: here they would share the server's CPU cores.
    return Client(url, verbose=False, download_files=False)


def measure(url: str, users: int, seconds: float, length: float, single_requests: int = 3) -> dict:
    alone = new_client(url)
    one_request(alone, length, 0)  # the first request also pays for connecting
    single_times = [one_request(alone, length, seed) for seed in range(1, 1 + single_requests)]

    latencies, failures, lock = [], [], threading.Lock()
    stop_at = time.perf_counter() + seconds

    def visitor(number: int) -> None:
        client = new_client(url)
        request = 0
        while time.perf_counter() < stop_at:
            try:
                latency = one_request(client, length, 1000 * number + request)
                with lock:
                    latencies.append(latency)
            except Exception as error:  # every failure counts, whatever its kind
                with lock:
                    failures.append(f"{type(error).__name__}: {error}"[:200])
            request += 1

    threads = [threading.Thread(target=visitor, args=(number,)) for number in range(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    single_times += [one_request(alone, length, 10**6 + seed) for seed in range(1, 1 + single_requests)]
    single = float(np.median(single_times))
    p50, p95 = (float(np.percentile(latencies, q)) for q in (50, 95)) if latencies else (float("nan"),) * 2
    return {"users": users, "seconds": round(wall, 1), "length_s": length, "served": len(latencies),
            "failures": len(failures), "failure_examples": sorted(set(failures))[:3],
            "single_s": round(single, 3), "p50_s": round(p50, 3), "p95_s": round(p95, 3),
            "p95_over_single": round(p95 / single, 2), "requests_per_s": round(len(latencies) / wall, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60, help="how long the visitors keep asking")
    parser.add_argument("--length", type=float, default=10, help="seconds of music per request")
    parser.add_argument("--url", help="an app already running (default: start app.py here)")
    parser.add_argument("--model", default="default", help="model for the app started here")
    args = parser.parse_args()
    if args.url:
        result = measure(args.url, args.users, args.seconds, args.length)
    else:
        with running_app(args.model) as url:
            result = measure(url, args.users, args.seconds, args.length)
    print(json.dumps(result))
    return 0 if result["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
