"""Token <-> id, with counts, and the nearest known chord for one never seen in training."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from .midi import REST_TOKEN, token_pitches


class VocabError(ValueError):
    """A vocab.json that cannot be used, with the reason in words."""


class Vocab:
    """Ids 0..size-1 are all real tokens; id 0 is always the rest token."""

    def __init__(self, tokens: list[str], counts: list[int] | None = None):
        if not tokens or tokens[0] != REST_TOKEN:
            raise VocabError(f"the first token must be the rest token {REST_TOKEN!r}")
        if len(set(tokens)) != len(tokens):
            raise VocabError("the vocabulary lists a token twice")
        self.tokens = list(tokens)
        self.counts = list(counts) if counts is not None else [0] * len(tokens)
        self.ids = {token: index for index, token in enumerate(self.tokens)}
        self._chords = [token_pitches(token) for token in self.tokens]
        self._nearest_cache: dict[str, int] = {}

    @classmethod
    def build(cls, songs: list[list[str]], min_count: int = 1) -> "Vocab":
        """Every token seen at least min_count times, most frequent first after the rest."""
        counts = Counter(token for song in songs for token in song)
        kept = sorted((token for token, count in counts.items()
                       if count >= min_count and token != REST_TOKEN),
                      key=lambda token: (-counts[token], token))
        tokens = [REST_TOKEN] + kept
        return cls(tokens, [counts[token] for token in tokens])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.ids

    def nearest_id(self, token: str) -> int:
        """The id of token, or of the known chord closest to it.

        Closeness: every pitch of either chord is matched to the nearest pitch of the other, and
        the semitone distances are summed; ties go to the more frequent chord. A rest is only
        ever a rest, and a chord never becomes a rest while any chord is known.
        """
        if token in self.ids:
            return self.ids[token]
        if token in self._nearest_cache:
            return self._nearest_cache[token]
        query = np.array(token_pitches(token))
        best_id, best_cost = 0, float("inf")
        for index, chord in enumerate(self._chords):
            if not chord:
                continue
            known = np.array(chord)
            distances = np.abs(query[:, None] - known[None, :])
            cost = distances.min(axis=1).sum() + distances.min(axis=0).sum()
            if cost < best_cost or (cost == best_cost and self.counts[index] > self.counts[best_id]):
                best_id, best_cost = index, cost
        self._nearest_cache[token] = best_id
        return best_id

    def encode(self, tokens: list[str]) -> np.ndarray:
        """Ids for tokens; unseen chords become the nearest known ones (see `nearest_id`)."""
        return np.array([self.nearest_id(token) for token in tokens], dtype=np.int32)

    def decode(self, ids) -> list[str]:
        return [self.tokens[int(index)] for index in ids]

    def oov_share(self, tokens: list[str]) -> float:
        """The share of tokens that the vocabulary does not hold as they are."""
        return sum(token not in self.ids for token in tokens) / max(len(tokens), 1)

    def to_json(self) -> str:
        entries = [{"token": token, "id": index, "count": count}
                   for index, (token, count) in enumerate(zip(self.tokens, self.counts))]
        return json.dumps({"rest_token": REST_TOKEN, "tokens": entries}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Vocab":
        try:
            data = json.loads(text)
            entries = sorted(data["tokens"], key=lambda entry: entry["id"])
            tokens = [str(entry["token"]) for entry in entries]
            counts = [int(entry.get("count", 0)) for entry in entries]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise VocabError(f"vocab.json is not a musicgen vocabulary ({error})") from None
        if [entry["id"] for entry in entries] != list(range(len(entries))):
            raise VocabError("vocab.json ids must be 0..N-1 without gaps")
        if data.get("rest_token", REST_TOKEN) != REST_TOKEN:
            raise VocabError(f"vocab.json uses rest token {data['rest_token']!r}, expected {REST_TOKEN!r}")
        for token in tokens:
            try:
                token_pitches(token)
            except ValueError:
                raise VocabError(f"vocab.json holds {token!r}, which is not a frame token") from None
        return cls(tokens, counts)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
