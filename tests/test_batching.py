import threading
import time

import numpy as np
import pytest

from musicgen.batching import Batcher
from musicgen.memory import PieceMemory
from musicgen.sampling import generate, random_primer


def test_requests_sampled_together_equal_each_sampled_alone(tiny_model):
    """Different lengths, settings, seeds and variation counts share batches, and each gets its own frames."""
    seq_len = tiny_model.config.seq_len
    requests = [dict(primer=random_primer(tiny_model.vocab, seq_len, seed, variations).ids, frames=frames,
                     temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, variations=variations)
                for seed, (frames, temperature, top_k, top_p, variations) in enumerate([
                    (40, 1.0, 0, 0.95, 1), (7, 0.0, 0, 1.0, 2), (25, 1.3, 3, 1.0, 4),
                    (60, 0.8, 0, 0.9, 1), (1, 1.0, 0, 1.0, 3), (33, 1.0, 5, 0.5, 2)])]
    requests[2]["memory"] = PieceMemory(history=[1, 2, 3] * 30)  # with a memory of the piece so far
    requests[3]["memory"] = PieceMemory(smoothing=1.0)
    batcher = Batcher(tiny_model.network, max_rows=8)  # 13 rows: some requests wait for room
    answers = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def ask(index):
        start.wait()
        answers[index] = batcher.generate(**requests[index])

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for request, answer in zip(requests, answers):
        assert answer.shape == (request["variations"], request["frames"])
        assert np.array_equal(answer, generate(tiny_model.network, **request))


def test_a_short_request_does_not_wait_for_a_long_one(tiny_model):
    batcher = Batcher(tiny_model.network)
    primer = random_primer(tiny_model.vocab, tiny_model.config.seq_len, 0).ids
    finished = []
    long = threading.Thread(target=lambda: finished.append(("long", batcher.generate(primer, 3000))))
    long.start()
    time.sleep(0.2)  # the long one is sampling by now
    short = batcher.generate(primer, 5, seed=1)
    finished.append(("short", short))
    long.join(timeout=120)
    assert [name for name, _ in finished] == ["short", "long"]
    assert np.array_equal(short, generate(tiny_model.network, primer, 5, seed=1))


def test_bad_requests_and_a_failing_model_reach_the_caller_and_the_batcher_goes_on(tiny_model):
    batcher = Batcher(tiny_model.network, max_rows=4)
    primer = np.zeros(tiny_model.config.seq_len, np.int32)
    with pytest.raises(ValueError, match="at most 4 variations"):
        batcher.generate(primer, 3, variations=5)
    with pytest.raises(ValueError, match="rows for"):
        batcher.generate(np.zeros((2, tiny_model.config.seq_len), np.int32), 3, variations=3)
    assert batcher.generate(primer, 0).shape == (1, 0)
    assert batcher.generate(primer, 3).shape == (1, 3)

    def broken_model(windows, training=False):
        raise RuntimeError("the model broke")

    broken = Batcher(broken_model)
    for _ in range(2):  # the second request is answered too: the loop survived the first failure
        with pytest.raises(RuntimeError, match="the model broke"):
            broken.generate(primer, 3)
