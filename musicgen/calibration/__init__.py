"""Fitted corrections: what training measures on the songs and saves beside the weights, and the
sampler applies around the network. One family, one bundle, one hook protocol.

Each member is a class in its own file with
- `FILE`, the JSON it is saved as beside the weights (never a pickle; the harmony tagger, a small
  network, is a .keras file read by NumPy);
- `load(folder)` -> the member, or None where the folder lacks the file (a model trained before
  it: the sampler then does without); `save(folder)`;
- `stage`, where the sampler applies it, and the one hook that stage calls:

| stage | hook | member |
|---|---|---|
| before sampling | `fitting_tempo(...)`, `drawn(...)`: the tempo a piece is played at | TempoTable (tempos.json) |
| the form | `drawn(bars, rng)`: the sections a piece asked for none plays | SongForms (forms.json) |
| at the logits | `offsets(previous_pitch, pitch_of)`: added where a melody pitch comes next | MelodyIntervals |
| at a bar line | `next_copy(rng, bars_written, copying)`: an earlier bar to play again | Repeats |
| over the piece so far | `recalling(grammar, history, returns)`: the earlier bars' tokens (and a drawn form's returns) blended in at each step | Echo (echo.json) |
| after decoding | `performed(score, seed)`: notes as long as the songs played them | Articulation |
| among candidates | `choose(scores, rng)`: the candidate piece kept | Likeness |
| reading a melody | `key_of(notes)`: the key a tune brought to accompany is read in | MelodyKey (melody_key.json) |
| harmonizing a melody | `chords_of(notes, halves)`: the chords under that tune, a half bar each | Harmony (harmony.keras) |

Adding a correction: its file here, and its class in FAMILY. `python -m train.calibrate FOLDER`
fits every member for a trained folder (old ones too); docs/measurements/corrections.md says what
each is worth and docs/sampling.md where each acts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .articulation import Articulation
from .echo import Echo
from .forms import SongForms
from .harmony import Harmony
from .likeness import Likeness
from .melody import MelodyIntervals
from .melody_key import MelodyKey
from .repeats import Repeats
from .tempo import TempoTable

FAMILY = (TempoTable, SongForms, MelodyIntervals, Repeats, Echo, Articulation, Likeness, MelodyKey, Harmony)
STAGES = ("before sampling", "the form", "at the logits", "at a bar line", "over the piece so far", "after decoding",
          "among candidates", "reading a melody", "harmonizing a melody")
FILES = tuple(member.FILE for member in FAMILY)


@dataclass
class Corrections:
    """The corrections a model folder holds, by stage (at most one a stage)."""

    members: dict[str, object] = field(default_factory=dict)  # stage -> member

    @classmethod
    def load(cls, folder: str | Path) -> Corrections:
        """Every member the folder has a file for; the others are simply absent."""
        return cls.of(member.load(folder) for member in FAMILY)

    @classmethod
    def of(cls, members) -> Corrections:
        return cls({member.stage: member for member in members if member is not None})

    def save(self, folder: str | Path) -> None:
        for member in self.members.values():
            member.save(folder)

    def at(self, stage: str):
        """The member applied at stage, or None."""
        if stage not in STAGES:
            raise KeyError(f"no stage {stage!r}; stages: {', '.join(STAGES)}")
        return self.members.get(stage)

    def with_(self, member) -> Corrections:
        """A copy with member in its stage's place."""
        return Corrections({**self.members, member.stage: member})

    def without(self, stage: str) -> Corrections:
        """A copy without the member of stage (e.g. the network's own pieces, before the likeness)."""
        return Corrections({name: member for name, member in self.members.items() if name != stage})

    @property
    def tempo(self) -> TempoTable | None:
        return self.members.get("before sampling")

    @property
    def forms(self) -> SongForms | None:
        return self.members.get("the form")

    @property
    def melody(self) -> MelodyIntervals | None:
        return self.members.get("at the logits")

    @property
    def repeats(self) -> Repeats | None:
        return self.members.get("at a bar line")

    @property
    def echo(self) -> Echo | None:
        return self.members.get("over the piece so far")

    @property
    def articulation(self) -> Articulation | None:
        return self.members.get("after decoding")

    @property
    def likeness(self) -> Likeness | None:
        return self.members.get("among candidates")

    @property
    def melody_key(self) -> MelodyKey | None:
        return self.members.get("reading a melody")

    @property
    def harmony(self) -> Harmony | None:
        return self.members.get("harmonizing a melody")

    def names(self) -> list[str]:
        """The files of the members present, in FAMILY's order."""
        return [kind.FILE for kind in FAMILY if isinstance(self.members.get(kind.stage), kind)]
