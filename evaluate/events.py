"""The report for an event model on songs it never trained on.

Likelihood: nats per token and nats per second of music (the summed token NLL over the songs'
seconds: comparable across token schemes) for the model as shipped (its memory setting) and
for the network alone, against interpolated n-grams of orders 1-5 on the same tokens, fitted on
the baseline songs, each also with the same piece memory. Listening: 60 s pieces generated
with the shipped defaults, from random and one-note primers, against the songs' 60 s segments
(evaluate.listening). Steerable models: the songs are read under one style token ("any" unless
asked), and `chord_tones` gives the chord-tone shares of pieces generated over a progression
and of free pieces scored against the same progression.
"""
from __future__ import annotations

import time

import numpy as np

from musicgen.generate import sample_scores
from musicgen.listening import in_c, segments, statistics
from musicgen.memory import PieceMemory
from musicgen.model import read_logits
from musicgen.calibration.echo import return_distances
from musicgen.schemes.events import piece_memory

from . import judge, listening
from .ngram import NGram, remembered
from train.data import prepared_ids

CHORD_TONE_PROGRESSION = ("C G Am F", "C major")  # what chord_tones asks for by default

NGRAM_ORDERS = (1, 2, 3, 4, 5)
# One draw of 64 pieces measures the classifier's AUC to a few hundredths (the shipped model,
# seeds 0-9: 0.745-0.853): the report's classifier_auc is the mean over this many draws.
CLASSIFIER_DRAWS = 5
# A memory tried beside the shipped setting, to decide whether the memory still pays for events.
MEMORY_CANDIDATE = {"orders": (1, 2, 4, 8, 16, 32), "smoothing": 100.0}


def network_log_probabilities(network, songs_ids: list[np.ndarray], batch: int = 8,
                              adjusts=(None,)) -> list[list[np.ndarray]]:
    """log p(ids[t] | ids[:t]) for t >= 1 of each song, the network reading the whole song once:
    one list per entry of adjusts, None for the network's own logits, else adjust(ids, logits)
    changing a copy of a song's logits first (the melody's interval bias)."""
    order = np.argsort([len(ids) for ids in songs_ids])
    out = [[None] * len(songs_ids) for _ in adjusts]
    for first in range(0, len(order), batch):
        chosen = order[first:first + batch]
        longest = max(len(songs_ids[i]) for i in chosen)
        inputs = np.zeros((len(chosen), longest - 1), np.int32)
        for row, index in enumerate(chosen):
            inputs[row, :len(songs_ids[index]) - 1] = songs_ids[index][:-1]
        read = read_logits(network, inputs)
        for variant, adjust in enumerate(adjusts):
            logits = read.copy() if adjust is not None else read
            for row, index in enumerate(chosen):
                if adjust is not None:
                    adjust(songs_ids[index], logits[row])
            logits = logits - logits.max(axis=2, keepdims=True)
            log_probabilities = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
            for row, index in enumerate(chosen):
                targets = songs_ids[index][1:]
                out[variant][index] = log_probabilities[row, np.arange(len(targets)), targets]
    return out


def with_memory(memory: PieceMemory | None, songs_ids, probabilities) -> list[np.ndarray]:
    if memory is None:
        return [np.asarray(p) for p in probabilities]
    return [remembered(memory, ids[1:], p) for ids, p in zip(songs_ids, probabilities)]


def with_repeats(music_model, songs_ids, probabilities) -> list[np.ndarray]:
    """The probabilities with the model's repeats (musicgen.calibration.repeats) taken in, when it has them."""
    repeats, bar_id = music_model.corrections.repeats, music_model.vocab.grammar.bar_id
    if repeats is None:
        return probabilities
    return [repeats.rescored(ids, p, bar_id) for ids, p in zip(songs_ids, probabilities)]


def music_only(events, songs_ids, probabilities) -> list[np.ndarray]:
    """Each song's token probabilities without its header's: a steerable model's style, mode and
    start tokens are what a person chooses, the condition the music is scored under, not part of it
    (scored, p(style) would charge a rare artist's songs for the artist's rarity)."""
    kinds = events.grammar.kind_of
    out = []
    for ids, p in zip(songs_ids, probabilities):
        header = 1  # BOS
        while header < len(ids) and kinds[ids[header]] in ("Style", "Mode", "Start"):
            header += 1
        out.append(np.asarray(p)[header - 1:])  # p[t] is the probability of ids[t + 1]
    return out


