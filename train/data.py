"""Corpus -> songs of tokens -> split by song -> tf.data windows."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from musicgen.config import Config
from musicgen.schemes import scheme_for
from musicgen.midi import MidiError, key_shift, load_midi, midi_to_tokens, transpose
from musicgen.score import Score, load_score, score_from_midi

from .sections import aligned_sections

MIDI_SUFFIXES = (".mid", ".midi")


@dataclass
class Song:
    name: str
    tokens: list[str] | None = None  # frames: one token per frame
    score: Score | None = None  # events: the notes in beats
    digest: str = ""  # sha256 of the file, so a model folder can name exactly what it learned from
    artist: str = ""  # from the folder's index.csv (POP909's layout), "" when unknown
    form: str = ""  # its sections, where its folder says (POP909's human_label1.txt: "i4A8B8A8o4"), else ""
    # The form on the score's bars, (first bar, letter, bars) each (train.sections); [] where it does not align.
    sections: list = field(default_factory=list)


@dataclass
class Corpus:
    source: str
    songs: list[Song] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"file": name, "reason": words}
    unaligned: list[dict] = field(default_factory=list)  # songs whose form label did not align, and why

    def summary(self) -> str:
        if self.songs and self.songs[0].score is not None:
            hours = sum(song.score.seconds for song in self.songs) / 3600
            lines = [f"{len(self.songs)} songs from {self.source}, {hours:.1f} hours of music"]
        else:
            lines = [f"{len(self.songs)} songs from {self.source}, {sum(len(s.tokens) for s in self.songs)} frames"]
        if self.unaligned:
            aligned = sum(bool(song.sections) for song in self.songs)
            lines.append(f"song forms placed on the MIDI's bars: {aligned} of {aligned + len(self.unaligned)}; the others "
                         "train without sections (their chords do not agree with the MIDI's at any shift)")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines += [f"  {item['file']}: {item['reason']}" for item in self.skipped]
        return "\n".join(lines)


class NoUsableFiles(RuntimeError):
    """Nothing in the corpus could be used; the message says what was found and why."""


def find_midi_files(folder: str | Path) -> list[Path]:
    """Every *.mid / *.midi below folder (any case), in a stable order."""
    found = []
    for root, _, names in os.walk(folder, followlinks=True):  # symlinked song folders count too
        found += [Path(root) / name for name in names if Path(name).suffix.lower() in MIDI_SUFFIXES]
    return sorted(path for path in found if path.is_file())


def _add_song(corpus: Corpus, name: str, load, tracks: str, frames_per_second: int) -> None:
    try:
        tokens = midi_to_tokens(load(), tracks, frames_per_second)
    except MidiError as error:
        corpus.skipped.append({"file": name, "reason": str(error).removeprefix(f"{name}: ")})
        return
    if not tokens:
        corpus.skipped.append({"file": name, "reason": f"no notes in the selected tracks ({tracks})"})
        return
    corpus.songs.append(Song(name, tokens))


def read_folder(folder: str | Path, add_song, progress: bool = True) -> Corpus:
    """A Corpus from every MIDI file below folder, each given to add_song(corpus, name, path);
    NoUsableFiles (saying what was found and why) when nothing could be used."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoUsableFiles(f"{folder}: no such folder")
    corpus = Corpus(source=str(folder))
    paths = find_midi_files(folder)
    for path in tqdm(paths, desc="reading MIDI", unit="file", disable=not progress):
        add_song(corpus, str(path.relative_to(folder)), path)
    if not corpus.songs:
        found = f"{len(paths)} MIDI file(s)" if paths else "no *.mid or *.midi files"
        reasons = "".join(f"\n  {item['file']}: {item['reason']}" for item in corpus.skipped)
        raise NoUsableFiles(f"{folder}: no usable MIDI file ({found}){reasons}")
    return corpus


def load_midi_folder(folder: str | Path, tracks: str, frames_per_second: int,
                progress: bool = True) -> Corpus:
    """Frame songs from every MIDI file below folder; broken ones are skipped with a reason."""
    def add(corpus, name, path):
        _add_song(corpus, name, lambda: load_midi(path, name=name), tracks, frames_per_second)

    return read_folder(folder, add, progress)


# index.csv names artists in their own script; the styles a person types are these.
ARTIST_NAMES = {"林俊杰": "JJ Lin", "周杰伦": "Jay Chou", "邓丽君": "Teresa Teng", "王菲": "Faye Wong",
                "刘德华": "Andy Lau", "卓依婷": "Timi Zhuo", "许嵩": "Vae Xu", "郑源": "Zheng Yuan",
                "祁隆": "Qi Long", "陈瑞": "Chen Rui"}


