"""musicgen: a small library to turn MIDI into frame tokens, learn them, and play new ones."""
import os

# TensorFlow prints several lines of start-up chatter per process; users only need warnings.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
