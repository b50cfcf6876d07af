"""One configuration, saved as config.json beside the weights and read by training and the app."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_VERSION = 7
# Settings added since, with the values that older files meant.
VERSION_6_MEANT = {"melody_first": False, "section_tokens": False}
VERSION_5_MEANT = {**VERSION_6_MEANT, "start_tokens": False}
VERSION_4_MEANT = {**VERSION_5_MEANT, "steering_tokens": False}
VERSION_3_MEANT = {**VERSION_4_MEANT, "representation": "frames"}
VERSION_2_MEANT = {**VERSION_3_MEANT, "memory_orders": [], "average_weights_over": 0.0}
VERSION_1_MEANT = {**VERSION_2_MEANT, "key_normalize": False, "transpose_augment": 0, "bidirectional": True,
                   "pitch_input": False}
# The original study's recipe (every setting where our defaults differ).
ORIGINAL_RECIPE = {**VERSION_1_MEANT, "rnn_units": 128, "rnn_layers": 3, "dropout": 0.3, "epochs": 20, "top_p": 1.0,
                   "embedding_dim": 100, "learning_rate": 0.002, "batch_size": 64}
# Our earlier frame recipe (the measured best on the reference corpus), for comparison.
FRAMES_RECIPE = {"representation": "frames", "transpose_augment": 5, "rnn_units": 256, "rnn_layers": 1, "embedding_dim": 100,
                 "dropout": 0.5, "epochs": 3, "learning_rate": 0.002, "batch_size": 64,
                 "memory_orders": [1, 2, 4, 8, 16], "top_p": 0.98, "average_weights_over": 0.0}
REPRESENTATIONS = ("events", "frames")
NETWORKS = ("gru", "attention")  # what reads event tokens (Config.network)
MAX_MEMORY_ORDER = 64
TRACK_CHOICES = ("first", "piano", "all")
ANY_STYLE = "any"  # a piece in no particular style (steering, the tempo table, the tokens' header)
STARTS = ("opening", "middle")  # where an event piece starts within a song (Config.start)


def check_start(where: str) -> str:
    """where, if it names one of STARTS; ValueError in words otherwise."""
    if where not in STARTS:
        raise ValueError(f"a piece starts at the song's {' or '.join(STARTS)}, not {where!r}")
    return where


class ConfigError(ValueError):
    """A config.json that cannot be used, with the reason in words."""


@dataclass
class Config:
    """Everything needed to rebuild the data, the model and the sampler.

    The defaults are the settings measured best on the reference corpus 
    (docs/measurements/frames-quality.md); `Config(**ORIGINAL_RECIPE)` is the original study's recipe.
    """

    version: int = CONFIG_VERSION
    # Representation: "events" (beat-aligned REMI tokens, melody + accompaniment, a causal GRU
    # trained on whole sequences and sampled statefully) or "frames" (the original study's
    # chord per 5 fps frame, read through windows of seq_len frames).
    representation: str = "events"
    # events: tokens per training sequence (each predicts the next). 1024 (about 30 s of music)
    # against 512: validation loss 0.958 against 1.025 nats/token after 4 epochs (docs/measurements/pop909-network.md).
    chunk_tokens: int = 1024
    # events: a style and mode header and chord tokens, so pieces can be steered (musicgen.steering).
    # Styles are the artists (a folder's index.csv) with at least style_min_songs training songs;
    # each training chunk reads "any" instead of its artist with probability style_dropout, so
    # that "any" is learned too.
    steering_tokens: bool = True
    style_min_songs: int = 8
    style_dropout: float = 0.5
    # ... and whether the style also joins the network's input at every step (musicgen.model.
    # StyleEveryStep). Off: fine-tuned so, held-out JJ Lin songs scored worse under "JJ Lin" (docs/measurements/steering.md).
    style_every_step: bool = False
    # events, steerable: a header token after the mode that says whether the sequence starts at
    # the song's beginning (Start_opening) or at a bar inside it (Start_middle), so that a person
    # can ask for an intro or a song's body. Without it, a chunk cut from a song's middle reads the
    # same header as the song's start. Measured (docs/measurements/pop909-network.md): pieces begun as songs begin are
    # level with those of a model without it; pieces begun inside a song are told apart more easily.
    start_tokens: bool = True
    # events, steerable: each bar writes its melody first, then its chord and accompaniment, so
    # that the accompaniment is sampled knowing the melody it goes under (docs/tokens.md). Off:
    # fine-tuned so from the shipped model, free pieces were told from songs more easily and
    # accompaniments matched the songs' chords no better (docs/measurements/melody-first.md).
    melody_first: bool = False
    # events, steerable: Section_<letter> Bars_<n> after the bar line where a section of the song's
    # form begins (POP909's hand-labelled forms, aligned to the MIDI by train.sections). Off with
    # melody_first, measured with it.
    section_tokens: bool = False
    # frames only
    frames_per_second: int = 5
    seq_len: int = 50  # frames of context that predict the next frame
    tracks: str = "first"  # which tracks make the piano roll: first | piano | all (docs/measurements/frames-quality.md)
    min_count: int = 1  # chords seen fewer times are mapped to the nearest frequent one
    key_normalize: bool = True  # transpose every song to C major / A minor (estimated key)
    # Also train on each song moved by up to this many semitones. Events: 0, measured
    # (docs/measurements/pop909-held-out.md): with +-5 the network learns every key and its pieces wander (pitch-count
    # overlap 0.61 against 0.96 without).
    transpose_augment: int = 0
    # Model. events: the network, "gru" (rnn_units x rnn_layers) or "attention": a causal decoder
    # of attention_layers blocks of attention_width with attention_heads heads, told distances by
    # ALiBi's penalty rather than positions, so the sampler's key/value cache can slide
    # (musicgen.model.DecoderBlock). GRU: measured against it at equal CPU time (docs/measurements/attention.md).
    network: str = "gru"
    attention_layers: int = 4
    attention_width: int = 128
    attention_heads: int = 4
    embedding_dim: int = 128
    pitch_input: bool = True  # frames: the network also sees which pitches each frame holds
    rnn_units: int = 512
    rnn_layers: int = 1
    bidirectional: bool = False  # frames: the original reads each window both ways
    dense_units: int = 64  # frames: the dense layer before the softmax
    dropout: float = 0.1
    # Training
    learning_rate: float = 0.002  # Nadam's default
    batch_size: int = 16  # events: sequences of chunk_tokens (16 x 1024 tokens a step); frames: windows
    epochs: int = 7
    validation_share: float = 0.15  # share of songs (not windows) held out
    early_stopping_patience: int = 0  # epochs without validation improvement; 0 = off
    # Validation and model.keras use a moving average of the weights over about this many
    # epochs' worth of steps (Polyak averaging; 0 = off): what a decaying learning rate would
    # give, without choosing a schedule. Frame models keep 0 (their recipe).
    average_weights_over: float = 0.5
    seed: int = 0
    # Playback written into generated MIDI
    velocity: int = 90
    program: int = 0  # General MIDI program, 0 = Acoustic Grand Piano
    # Sampling defaults used by the app and the CLI (docs/measurements/frames-sampling.md)
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 0.98  # 1.0 = off
    # The piece's memory of itself (musicgen.memory): context lengths in frames, [] = off
    memory_orders: list[int] = field(default_factory=list)
    memory_smoothing: float = 100.0  # higher trusts the network longer; lower repeats more (and loops)
    # events with start_tokens: where a piece starts by default, "opening" (as songs begin) or "middle"
    # (from a bar inside a song). Measured (docs/measurements/pop909-network.md): the classifier tells "middle" pieces
    # from the songs more easily (AUC 0.881 against 0.823 over 10 draws).
    start: str = "opening"

    def __post_init__(self):
        problems = []
        if self.version != CONFIG_VERSION:
            problems.append(f"config version {self.version} (this musicgen reads version {CONFIG_VERSION})")
        if self.representation not in REPRESENTATIONS:
            problems.append(f"representation must be one of {', '.join(REPRESENTATIONS)}, not {self.representation!r}")
        if self.tracks not in TRACK_CHOICES:
            problems.append(f"tracks must be one of {', '.join(TRACK_CHOICES)}, not {self.tracks!r}")
        for name in ("frames_per_second", "seq_len", "embedding_dim", "rnn_units", "rnn_layers",
                     "dense_units", "batch_size", "min_count", "chunk_tokens", "attention_layers", "attention_heads"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be at least 1")
        if self.network not in NETWORKS:
            problems.append(f"network must be one of {', '.join(NETWORKS)}, not {self.network!r}")
        if self.attention_heads >= 1 and self.attention_width % self.attention_heads:
            problems.append("attention_width must be a multiple of attention_heads")
        if not 0 <= self.transpose_augment <= 11:
            problems.append("transpose_augment must be 0-11 semitones")
        if not 0 <= self.average_weights_over <= 100:
            problems.append("average_weights_over must be 0 (off) to 100 epochs")
        if not 0 <= self.style_dropout <= 1:
            problems.append("style_dropout must be in [0, 1]")
        if self.section_tokens and not (self.melody_first and self.steering_tokens):
            problems.append("section_tokens needs melody_first and steering_tokens (sections open a bar's melody)")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must be in [0, 1)")
        if not 0 <= self.validation_share < 1:
            problems.append("validation_share must be in [0, 1)")
        if not isinstance(self.memory_orders, (list, tuple)) or not all(
                isinstance(order, int) and 1 <= order <= MAX_MEMORY_ORDER for order in self.memory_orders):
            problems.append(f"memory_orders must be a list of context lengths from 1 to {MAX_MEMORY_ORDER} frames")
        if self.start not in STARTS:
            problems.append(f"start must be one of {', '.join(STARTS)}, not {self.start!r}")
        if not self.memory_smoothing > 0:
            problems.append("memory_smoothing must be above 0")
        if not 0 <= self.program <= 127 or not 1 <= self.velocity <= 127:
            problems.append("program must be 0-127 and velocity 1-127")
        if problems:
            raise ConfigError("; ".join(problems))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"config.json is not valid JSON ({error})") from None
        if not isinstance(values, dict):
            raise ConfigError("config.json must hold one JSON object")
        meant = {1: VERSION_1_MEANT, 2: VERSION_2_MEANT, 3: VERSION_3_MEANT, 4: VERSION_4_MEANT,
                 5: VERSION_5_MEANT, 6: VERSION_6_MEANT}.get(values.get("version"))
        if meant is not None:
            values = {**meant, **values, "version": CONFIG_VERSION}
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"config.json has unknown settings: {', '.join(unknown)}")
        return cls(**values)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)