def read_artists(folder: Path) -> dict[str, str]:
    """song id -> artist from folder/index.csv (columns song_id and artist, POP909's layout); {} without."""
    import csv

    index = folder / "index.csv"
    if not index.is_file():
        return {}
    try:
        with index.open(encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return {row["song_id"].strip(): ARTIST_NAMES.get(row["artist"].strip(), row["artist"].strip())
            for row in rows if row.get("song_id") and row.get("artist")}


def load_scores(folder: str | Path, progress: bool = True) -> Corpus:
    """Scores of every MIDI file below folder (beat_midi.txt and chord_midi.txt used where present,
    artists from index.csv); broken ones skipped."""
    artists = read_artists(Path(folder))

    def add(corpus, name, path):
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            artist = artists.get(Path(name).parts[0], artists.get(path.stem, ""))
            score = load_score(path, name=name)
            form = read_form(path.with_name("human_label1.txt"))
            sections, why_not = aligned_sections(path.parent, score, form)
            if form and why_not:
                corpus.unaligned.append({"file": name, "reason": why_not})
            corpus.songs.append(Song(name, score=score, digest=digest, artist=artist, form=form, sections=sections))
        except (MidiError, OSError) as error:
            corpus.skipped.append({"file": name, "reason": str(error).split(": ", 1)[-1]})

    return read_folder(folder, add, progress)


def read_form(path: Path) -> str:
    """A song's form from POP909's human_label1.txt beside it ("" when there is none, or it does not read)."""
    from musicgen.steering import parse_form

    try:
        text = path.read_text(encoding="utf-8").strip()
        return text if parse_form(text) else ""
    except (OSError, UnicodeDecodeError, ValueError):
        return ""


def styles_of(songs: list[Song], min_songs: int) -> list[str]:
    """The artists with at least min_songs of songs, most songs first: the styles a model learns."""
    from collections import Counter

    counts = Counter(song.artist for song in songs if song.artist)
    return [artist for artist, count in counts.most_common() if count >= min_songs]


def load_corpus(folder: str | Path | None, config: Config, limit: int | None = None,
                progress: bool = True) -> Corpus:
    """The songs of folder (None: the Bach chorales) in the form the config's representation reads."""
    if scheme_for(config).whole_sequences:  # Scores, tokenized later
        if folder is None:
            return load_bach_chorales("all", config.frames_per_second, limit, progress, as_scores=True)
        return load_scores(folder, progress)
    if folder is None:
        return load_bach_chorales(config.tracks, config.frames_per_second, limit, progress)
    return load_midi_folder(folder, config.tracks, config.frames_per_second, progress)


def load_bach_chorales(tracks: str, frames_per_second: int, limit: int | None = None,
                       progress: bool = True, as_scores: bool = False) -> Corpus:
    """Bach's chorales from music21's bundled (public-domain) corpus, converted in memory."""
    from music21 import corpus as m21_corpus
    from music21.midi.translate import music21ObjectToMidiFile

    paths = sorted(m21_corpus.getComposer("bach"), key=lambda path: Path(path).name)[:limit]
    corpus = Corpus(source="music21 corpus: Bach chorales")

    def converter(path):
        def load():
            try:
                data = music21ObjectToMidiFile(m21_corpus.parse(path)).writestr()
            except Exception as error:  # music21 raises many kinds on odd scores
                raise MidiError(f"{Path(path).name}: music21 could not convert it ({error})") from None
            return load_midi(data, name=Path(path).name)
        return load

    for path in tqdm(paths, desc="converting chorales", unit="score", disable=not progress):
        if as_scores:
            try:
                corpus.songs.append(Song(Path(path).name, score=score_from_midi(converter(path)())))
            except MidiError as error:
                corpus.skipped.append({"file": Path(path).name, "reason": str(error)})
            continue
        _add_song(corpus, Path(path).name, converter(path), tracks, frames_per_second)
    return corpus


def prepared_tokens(tokens: list[str], config: Config) -> list[str]:
    """A song's tokens as the model sees them: moved to C major / A minor when the config says so."""
    return transpose(tokens, key_shift(tokens)) if config.key_normalize else tokens


def training_tokens(songs: list[Song], config: Config) -> list[list[str]]:
    """What the network trains on: each song prepared, and moved by every shift up to transpose_augment."""
    shifts = range(-config.transpose_augment, config.transpose_augment + 1)
    return [transpose(tokens, shift) for tokens in (prepared_tokens(song.tokens, config) for song in songs)
            for shift in shifts]


def split_by_song(songs: list[Song], validation_share: float, seed: int,
                  style_min_songs: int | None = None) -> tuple[list[Song], list[Song]]:
    """(train, validation): whole songs, shuffled by seed; at least one of each when possible.

    With style_min_songs, every artist with that many songs also has its share (rounded up) in
    validation, so that what a style token is worth can be measured on songs it never saw.
    """
    ordered = sorted(songs, key=lambda song: song.name)
    order = np.random.default_rng(seed).permutation(len(ordered))
    count = 0
    if len(ordered) >= 2 and validation_share > 0:
        count = min(max(1, round(validation_share * len(ordered))), len(ordered) - 1)
    held = set(order[:count].tolist())
    for artist in (styles_of(ordered, style_min_songs) if style_min_songs and count else []):
        theirs = [index for index in order.tolist() if ordered[index].artist == artist]  # in the seed's order
        wanted = int(np.ceil(validation_share * len(theirs)))
        for index in [i for i in theirs if i not in held][:max(0, wanted - len(held.intersection(theirs)))]:
            held.add(index)
    validation = [ordered[index] for index in sorted(held)]
    train = [ordered[index] for index in range(len(ordered)) if index not in held]
    return train, validation


def song_windows(ids: np.ndarray, seq_len: int, rest_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(windows, next ids): one window of seq_len frames per frame of the song, left-padded with rests."""
    padded = np.concatenate([np.full(seq_len, rest_id, dtype=np.int32), ids.astype(np.int32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded[:-1], seq_len)
    return windows, ids.astype(np.int32)


def windows_of(songs_ids: list[np.ndarray], seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = [song_windows(ids, seq_len) for ids in songs_ids]
    if not pairs:
        return np.zeros((0, seq_len), np.int32), np.zeros((0,), np.int32)
    return np.concatenate([w for w, _ in pairs]), np.concatenate([y for _, y in pairs])


def make_dataset(songs_ids: list[np.ndarray], seq_len: int, batch_size: int,
                 shuffle: bool, seed: int):
    """A tf.data pipeline of (window, next id) batches, built once and reshuffled each epoch."""
    import tensorflow as tf

    windows, targets = windows_of(songs_ids, seq_len)
    dataset = tf.data.Dataset.from_tensor_slices((windows, targets))
    if shuffle:
        dataset = dataset.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


# --- events: whole sequences ----------------------------------------------------------------

def prepared_ids(score: Score, representation, config: Config, style: str = "any", sections=None) -> np.ndarray:
    """A song's ids as the model sees them: moved to C major / A minor when the config says so,
    under its style when the representation is steerable and knows it, with its sections where
    the representation has section tokens."""
    score = score.transposed(score.key_shift()) if config.key_normalize else score
    return representation.encode(score, style if style in (representation.styles or ()) else "any", sections=sections)


def song_ids(songs: list[Song], representation, config: Config, progress: bool = False) -> list[np.ndarray]:
    """prepared_ids of every song, each under its artist's style."""
    from tqdm import tqdm

    return [prepared_ids(song.score, representation, config, song.artist or "any", song.sections)
            for song in tqdm(songs, desc="tokenizing", unit="song", disable=not progress)]


@dataclass
class Header:
    """A steerable sequence's first tokens (BOS, style, mode and, with start tokens, Start_opening):
    every training chunk starts with its song's, so each chunk knows what it is conditioned on; the
    style reads "any" with probability dropout (any_id), so that "any" is learned from every artist.
    With middle_id (Start_middle), a chunk cut from inside a song says so in its header's last
    token, and starts at a bar line (bar_id), as a piece sampled "from the middle" does."""

    length: int = 0
    any_id: int = -1
    dropout: float = 0.0
    middle_id: int = -1
    bar_id: int = -1


def training_header(representation, config: Config) -> Header:
    """The Header every training chunk of representation's songs starts with (none unless steerable)."""
    if not representation.steerable:
        return Header()
    middle = representation.start_ids("middle")  # [] without start tokens
    full_header = representation.header("any", "major", "middle")  # every song's header is this long
    return Header(len(full_header), representation.style_id("any"), config.style_dropout,
                  middle[0] if middle else -1, representation.grammar.bar_id)


def sequence_chunks(songs_ids: list[np.ndarray], chunk_tokens: int, rng: np.random.Generator | None,
                    transpositions: list[np.ndarray] | None = None, pad_id: int = 0, header: Header | None = None,
                    cut: list | None = None):
    """(inputs, targets, weights) arrays of chunks of chunk_tokens: every position predicts the next id.

    With rng, each song is moved by one random transposition table and cut from a random offset,
    so every epoch sees other chunk boundaries and keys; the padded tail of a song weighs 0.
    With a header, every chunk after a song's first starts with the song's header (the tokens
    right after it, read without their context, weigh 0), and with rng the style is dropped to
    "any" at header.dropout. cut, a list: (song index, where in it the chunk's body starts) is
    appended for each chunk, so that what goes with a song's tokens can be cut alike.
    """
    header = header or Header()
    body = chunk_tokens - header.length
    inputs, targets, weights = [], [], []
    for song, ids in enumerate(songs_ids):
        if rng is not None:
            if transpositions:
                ids = transpositions[rng.integers(len(transpositions))][ids]
            # The first chunk keeps the song's start (BOS); the rest follow a random offset.
            offset = int(rng.integers(1, body + 1))
            starts = [0, *range(offset, len(ids) - 1, body)]
        else:
            starts = [0, *range(chunk_tokens, len(ids) - 1, body)]
        if header.middle_id >= 0:
            starts = at_bar_lines(ids, starts, header)
        for start in starts:
            piece = ids[start:start + chunk_tokens + 1]
            if start and header.length:
                piece = np.concatenate([ids[:header.length], ids[start:start + body + 1]])
                if header.middle_id >= 0:
                    piece[header.length - 1] = header.middle_id
            if len(piece) < 2:
                continue
            if header.length and rng is not None and rng.random() < header.dropout:
                piece = piece.copy()
                piece[1] = header.any_id
            pad = chunk_tokens + 1 - len(piece)
            weight = np.ones(chunk_tokens, np.float32)
            if start and header.length:
                weight[:header.length] = 0.0
            if pad:
                piece = np.concatenate([piece, np.full(pad, pad_id, np.int32)])
                weight[chunk_tokens - pad:] = 0.0
            inputs.append(piece[:-1])
            targets.append(piece[1:])
            weights.append(weight)
            if cut is not None:
                cut.append((song, start))
    if not inputs:
        empty = np.zeros((0, chunk_tokens), np.int32)
        return empty, empty, np.zeros((0, chunk_tokens), np.float32)
    return np.stack(inputs).astype(np.int32), np.stack(targets).astype(np.int32), np.stack(weights)


def at_bar_lines(ids: np.ndarray, starts: list[int], header: Header) -> list[int]:
    """Each chunk start after the first moved back to the bar line at or before it, so a chunk
    from the middle opens on a Bar; never to the song's first bar, which is its opening."""
    bars = np.flatnonzero(ids == header.bar_id)
    inside = bars[bars > header.length]  # the first bar comes right after the header, at header.length
    if not len(inside):
        return starts[:1]
    moved = {int(inside[max(0, np.searchsorted(inside, start, side="right") - 1)]) for start in starts[1:]}
    return [starts[0], *sorted(moved)]


def make_sequence_dataset(songs_ids: list[np.ndarray], chunk_tokens: int, batch_size: int, seed: int,
                          transpositions: list[np.ndarray] | None = None, shuffle: bool = True,
                          header: Header | None = None, first_epoch: int = 0, skip_chunks: int = 0):
    """A tf.data pipeline of (chunk, next ids, weights); training chunks are re-cut and re-keyed each epoch.

    Each epoch's cut and order follow from seed and the epoch's number, so a resumed run that starts at
    first_epoch sees what an unbroken one would have; skip_chunks leaves out the first chunks of that
    first pass (those a run killed within the epoch had trained on)."""
    import tensorflow as tf

    epoch = [first_epoch]

    def chunks():
        rng = np.random.default_rng([seed, epoch[0]]) if shuffle else None
        skip = skip_chunks if epoch[0] == first_epoch else 0
        epoch[0] += 1
        inputs, targets, weights = sequence_chunks(songs_ids, chunk_tokens, rng, transpositions, header=header)
        order = rng.permutation(len(inputs)) if rng is not None else np.arange(len(inputs))
        for index in order[skip:]:
            yield inputs[index], targets[index], weights[index]

    spec = tf.TensorSpec((chunk_tokens,), tf.int32)
    dataset = tf.data.Dataset.from_generator(
        chunks, output_signature=(spec, spec, tf.TensorSpec((chunk_tokens,), tf.float32)))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


def training_digests(folder: Path) -> dict[str, str]:
    """{sha256: name} of the songs a model folder says it trained on ({} when it does not say)."""
    metrics = folder / "metrics.json"
    if not metrics.is_file():
        return {}
    songs = json.loads(metrics.read_text(encoding="utf-8")).get("dataset", {}).get("train_songs", [])
    return {song["sha256"]: song["name"] for song in songs if isinstance(song, dict) and song.get("sha256")}


def split_held_out(corpus: Corpus, trained_on: dict[str, str]) -> tuple[list, list]:
    """(songs the model never trained on, songs it did), by file hash."""
    held_out = [song for song in corpus.songs if song.digest not in trained_on]
    seen = [song for song in corpus.songs if song.digest in trained_on]
    return held_out, seen
