"""What a person asks for, checked once: the one object the CLI, the app, the API and the evaluation
build and hand to `musicgen.generate`.

`Request.build(config, ...)` fills every choice left empty (None) from the model's config, draws a
seed when none is given, and raises ValueError naming what is wrong and what is accepted. The
limits live here and nowhere else: `LIBRARY` for the CLI and Python callers, `WEB_PAGE` for the
public page (shorter pieces, four players).
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from .config import Config
from .steering import Steering

DEFAULT_SECONDS = 60.0
PRIMER_KINDS = ("random", "note:NAME (e.g. note:C4)", "midi:PATH", "melody:PATH (accompany it)")


@dataclass(frozen=True)
class Limits:
    """How much one request may ask for."""

    max_seconds: float  # the length of each piece
    max_variations: int  # pieces in one request
    min_seconds: float = 0.0  # exclusive: a piece lasts more than this
    # Rows sampled together at most: each piece's candidates (musicgen.calibration.likeness) are fewer when
    # many variations are asked at once.
    max_rows: int = 64
    speed_range: tuple[float, float] = (0.25, 4.0)  # playback tempo, times the written tempo
    max_temperature: float = 5.0


LIBRARY = Limits(max_seconds=600.0, max_variations=16)  # ten minutes
WEB_PAGE = Limits(max_seconds=120.0, max_variations=4, min_seconds=4.99)  # the page's slider: 5-120 s


@dataclass(frozen=True)
class Request:
    """One request, every value resolved and checked (build it with Request.build)."""

    primer: str = "note:C4"  # "random", "note:C4" (or "note:60"), "midi:PATH" (continue), "melody:PATH" (accompany)
    seconds: float = DEFAULT_SECONDS  # each piece's length; event pieces end on the nearest bar line
    variations: int = 1
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    seed: int = 0
    steering: Steering = field(default_factory=Steering)
    program: int | None = None  # the accompaniment's General MIDI program; None: the model's
    speed: float = 1.0  # playback tempo, times the written one
    memory: bool = True  # the piece's memory of itself, where the model's config has one

    @classmethod
    def build(cls, config: Config, *, primer: str = "note:C4", seconds: float | None = None,
              variations: int = 1, temperature: float | None = None, top_k: int | None = None,
              top_p: float | None = None, seed: int | str | None = None, steering: Steering | None = None,
              program: int | None = None, speed: float = 1.0, memory: bool = True,
              limits: Limits = LIBRARY) -> Request:
        """The request with the model's defaults where a choice is None; ValueError in words."""
        request = cls(
            primer=(primer or "").strip(),
            seconds=DEFAULT_SECONDS if seconds is None else _number(seconds, "length"),
            variations=int(_number(variations, "variations")),
            temperature=config.temperature if temperature is None else _number(temperature, "temperature"),
            top_k=config.top_k if top_k is None else int(_number(top_k, "top-k")),
            top_p=config.top_p if top_p is None else _number(top_p, "top-p"),
            seed=random.randrange(2**31) if seed is None or str(seed).strip() == "" else _seed(seed),
            steering=steering or Steering(),
            program=config.program if program is None else int(_number(program, "instrument")),
            speed=_number(speed, "playback tempo"),
            memory=bool(memory),
        )
        request.check(limits)
        return request

    def check(self, limits: Limits = LIBRARY) -> None:
        """ValueError, naming the value and what is accepted, when the request is out of bounds."""
        if not limits.min_seconds < self.seconds <= limits.max_seconds:
            low = f"above {limits.min_seconds:g}" if limits.min_seconds == 0 else f"at least {round(limits.min_seconds):g}"
            raise ValueError(f"length must be {low} and at most {limits.max_seconds:g} seconds, not {self.seconds:g}")
        if not 1 <= self.variations <= limits.max_variations:
            raise ValueError(f"variations must be between 1 and {limits.max_variations}, not {self.variations}")
        if not 0 <= self.temperature <= limits.max_temperature:
            raise ValueError(f"temperature must be between 0 and {limits.max_temperature:g}, not {self.temperature:g}")
        if self.top_k < 0:
            raise ValueError(f"top-k must be 0 (off) or more, not {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top-p must be above 0 and at most 1, not {self.top_p:g}")
        if self.program is not None and not 0 <= self.program <= 127:
            raise ValueError(f"program must be 0-127 (a General MIDI instrument), not {self.program}")
        low, high = limits.speed_range
        if not low <= self.speed <= high:
            raise ValueError(f"playback tempo must be between {low:g}x and {high:g}x, not {self.speed:g}x")
        kind, _, value = self.primer.partition(":")
        if not ((kind == "random" and not value) or (kind in ("note", "midi", "melody") and value)):
            raise ValueError(f"primer {self.primer!r} is not {', '.join(PRIMER_KINDS[:-1])} or {PRIMER_KINDS[-1]}")

    def replace(self, **changes) -> Request:
        """A copy with changes, checked against the library's limits."""
        request = dataclasses.replace(self, **changes)
        request.check()
        return request


def _number(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return number


def _seed(value) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"seed {value!r} is not a whole number") from None
