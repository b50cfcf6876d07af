"""musicgen: a small library to turn MIDI into tokens, learn them, and play new ones."""
import os

# TensorFlow prints several lines of start-up chatter per process; users only need warnings.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The sampler's compiled loops are cached beside the code (numba); where that folder is read-only
# (an installed package, a locked-down container) numba would refuse to load them: cache in /tmp.
if "NUMBA_CACHE_DIR" not in os.environ and not os.access(os.path.dirname(os.path.abspath(__file__)), os.W_OK):
    import tempfile

    os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), "musicgen-numba-cache")

# One BLAS thread: the app serves one request a core, and the sampler's largest product no longer
# uses BLAS (its float16 matrix fits one core's L2; on two threads 9.10 vs 9.07 ms a second of
# music: docs/measurements/speed.md).
# Set before NumPy loads, as `python -m musicgen` does; the app sets it too, and anyone may override it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