def nats(probabilities: list[np.ndarray], seconds: float) -> tuple[float, float]:
    """(nats per token, nats per second) of per-token probabilities."""
    flat = np.concatenate([np.asarray(p, np.float64) for p in probabilities])
    total = float(-np.log(np.maximum(flat, 1e-12)).sum())
    return total / max(len(flat), 1), total / max(seconds, 1e-9)


def real_openings(songs: list, seconds: float) -> tuple[list, list]:
    """(each song's first segment of about `seconds`, in C major / A minor; the song's name), for
    the songs at least that long."""
    openings = [(segments(song.score, seconds)[:1], song.name) for song in songs]
    return [in_c(first[0]) for first, _ in openings if first], [name for first, name in openings if first]


def later_segments(real: list, groups: list) -> tuple[list, list]:
    """(the segments of real_segments() that are not their song's first, the song of each)."""
    later = [index for index, group in enumerate(groups) if index and groups[index - 1] == group]
    return [real[index] for index in later], [groups[index] for index in later]


def real_segments(songs: list, seconds: float) -> tuple[list, list]:
    """(the songs' segments of about `seconds`, each in C major / A minor, the song each came from)."""
    real, groups = [], []
    for song in songs:
        for segment in segments(song.score, seconds):
            real.append(in_c(segment))
            groups.append(song.name)
    return real, groups


def styled_ids(music_model, songs: list, style: str = "any", sections: bool = False) -> list[np.ndarray]:
    """The songs' ids as the model reads them, under `style` when the model is steerable; with
    sections, each song's form written in (a model with section tokens; songs without an aligned
    form read none)."""
    events, config = music_model.vocab, music_model.config
    if events.steerable:
        events.style_id(style)  # an unknown style is named here
    return [prepared_ids(song.score, events, config, style, song.sections if sections else None) for song in songs]


def with_sections_nats_per_second(music_model, songs: list, seconds: float, style: str = "any") -> float:
    """The network's nats per second on the songs' notes when their forms are written in: the section
    tokens are read (a form given, like the header) but their own probabilities are not counted."""
    events = music_model.vocab
    ids = styled_ids(music_model, songs, style, sections=True)
    condition = np.isin(events.grammar.kind_of, ("Style", "Mode", "Start", "Section", "Bars"))
    probabilities = [np.exp(lp) for lp in network_log_probabilities(music_model.network, ids)[0]]
    music = [np.asarray(p)[~condition[np.asarray(song_ids[1:])]] for song_ids, p in zip(ids, probabilities)]
    return nats(music, seconds)[1]


def nats_per_second(music_model, songs: list, style: str = "any") -> float:
    """The network's summed NLL over the songs' seconds, each song read under `style`."""
    ids = styled_ids(music_model, songs, style)
    probabilities = [np.exp(lp) for lp in network_log_probabilities(music_model.network, ids)[0]]
    return nats(music_only(music_model.vocab, ids, probabilities), float(sum(song.score.seconds for song in songs)))[1]


def chord_tones(music_model, progression: str, key: str | None, pieces: int = 16, seconds: float = 60.0,
                seed: int = 0) -> dict:
    """Chord-tone shares by part (duration-weighted, against the chord at each onset) of pieces
    generated over the progression in key, and of free pieces in the same key scored against it."""
    from musicgen.chords import chord_tone_share, parse_progression, progression_rows
    from musicgen.generate import pieces_of, sample_draft
    from musicgen.request import LIBRARY, Request
    from musicgen.steering import Steering

    config = music_model.config
    report = {"progression": progression, "key": key, "pieces": pieces, "seconds": seconds}
    for name, steering in (("forced", Steering.parse(progression, key)), ("free", Steering.parse(None, key))):
        shares: dict[str, list] = {}
        for first in range(0, pieces, LIBRARY.max_variations):
            count = min(LIBRARY.max_variations, pieces - first)
            draft = sample_draft(music_model, Request.build(config, primer="random", seconds=seconds, seed=seed + first,
                                                            variations=count, steering=steering))
            for piece in pieces_of(music_model, draft):
                bars = int(np.ceil(piece.score.end_beats / 4)) + 1
                rows = progression_rows(parse_progression(progression), bars)
                for part, notes in piece.score.parts.items():
                    share = chord_tone_share(notes, rows)
                    if share is not None:
                        shares.setdefault(part, []).append((share, float((notes[:, 1] - notes[:, 0]).sum())))
        # Pooled by duration, as the songs' figures are.
        report[name] = {part: float(np.average([s for s, _ in rows], weights=[w for _, w in rows]))
                        for part, rows in shares.items()}
    return report


