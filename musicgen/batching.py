"""Many visitors' requests sampled together: one forward pass per frame for all of them.

A batch of 16 rows costs the network about 5.5x one row (bench/generation.py), so when the app
is busy, sampling each request on its own wastes most of the CPU. The Batcher runs one loop per
model; a request joins it at the next frame and leaves as soon as its own frames are done
("continuous batching"), so a short request never waits for a long one to finish.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np

from .memory import PieceMemory
from .sampling import SamplingRun, advance, next_frame_probabilities

MAX_ROWS = 16  # the largest batch compiled; more waiting rows join as others leave


class Batcher:
    def __init__(self, model, max_rows: int = MAX_ROWS):
        self.model, self.max_rows = model, max_rows
        self._waiting: queue.Queue[tuple[SamplingRun, Future]] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="musicgen-batcher", daemon=True)
        self._thread.start()

    def generate(self, primer: np.ndarray, frames: int, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int = 0, variations: int = 1, memory: PieceMemory | None = None) -> np.ndarray:
        """What sampling.generate returns for the same arguments, sampled beside other requests."""
        if variations > self.max_rows:
            raise ValueError(f"at most {self.max_rows} variations at once, not {variations}")
        run = SamplingRun(primer, frames, temperature, top_k, top_p, seed, variations, memory)
        if run.done:  # no frames asked for
            return run.output
        result: Future = Future()
        self._waiting.put((run, result))
        return result.result()

    def warm_up(self, seq_len: int) -> None:
        """Compile every batch shape now rather than while a visitor waits."""
        rows = 1
        while rows <= self.max_rows:
            self.generate(np.zeros((rows, seq_len), np.int32), 1, variations=rows)
            rows *= 2

    def _loop(self) -> None:
        active: list[tuple[SamplingRun, Future]] = []
        held_back = None  # a run too big to join now; it goes first when rows are free
        while True:
            if not active and held_back is None:
                held_back = self._waiting.get()  # idle: sleep until someone asks
            rows = sum(len(run.windows) for run, _ in active)
            while True:
                if held_back is None:
                    try:
                        held_back = self._waiting.get_nowait()
                    except queue.Empty:
                        break
                if rows + len(held_back[0].windows) > self.max_rows:
                    break
                active.append(held_back)
                rows += len(held_back[0].windows)
                held_back = None
            try:
                windows = np.concatenate([run.windows for run, _ in active])
                advance([run for run, _ in active], next_frame_probabilities(self.model, windows))
            except Exception as error:  # the model failed: every waiting visitor hears why
                for _, result in active:
                    result.set_exception(error)
                active = []
                continue
            for run, result in active:
                if run.done:
                    result.set_result(run.output)
            active = [(run, result) for run, result in active if not run.done]


_batchers: dict = {}  # model -> Batcher; both live as long as the app keeps the model
_batchers_lock = threading.Lock()


def batcher_for(model) -> Batcher:
    """The one Batcher of a loaded model (made on first use)."""
    with _batchers_lock:
        if model not in _batchers:
            _batchers[model] = Batcher(model)
        return _batchers[model]
