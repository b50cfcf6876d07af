"""The interface every token scheme provides (musicgen.schemes picks one for a model)."""
from __future__ import annotations

from pathlib import Path

from ..config import Config


class Scheme:
    """What every scheme provides (see events.py and frames.py for the two)."""

    name: str
    table_file: str  # the token table saved beside the weights
    steerable: bool  # chords, key, tempo, style and start can be asked of its models
    whole_sequences: bool  # trained on whole sequences and sampled statefully (else through windows)
    shares_batches: bool  # several visitors' pieces are sampled through the network together (the app)
    logits: bool  # the network's last layer gives logits (else probabilities)

    def load_tokens(self, folder: Path):
        """The token table saved in folder."""
        raise NotImplementedError

    def load_weights(self, folder: Path, config: Config, vocab_size: int) -> tuple:
        """(the Keras network or None until first asked for, what the sampler reads of the weights
        or None), checked against the token table; ModelError in words."""
        raise NotImplementedError

    def check_steering(self, music_model, steering) -> None:
        """ValueError when the model cannot do what steering asks."""
        raise NotImplementedError

    def primer(self, music_model, spec: str, seed: int, variations: int, steering):
        """The Primer a spec ("random", "note:C4", "midi:PATH") makes."""
        raise NotImplementedError

    def sample(self, music_model, primer, request, frame_sampler=None):
        """A Draft of request.variations pieces after primer."""
        raise NotImplementedError

    def extend(self, music_model, draft, index: int, request, frame_sampler=None):
        """Piece `index` of draft going on for about request.seconds more: its whole new row of ids."""
        raise NotImplementedError

    def piece(self, music_model, draft, index: int):
        """The Piece that row `index` of draft makes (in its primer's key, at its speed)."""
        raise NotImplementedError
