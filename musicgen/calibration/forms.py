"""The training songs' forms: a piece asked for no form plays one drawn from them, so that its
sections come back as songs' do (verse, chorus, verse, chorus).

Pop songs are sections that come back: in POP909 two sections with the same letter have nearly the
same melody bar by bar (median Jaccard 0.83); a network sampled freely wanders on and repeats bars
far less often (docs/measurements/form.md). Saved as forms.json, one form a line as POP909 writes
it ("i4A8B8A8B8o4"), from the songs' human_label1.txt. A piece begins at the first section with a
melody (the intro left out: a piece's melody comes in at once) and goes on through the form for as
long as it lasts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..steering import form_name, parse_form

FORMS_FILE = "forms.json"


@dataclass
class SongForms:
    FILE = FORMS_FILE
    stage = "the form"  # its hook: drawn(bars, rng) -> the form a piece of that many bars plays

    forms: list[tuple[tuple[str, int], ...]]

    @classmethod
    def measured(cls, forms: list[str]) -> SongForms | None:
        parsed = [parse_form(form) for form in forms if form]
        return cls([form for form in parsed if form]) if parsed else None

    def drawn(self, bars: int, rng: np.random.Generator) -> tuple[tuple[str, int], ...]:
        """A form of `bars` bars: a song's, from its first section with a melody, cut where the bars end."""
        form = self.forms[int(rng.integers(len(self.forms)))]
        first = next((index for index, (letter, _) in enumerate(form) if letter.isupper()), 0)
        sections, total = [], 0
        for letter, length in form[first:]:
            if total >= bars or letter == "o":  # a piece cut at its length has no outro
                break
            sections.append((letter, min(length, bars - total)))
            total += sections[-1][1]
        if total < bars:  # a song shorter than the piece: its last section with a melody again and again
            last = next((section for section in reversed(sections) if section[0].isupper()), ("A", 8))
            while total < bars:
                sections.append((last[0], min(last[1], bars - total)))
                total += sections[-1][1]
        return tuple(sections)

    def save(self, folder: str | Path) -> None:
        lines = [form_name(form).replace(" ", "") for form in self.forms]
        (Path(folder) / FORMS_FILE).write_text(json.dumps(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> SongForms | None:
        """The folder's forms, or None (a model trained without them: pieces play no form)."""
        path = Path(folder) / FORMS_FILE
        if not path.is_file():
            return None
        lines = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise ValueError(f"{FORMS_FILE} must be a list of forms like \"i4A8B8A8o4\"")
        return cls.measured(lines)