def evaluate(music_model, held_out: list, baseline: list | None, pieces: int = 64, seconds: float = 60.0,
             seed: int = 0, progress: bool = True, style: str = "any", classifier_draws: int = CLASSIFIER_DRAWS) -> dict:
    """The report (see the module docstring) for held-out Songs, n-grams fitted on baseline Songs;
    the songs read under `style` (steerable models); the classifier's AUC the mean over
    classifier_draws draws of `pieces` pieces (seeds seed, seed + 1, ...)."""
    config, events = music_model.config, music_model.vocab
    started = time.perf_counter()
    held_ids = styled_ids(music_model, held_out, style)
    held_seconds = float(sum(song.score.seconds for song in held_out))
    token_count = int(sum(len(ids) - 1 for ids in held_ids))
    report: dict = {"held_out_songs": len(held_out), "held_out_tokens": token_count,
                    "held_out_seconds": round(held_seconds, 1),
                    "held_out_names": [song.name for song in held_out], "style": style}

    generated, decoded_share = sample_scores(music_model, pieces, seconds, seed)
    if progress:
        print(f"generated {len(generated)} pieces ({time.perf_counter() - started:.0f} s)", flush=True)
    bias = music_model.corrections.melody  # the model as shipped: with its melody-interval bias, when it has one
    adjust = bias and (lambda ids, logits: bias.adjust(ids, logits, events.melody_program_id, events.pitch_of))
    read = network_log_probabilities(music_model.network, held_ids, adjusts=(None, adjust))
    network, shipped = ([np.exp(lp) for lp in variant] for variant in read)
    if progress:
        print(f"scored the network ({time.perf_counter() - started:.0f} s)", flush=True)
    shipped_memory = piece_memory(music_model)
    candidate = PieceMemory(MEMORY_CANDIDATE["orders"], MEMORY_CANDIDATE["smoothing"])

    def scored(probabilities):  # the music's tokens, the header (a condition) left out
        return nats(music_only(events, held_ids, probabilities), held_seconds)

    report["network_nats_per_token"], report["network_nats_per_second"] = scored(network)
    if events.sections:  # the same notes with the songs' forms written in (held-out songs whose form aligned)
        report["network_nats_per_second_with_sections"] = with_sections_nats_per_second(
            music_model, held_out, held_seconds, style)
    # As shipped: the melody bias, the piece's memory (the config's, else the echo), the bars played again.
    report["nats_per_token"], report["nats_per_second"] = scored(
        with_repeats(music_model, held_ids, with_memory(shipped_memory, held_ids, shipped)))
    if music_model.corrections.repeats is not None:
        _, report["without_repeats_nats_per_second"] = scored(with_memory(shipped_memory, held_ids, shipped))
    if music_model.corrections.echo is not None and not config.memory_orders:
        _, report["without_echo_nats_per_second"] = scored(with_repeats(music_model, held_ids, shipped))
    echo = music_model.corrections.echo
    if echo is not None and echo.returns is not None and not config.memory_orders:
        # As a piece playing a drawn form is sampled: each song's own form (where it aligned) recalled.
        bar_id = events.grammar.bar_id
        returns = [return_distances(song.sections or (), int(np.sum(ids == bar_id)))
                   for song, ids in zip(held_out, held_ids)]
        formed = [remembered(piece_memory(music_model, (), song_returns), ids[1:], p)
                  for song_returns, ids, p in zip(returns, held_ids, shipped)]
        _, report["with_forms_nats_per_second"] = scored(with_repeats(music_model, held_ids, formed))
    report["memory_candidate"] = {**MEMORY_CANDIDATE, "orders": list(MEMORY_CANDIDATE["orders"])}
    _, report["memory_candidate"]["nats_per_second"] = scored(
        with_repeats(music_model, held_ids, with_memory(candidate, held_ids, shipped)))

    if baseline:
        baseline_ids = [prepared_ids(song.score, events, config) for song in baseline]
        ngram = NGram(baseline_ids, len(events), max(NGRAM_ORDERS))
        if progress:
            print(f"fitted the n-grams on {len(baseline)} songs ({time.perf_counter() - started:.0f} s)", flush=True)
        report["ngram_songs"] = len(baseline)
        report["ngram_nats_per_second"], report["ngram_with_memory_nats_per_second"] = {}, {}
        memory = shipped_memory or candidate
        for order in NGRAM_ORDERS:
            plain = [np.asarray(ngram.target_probabilities(ids, order)[1:]) for ids in held_ids]
            report["ngram_nats_per_second"][order] = scored(plain)[1]
            report["ngram_with_memory_nats_per_second"][order] = scored(with_memory(memory, held_ids, plain))[1]
        best = min(report["ngram_nats_per_second"].values())
        best_remembering = min(report["ngram_with_memory_nats_per_second"].values())
        report["vs_best_ngram"] = report["nats_per_second"] / best
        report["vs_best_ngram_with_memory"] = report["nats_per_second"] / best_remembering
    else:
        report["ngram_note"] = ("the model's training songs are not at hand (give --baseline-data): "
                                "no n-gram baselines")

    generated = [in_c(score) for score in generated]
    real, groups = real_segments(held_out, seconds)
    report["listening"] = listening.compare(generated, real, groups, decoded_share)
    report["listening"].update(seconds=seconds, seed=seed, temperature=config.temperature, top_p=config.top_p,
                               candidates=music_model.corrections.likeness.candidates if music_model.corrections.likeness else 1)
    report["listening"].update(classifier_over_draws(music_model, generated, held_out, real, groups, pieces,
                                                     seconds, seed, classifier_draws))
    # The judge the sampler never selects on (evaluate/judge.py): 8-bar stretches against the songs' own.
    songs = [song.score for song in held_out]
    report["listening"]["independent_judge_auc"] = judge.auc(generated, songs, [song.name for song in held_out], seed)
    # Sections that come back, and the tune early (issue 29's targets: docs/measurements/form.md).
    report["listening"]["melody_repeat"] = {
        str(distance): {"generated": judge.melody_repeat(generated, distance),
                        "songs": judge.melody_repeat(songs, distance)}
        for distance in (4, 8)}
    report["listening"]["melody_in_4_bars_share"] = judge.melody_within(generated, 4)
    # The same songs as the tokens can write them (onsets and lengths on sixteenths): what is
    # left of the difference is the model's, not the grid's.
    on_grid = [events.decode(events.encode(segment), segment.tempo_bpm) for segment in real]
    report["listening_vs_grid"] = listening.compare(generated, on_grid, groups, decoded_share)
    if events.steerable:
        report["chord_tones"] = chord_tones(music_model, *CHORD_TONE_PROGRESSION, pieces=max(4, pieces // 4),
                                            seconds=seconds, seed=seed)
    report["seconds_to_evaluate"] = round(time.perf_counter() - started, 1)
    return report


def classifier_over_draws(music_model, generated: list, songs: list, real: list, groups: list, pieces: int,
                          seconds: float, seed: int, draws: int) -> dict:
    """The classifier's AUC over `draws` draws of pieces (the first is `generated`), against the
    songs' segments and against the songs' openings, and the AUC of the songs' own openings, and
    of their other segments, against all their segments.

    A song's first 60 s (an intro, often without the melody) is easy to tell from its other
    segments: POP909's held-out openings against the segments of the other held-out songs score
    0.69-0.79 (five splits). So against every segment even a model whose pieces were exactly song
    openings would score about that (`songs_openings_auc`), and one whose pieces were exactly
    the songs' later segments `songs_middles_auc`; `classifier_auc_against_openings` compares
    pieces begun as songs begin with song openings.
    """
    real_stats, real_groups = statistics(real, groups)
    openings, names = real_openings(songs, seconds)
    opening_stats, opening_names = statistics(openings, names)
    against_segments, against_openings = [], []
    for draw in range(max(1, draws)):
        scores = generated if draw == 0 else [in_c(score) for score in
                                              sample_scores(music_model, pieces, seconds, seed + draw)[0]]
        pieces_stats, _ = statistics(scores)
        against_segments.append(listening.two_sample_auc(pieces_stats, real_stats, real_groups))
        against_openings.append(listening.two_sample_auc(pieces_stats, opening_stats, opening_names))
    return {"classifier_auc": float(np.mean(against_segments)), "classifier_auc_by_draw": against_segments,
            "classifier_auc_against_openings": float(np.mean(against_openings)),
            "songs_openings_auc": listening.songs_segments_auc(openings, names, real, groups, seed),
            "songs_middles_auc": listening.songs_segments_auc(*later_segments(real, groups), real, groups, seed)}


def summary(report: dict) -> str:
    lines = [f"{report['held_out_songs']} held-out songs, {report['held_out_tokens']} tokens, "
             f"{report['held_out_seconds'] / 3600:.2f} hours",
             f"model as shipped: {report['nats_per_second']:.3f} nats/s ({report['nats_per_token']:.3f} nats/token); "
             + (f"without its repeats {report['without_repeats_nats_per_second']:.3f}; "
                if "without_repeats_nats_per_second" in report else "")
             + (f"without its echo {report['without_echo_nats_per_second']:.3f}; "
                if "without_echo_nats_per_second" in report else "")
             + (f"with each song's own form recalled {report['with_forms_nats_per_second']:.3f}; "
                if "with_forms_nats_per_second" in report else "")
             + f"network alone {report['network_nats_per_second']:.3f} nats/s"
             + (f" ({report['network_nats_per_second_with_sections']:.3f} with the songs' sections written in)"
                if "network_nats_per_second_with_sections" in report else "") + "; "
             f"with memory {report['memory_candidate']['orders']}: {report['memory_candidate']['nats_per_second']:.3f}"]
    if "ngram_nats_per_second" in report:
        lines.append("n-grams (nats/s): " + ", ".join(f"{k}: {v:.3f}" for k, v in report["ngram_nats_per_second"].items()))
        lines.append("n-grams + memory: " + ", ".join(
            f"{k}: {v:.3f}" for k, v in report["ngram_with_memory_nats_per_second"].items()))
        lines.append(f"model / best n-gram {report['vs_best_ngram']:.3f}; "
                     f"/ best n-gram with memory {report['vs_best_ngram_with_memory']:.3f}")
    else:
        lines.append(report["ngram_note"])
    heard = report["listening"]
    for key in heard["generated"]:
        lines.append(f"  {key:30s} generated {heard['generated'][key]:.3f}   real {heard['real'].get(key, float('nan')):.3f}")
    lines.append("  overlaps: " + ", ".join(f"{k} {v:.2f}" for k, v in heard["overlap"].items()))
    lines.append(f"  decoded {heard['decoded_share']:.0%}; classifier AUC {heard['classifier_auc']:.3f} "
                 f"({heard['generated_pieces']} pieces vs {heard['real_segments']} real segments; by draw "
                 + " ".join(f"{auc:.3f}" for auc in heard.get("classifier_auc_by_draw", [])) + ")")
    if "classifier_auc_against_openings" in heard:
        lines.append(f"  against the songs' openings: classifier AUC {heard['classifier_auc_against_openings']:.3f}; "
                     f"the songs' own openings against the other songs' segments {heard['songs_openings_auc']:.3f}"
                     + (f", their later segments {heard['songs_middles_auc']:.3f}" if "songs_middles_auc" in heard else ""))
    if "independent_judge_auc" in heard:
        lines.append(f"  independent judge (never selected on), AUC {heard['independent_judge_auc']:.3f}")
    if "melody_repeat" in heard:
        lines.append("  melody bars back " + ", ".join(
            f"{distance} bars later {pair['generated']:.3f} (songs {pair['songs']:.3f})"
            for distance, pair in heard["melody_repeat"].items())
            + f"; pieces with a melody in their first 4 bars {heard['melody_in_4_bars_share']:.0%}")
    if "chord_tones" in report:
        tones = report["chord_tones"]
        lines.append(f"  chord tones over {tones['progression']} ({tones['key']}): forced "
                     + ", ".join(f"{k} {v:.2f}" for k, v in tones["forced"].items()) + "; free "
                     + ", ".join(f"{k} {v:.2f}" for k, v in tones["free"].items()))
    if "listening_vs_grid" in report:
        grid = report["listening_vs_grid"]
        lines.append(f"  against the songs on the sixteenth grid: smallest overlap {grid['min_overlap']:.2f}, "
                     f"classifier AUC {grid['classifier_auc']:.3f}")
    return "\n".join(lines)
