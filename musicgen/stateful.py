"""Stateful sampling of event tokens: the network's state carried, one step per token, grammar-masked.

The network steps in NumPy (musicgen.steps). The primer is read once; every variation then goes on
from the same state with its own random stream. What happens between the steps (the grammar's
mask, the draw, the bookkeeping) runs as small compiled loops (numba): as a dozen NumPy calls
each, it cost more than the matrix products themselves (docs/measurements/speed.md). Around the
draws: forced tokens (a person's chords, a form's sections, a given melody), bars played again,
the piece's echo of itself, openings without a tune drawn again.

`sample()` is a pure function: the same network, primer, settings and seed give the same ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from . import steps
from .calibration.melody import last_melody_pitch
from .calibration.repeats import bars_of
from .representations.events import STYLE_POSITION
from .sampling import choose_rows, per_row
from .steps import StepWeights, read


@numba.njit(cache=True, nogil=True)
def _masked_weights(logits, offsets, grammar_states, out):
    """out[row] = exp(logits[row] + offsets[state of row] - its max): the unnormalized
    probabilities of the ids the grammar allows (0 elsewhere), in one pass instead of five."""
    for row in range(logits.shape[0]):
        offset = offsets[grammar_states[row]]
        top = -np.inf
        for index in range(logits.shape[1]):
            top = max(top, logits[row, index] + offset[index])
        for index in range(logits.shape[1]):
            out[row, index] = np.exp(np.float64(logits[row, index] + offset[index] - top))


@numba.njit(cache=True, nogil=True)
def _advance(chosen, active, bars_so_far, bars, output, lengths, limits, grammar_states, transitions, complete,
             bar_id, opened_bar, pitch_of, melody_program_id, last_melody, melody_next):
    """Each active row takes its chosen id: a row ends where its next bar would open (so every
    piece ends on a bar line), or past its cap at the next complete note (a cut note would not
    decode). Updates the arrays in place; opened_bar says which rows began a bar; last_melody
    and melody_next follow each row's melody (its last melody pitch; whether a melody pitch comes
    next). Returns whether any row goes on, whether any row's next token is a melody pitch, and
    whether any row began a bar."""
    going_on = False
    melody_comes = False
    bar_begun = False
    for row in range(chosen.shape[0]):
        opened_bar[row] = False
        if not active[row]:
            melody_next[row] = False
            continue
        if melody_next[row] and pitch_of[chosen[row]] >= 0:
            last_melody[row] = pitch_of[chosen[row]]
        melody_next[row] = chosen[row] == melody_program_id
        if chosen[row] == bar_id:
            if bars_so_far[row] >= bars[row]:
                active[row] = False
                continue
            bars_so_far[row] += 1
            opened_bar[row] = True
            bar_begun = True
        output[row, lengths[row]] = chosen[row]
        lengths[row] += 1
        grammar_states[row] = transitions[grammar_states[row], chosen[row]]
        if lengths[row] >= limits[row] and complete[grammar_states[row]]:
            active[row] = False
        going_on = going_on or active[row]
        melody_comes = melody_comes or (active[row] and melody_next[row])
    return going_on, melody_comes, bar_begun


def warm_up() -> None:
    """Compile the loops above and the step's (or load them from numba's disk cache) on tiny
    arrays: the first piece on a new machine would otherwise wait a few seconds for the compiler."""
    rows, vocab = 1, 2
    logits, offsets = np.zeros((rows, vocab), np.float32), np.zeros((1, vocab), np.float32)
    grammar_states, weights_of_ids = np.zeros(rows, np.int64), np.empty((rows, vocab))
    _masked_weights(logits, offsets, grammar_states, weights_of_ids)
    chosen = np.empty(rows, np.int64)
    choose_rows(weights_of_ids, np.ones(rows), np.zeros(rows, np.int64), np.ones(rows), np.zeros(rows), chosen)
    _advance(chosen, np.ones(rows, bool), np.zeros(rows, np.int64), np.ones(rows, np.int64),
             np.zeros((rows, 4), np.int32), np.zeros(rows, np.int64), np.ones(rows, np.int64), grammar_states,
             np.zeros((1, vocab), np.int32), np.ones(1, bool), 1, np.zeros(rows, bool), np.full(vocab, -1, np.int64),
             -1, np.full(rows, -1, np.int64), np.zeros(rows, bool))
    steps.warm_up()


DRAW = -1  # in Forcing.opening: a token to draw rather than force
# How many times an opening without a tune is drawn again (sample's melody_by_bar): from a random
# start a quarter of openings have a melody in 4 bars; 8 more tries left 4% without (form.md).
MELODY_REDRAWS = 8


@dataclass
class Forcing:
    """Tokens a person's choices fix, fed in place of a draw (a steerable model's header, a note
    primer's first note, a chord progression); everything else is sampled."""

    opening: list[int] = field(default_factory=list)  # ids (or DRAW) right after the primer
    bar_chords: list[int] = field(default_factory=list)  # chord ids, one a bar of the piece, repeating
    position0_id: int = -1  # Position_0: where a bar's chord is written
    # A chord id for each bar of a form (-1: the network's), in place of bar_chords' repeating.
    chords_by_bar: list[int] | None = None

    def chord_of(self, piece_bar: int) -> int:
        """The chord forced at a bar of the piece, or -1 for none."""
        if self.chords_by_bar is not None:
            return self.chords_by_bar[piece_bar] if piece_bar < len(self.chords_by_bar) else -1
        return self.bar_chords[piece_bar % len(self.bar_chords)] if self.bar_chords else -1

    @property
    def forces_chords(self) -> bool:
        return bool(self.bar_chords) or (self.chords_by_bar is not None and max(self.chords_by_bar) >= 0)

    def after_bar(self, piece_bar: int, queue: list[int]) -> list[int]:
        """The queue once a bar line is read: Position_0 and the bar's chord first."""
        chord = self.chord_of(piece_bar)
        if chord < 0:
            return queue
        rest = queue[1:] if queue and queue[0] == self.position0_id else queue
        rest = rest[1:] if rest and rest[0] == DRAW else rest  # the bar's chord, drawn: now forced
        return [self.position0_id, chord, *rest]


class Uniforms:
    """Each row's own stream of uniform numbers, drawn a block at a time (the same numbers, in the
    same order, as one draw per step)."""

    BLOCK = 1024

    def __init__(self, streams):
        self.streams, self.used = streams, self.BLOCK

    def next(self) -> np.ndarray:
        if self.used == self.BLOCK:
            self.block = np.stack([stream.random(self.BLOCK) for stream in self.streams])
            self.used = 0
        self.used += 1
        return self.block[:, self.used - 1]


class BarCopies:
    """Which earlier bar each row plays again (musicgen.calibration.repeats): the primer's complete bars (a
    piece that is continued may play its beginning again, a MIDI file's bars come back), each
    row's bars since (where each begins in its output), the distance its last bar copied, and
    its own stream of draws."""

    def __init__(self, repeats, rows: int, seed: int, primer: np.ndarray, bar_id: int, chords: int,
                 sections=None, melody_first=None, copy_returns: bool = True):
        # A form (musicgen.steering.Sections): a returning section plays its first time's bars again
        # (copy_returns; else the piece's memory recalls them); other copies stay inside their
        # section, and an outro's last bar is its own.
        self.repeats, self.chords, self.sections = repeats, chords, sections
        self.form_distances = sections.copy_distances() if sections is not None and copy_returns else None
        self.section_start = ([start for start, (_, bars) in zip([s for s, _ in sections.starts()], sections.form)
                               for _ in range(bars)] if sections is not None else None)
        opened = len(primer) > 0 and primer[-1] == bar_id  # else its last bar goes on in the output
        self.primer_bars = [list(bar) for bar in bars_of(primer, bar_id)] if opened else []
        self.starts: list[list[int]] = [[] for _ in range(rows)]
        self.copying = [0] * rows
        self.streams = [np.random.default_rng([seed, row, 5]) for row in range(rows)]
        # melody_first (its grammar): a returning section replays its melody only, and a copied bar
        # leaves out the section tokens it opened with.
        self.melody_first = melody_first

    def opened(self, row: int, output: np.ndarray, length: int) -> list[int]:
        """The tokens that the bar the row just opened (at output[length]) copies, up to and with
        the bar line after them; [] when it copies none."""
        starts = self.starts[row]
        starts.append(length)
        before = len(self.primer_bars) + len(starts) - 1  # complete bars behind this one
        piece_bar = len(starts) - 1
        if self.form_distances is not None and piece_bar < len(self.form_distances) and self.form_distances[piece_bar]:
            distance = self.form_distances[piece_bar]  # a returning section: its first time's bar
        elif self.repeats is None:
            distance = 0
        else:
            distance = self.repeats.next_copy(self.streams[row], before, self.copying[row])
            if distance and self.chords and distance % self.chords:
                distance = 0  # under a progression of that many chords, only a bar under the same chord
            if distance and self.section_start is not None and (
                    piece_bar >= len(self.section_start) or piece_bar - distance < self.section_start[piece_bar]
                    or (piece_bar == len(self.section_start) - 1 and self.sections.form[-1][0] == "o")):
                distance = 0
        self.copying[row] = distance
        if not distance:
            return []
        if distance >= len(starts):  # a bar of the primer
            copied = list(self.primer_bars[before - distance])
        else:
            copied = output[starts[-1 - distance]:starts[-distance]].tolist()
        if self.melody_first is None:
            return copied
        grammar = self.melody_first
        copied = [token for token in copied if not (grammar.is_section[token] or grammar.is_bars[token])]
        if self.form_distances is not None and piece_bar < len(self.form_distances) and self.form_distances[piece_bar]:
            first_chord = next((index for index, token in enumerate(copied) if grammar.is_chord[token]), len(copied))
            return copied[:first_chord]  # a returning section's bar: its melody, up to the bar's chord
        return copied


def sample(weights: StepWeights, grammar, primer, bars, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, seed: int = 0, bars_in_primer: int = 0, max_tokens_per_bar: int = 160,
           memory=None, forcing: Forcing | None = None, refit=None, melody=None, repeats=None,
           sections=None, melody_program: int = -1, melody_by_bar: int = 0,
           section_ids: list[list[int]] | None = None,
           melody_bars: list[list[int]] | None = None) -> list[np.ndarray]:
    """One id array per entry of `bars`: tokens after primer until that many bars are complete.

    A row stops when it would open bar bars[row] + 1 (so every piece ends on a bar line), or
    after max_tokens_per_bar tokens a bar. bars_in_primer counts the primer's bars that belong
    to the piece. Only tokens the grammar allows are drawn, so every row decodes.
    With a memory (musicgen.memory.PieceMemory), each row also recalls its own piece.
    With a forcing, its tokens replace the draws where it says (a forced progression also
    keeps the model from writing chords of its own).
    refit, (k, function): once a row has written k bars of the piece, function(row, its ids so
    far) gives its number of bars instead (at least k + 1, and at most bars[row]).
    melody, (MelodyIntervals, melody program id, each id's pitch or -1): where a row's next token
    is a melody pitch, the bias for its interval from the row's last melody note joins the logits.
    melody_by_bar: a row that has written no melody note (melody_program) by the end of that bar
    (1-based) is drawn again from the primer, its stream of draws going on, up to MELODY_REDRAWS
    times (then it goes on as drawn). 0: off. The network's own openings are kept as they come, only
    those without a tune are thrown away (a GRU's rows only: an attention network's share one clock).
    sections (musicgen.steering.Sections): a form; each bar of a returning section plays its first
    time's bar again (unless the memory recalls it: Recall.recalls_returns), and no melody note
    (melody_program) is drawn in a section without a melody.
    repeats (musicgen.calibration.repeats.Repeats): at each bar line a row may copy one of its own earlier
    bars, its tokens fed in place of draws (with a forced progression, only a bar under the
    same chord).
    A melody-first grammar (musicgen.representations.events.MelodyFirstGrammar) changes three things:
    a forced chord is the only chord the row may write where its bar's chord comes (with the
    probability of all chords there); section_ids[bar] (a form's Section and Bars tokens) are fed
    after the bar line where a section begins; and a returning section replays only its first
    time's melody, the network writing the chords and accompaniment under it again. melody_bars
    (melody-first only): the tokens of each bar's melody, fed after its bar line, the network
    writing no other melody (an accompaniment of a given tune).
    """
    bars = np.array(bars, np.int64)
    rows = len(bars)
    primer = np.asarray(primer, np.int64)
    table = grammar.compiled()
    states = read(weights, primer)[1]
    states = [np.repeat(state, rows, axis=0) for state in states]
    # The style every step reads (StyleEveryStep): the primer's, or the first token drawn after it.
    style = weights.style_in(primer)
    style_comes = style is None and weights.style_inputs is not None and len(primer) == STYLE_POSITION
    grammar_states = np.full(rows, table.state_of(grammar.state_after(primer)), np.int64)
    memories = [memory.copy() for _ in range(rows)] if memory is not None else None
    uniforms = Uniforms([np.random.default_rng([seed, row]) for row in range(rows)])
    settings = [per_row(value, rows, dtype) for value, dtype in
                ((temperature, np.float64), (top_k, np.int64), (top_p, np.float64))]
    bars_so_far = np.full(rows, bars_in_primer)
    limits = bars * max_tokens_per_bar + 32
    output = np.zeros((rows, int(limits.max()) + 64), np.int32)
    lengths = np.zeros(rows, np.int64)
    active = np.ones(rows, bool)
    forcing = forcing or Forcing()
    queues = [list(forcing.opening) for _ in range(rows)]
    primer_opened_bar = table.states[grammar_states[0]][0] == "Bar"
    allowed = table.masks
    melody_first = grammar.melody_first
    chord_wanted = np.full(rows, -1, np.int64)  # melody first: the chord each row's bar must take
    copies = (BarCopies(repeats, rows, seed, primer, grammar.bar_id, len(forcing.bar_chords), sections,
                        melody_first=grammar if melody_first else None,
                        copy_returns=not getattr(memory, "recalls_returns", False))
              if repeats or sections is not None else None)
    # Bars of a form's sections without a melody (intro, bridge, outro): no melody note is drawn there.
    silent = np.array(sections.without_melody() + [False], bool) if sections is not None else None
    if melody_bars is not None:
        silent = np.ones(len(melody_bars) + 1, bool)  # the melody is the one given
    if section_ids is not None:  # the form's sections only, where it puts them
        allowed = allowed & ~grammar.is_section[None, :]  # (Bars only ever follows a Section)

    def bar_opened(row: int, piece_bar: int, queue: list[int]) -> list[int]:
        """What a row's queue holds once it has read the bar line opening piece_bar."""
        if forcing.forces_chords:
            if melody_first:
                chord_wanted[row] = forcing.chord_of(piece_bar)
            else:
                queue = forcing.after_bar(piece_bar, queue)
        if copies is not None:
            queue = copies.opened(row, output[row], int(lengths[row])) or queue
        if melody_first:
            given = melody_bars[piece_bar] if melody_bars is not None and piece_bar < len(melody_bars) else []
            opening = section_ids[piece_bar] if section_ids is not None and piece_bar < len(section_ids) else []
            queue = [*opening, *given, *queue]
        return queue

    if primer_opened_bar:  # the primer opened the piece's bar
        queues = [bar_opened(row, bars_in_primer - 1, queue) for row, queue in enumerate(queues)]
    # Each grammar state's additive mask, the output bias folded in (-inf where an id is not allowed).
    if forcing.bar_chords:  # the person's chords only (forced at each bar's start)
        allowed = allowed & (~grammar.is_chord[None, :] | table.bar_start[:, None])
    offsets = np.where(allowed, weights.dense[1][None, :], -np.inf).astype(np.float32)
    weights_of_ids = np.empty((rows, weights.vocab_size))
    chosen = np.empty(rows, np.int64)
    opened_bar = np.zeros(rows, bool)
    # Each row's melody, followed by _advance: its last melody pitch, and whether one comes next.
    intervals, melody_program_id, pitch_of = melody or (None, -1, np.full(weights.vocab_size, -1))
    pitch_of = np.asarray(pitch_of, np.int64)
    last_melody = np.full(rows, last_melody_pitch(primer, melody_program_id, pitch_of) if melody else -1, np.int64)
    melody_next = np.full(rows, len(primer) > 0 and primer[-1] == melody_program_id)
    melody_comes = melody is not None and bool(melody_next.any())
    melody_offsets: dict[int, np.ndarray] = {}  # by the previous melody pitch
    # Rows drawn again from the primer when their opening has no tune (melody_by_bar).
    redrawing = bool(melody_by_bar) and isinstance(weights, StepWeights)
    heard = np.zeros(rows, bool) if redrawing else None  # rows whose melody has come in
    listening = redrawing  # while some row's melody has not come in
    # Rows in a bar without a melody: they change only where a bar opens (or a row begins again).
    silencing = silent is not None and melody_program >= 0

    def quiet_rows() -> np.ndarray:
        return silent[np.minimum(np.maximum(bars_so_far - 1, 0), len(silent) - 1)]

    quiet = quiet_rows() if silencing else None
    any_quiet = silencing and bool(quiet.any())
    if redrawing:
        first = ([state.copy() for state in states], grammar_states.copy(), bars.copy(), last_melody.copy(), melody_next.copy(),
                 [list(queue) for queue in queues], [list(starts) for starts in copies.starts] if copies else None)
        redraws = np.zeros(rows, np.int64)
    while True:
        logits = weights.output(states[-1])
        if any_quiet and melody_first:  # in the bar's melody half, once its given tokens are fed: on to the chord
            melody_half = quiet & table.melody_half[grammar_states] & np.array([not queue for queue in queues])
            logits[np.ix_(melody_half, grammar.is_position)] = -np.inf
            logits[melody_half, melody_program] = -np.inf
        elif any_quiet:
            logits[quiet, melody_program] = -np.inf
        if melody_first and forcing.forces_chords:
            for row in np.flatnonzero((chord_wanted >= 0) & table.bar_start[grammar_states] & active):
                chords = logits[row, grammar.is_chord]
                all_chords = chords.max() + np.log(np.exp(chords - chords.max()).sum())
                logits[row, grammar.is_chord] = -np.inf
                logits[row, chord_wanted[row]] = all_chords
        if melody_comes and intervals is not None:  # a few tokens a second
            for row in np.flatnonzero(melody_next & (last_melody >= 0)):
                previous = int(last_melody[row])
                if previous not in melody_offsets:
                    melody_offsets[previous] = intervals.offsets(previous, pitch_of)
                logits[row] += melody_offsets[previous]
        _masked_weights(logits, offsets, grammar_states, weights_of_ids)  # unnormalized probabilities
        if memories is not None:  # (choose_rows normalizes what it is given)
            for row in range(rows):  # (a loop over a row or a few costs less than flatnonzero)
                if active[row]:
                    memories[row].mix_weights(weights_of_ids[row])
        choose_rows(weights_of_ids, *settings, uniforms.next(), chosen)
        for row, queue in enumerate(queues):  # forced tokens: a few rows, a few times a bar
            if queue and active[row]:
                forced = queue.pop(0)
                chosen[row] = chosen[row] if forced == DRAW else forced
        written = lengths.copy() if memories is not None else None
        going_on, melody_comes, bar_begun = _advance(
            chosen, active, bars_so_far, bars, output, lengths, limits, grammar_states, table.transitions,
            table.complete, grammar.bar_id, opened_bar, pitch_of, melody_program_id, last_melody, melody_next)
        if memories is not None:
            for row in range(rows):
                if lengths[row] > written[row]:
                    memories[row].add(int(chosen[row]))
        drawn_again = []
        if listening:
            heard |= chosen == melody_program
            listening = not heard.all()
        if bar_begun:  # a few rows, once a bar: its chord, a bar played again, the refit after bar k
            for row in np.flatnonzero(opened_bar):
                if (heard is not None and not heard[row] and bars_so_far[row] == bars_in_primer + melody_by_bar + 1
                        and redraws[row] < MELODY_REDRAWS):
                    drawn_again.append(row)  # an opening without a tune: the row begins again
                    continue
                queues[row] = bar_opened(row, int(bars_so_far[row]) - 1, queues[row])
                if refit is not None and bars_so_far[row] == refit[0] + 1:
                    fitted = refit[1](row, np.concatenate([primer, output[row, :lengths[row] - 1]]))
                    bars[row] = min(bars[row], max(refit[0] + 1, fitted))
        if not going_on:
            break
        if style_comes:  # the token about to be read is the style
            style, style_comes = weights.style_of(chosen), False
        states = weights.hidden_step(chosen, states, style)
        for row in drawn_again:  # back to where the primer left it, its stream of draws going on
            first_states, first_grammar, first_bars, first_melody, first_next, first_queues, first_starts = first
            for state, at_start in zip(states, first_states):
                state[row] = at_start[row]
            grammar_states[row], bars[row] = first_grammar[row], first_bars[row]
            last_melody[row], melody_next[row] = first_melody[row], first_next[row]
            queues[row] = list(first_queues[row])
            lengths[row], bars_so_far[row], redraws[row] = 0, bars_in_primer, redraws[row] + 1
            if memories is not None:
                memories[row] = memory.copy()
            if copies is not None:
                copies.starts[row], copies.copying[row] = list(first_starts[row]), 0
        if silencing and (bar_begun or drawn_again):
            quiet = quiet_rows()
            any_quiet = bool(quiet.any())
    return [output[row, :lengths[row]].copy() for row in range(rows)]


@dataclass
class MelodyPlan:
    """A given melody as the tokens it takes, bar by bar: notes[bar] is a list of (position, the
    note's Program, Pitch, Velocity, Duration ids, its pitch, its length in beats), in the order the
    tokens write them."""

    notes: list[list[tuple[int, list[int], int, float]]]

    @property
    def bars(self) -> int:
        return len(self.notes)


CHORD_CANDIDATES = 6  # chords weighed where none is given: the network's likeliest there
HALF_BAR = 8  # where a bar's second chord may come (sixteenths): POP909's chords change every 2 beats as often as not
# A position the network moves to where the tune has no note: it may have moved there for a melody
# note of its own, which it may not write. Such a move is kept with the chance that the network
# writes something else there (one step ahead), else drawn again: the accompaniment then plays where
# the network would put it, not where it expected a melody. docs/measurements/accompaniment.md.
MELODY_LOOKAHEAD = True
LOOKAHEAD_TRIES = 8


def sample_under_melody(weights: StepWeights, grammar, primer, plan: MelodyPlan, chord_ids: list[int] | None = None,
                        temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
                        melody_program_id: int = -1, chord_tones: np.ndarray | None = None,
                        max_tokens_per_bar: int = 200, memory=None) -> np.ndarray:
    """The ids after primer of plan.bars bars in which the melody is plan's, note for note, and the
    rest (the accompaniment, the chords) is the network's.

    Every token is drawn as in sample(), but the melody is fed, never drawn: the music may not pass
    the next melody note (what the network gives to passing it goes to reaching it), a bar may not
    end before its melody is written, and a melody Program comes only where a note is due, its
    Pitch, Velocity and Duration fed after it; a move to a position where the tune has no note is
    kept with the chance that the network writes no melody note there (MELODY_LOOKAHEAD).
    Chords: chord_ids, one a half bar (repeating), when given; else, at each bar line and again at
    its half, the chord that the melody of that half makes likeliest (likeliest_chord). A half
    bar's chord is written only where it changes.
    With a memory (the echo, musicgen.calibration.echo), what it recalls is blended into each draw
    as in sample(): the piano of a bar that comes back may play as it did.
    A pure function of its arguments, like sample().
    """
    primer = np.asarray(primer, np.int64)
    logits, states = read(weights, primer)
    style = weights.style_in(primer)
    state = grammar.state_after(primer)
    rng = np.random.default_rng([seed, 0])
    memory = memory.copy() if memory is not None else None
    position_ids, bar_id = grammar.position_ids, grammar.bar_id
    everything = np.arange(len(grammar.kinds))
    out: list[int] = []
    bar, queue, stops, written_in_bar, bar_chord, half_chord = -1, [], [], 0, -1, -1

    def feed(token_id: int, stepped=None):
        nonlocal logits, states, state
        out.append(int(token_id))
        if memory is not None:
            memory.add(int(token_id))
        state = grammar.advance(state, int(token_id))
        logits, states = stepped or weights.step(np.array([token_id]), states, style)

    while True:
        ahead = None  # the network's step on the drawn position, when it looked ahead there
        if queue:
            chosen = queue.pop(0)
        else:
            allowed = grammar.allowed(state) & ~grammar.is_chord  # chords are fed, never drawn
            position = state[1]
            passing, target = np.zeros_like(allowed), -1
            if stops:  # the next melody note (or the half bar's chord): go no further, and write it there
                stop_position = stops[0][0]
                passing = allowed & ((grammar.is_position & (grammar.positions > stop_position)) | (everything == bar_id))
                target = position_ids[stop_position]
                if position == stop_position:  # standing on it: only the note itself
                    passing |= allowed & grammar.is_position
                    target = melody_program_id
            if not (stops and stops[0][1] is not None and stops[0][0] == position):
                allowed[melody_program_id] = False
            moving_on = allowed & (grammar.is_position | (everything == bar_id))
            if written_in_bar > max_tokens_per_bar and moving_on.any():  # a runaway bar: no more notes in it
                allowed &= ~grammar.is_program | (everything == melody_program_id)
            if bar == -1:  # the first bar line opens the piece
                allowed, passing, target = everything == bar_id, np.zeros_like(allowed), -1
            for _ in range(LOOKAHEAD_TRIES):
                ahead = None
                chosen = draw(logits[0], allowed, passing, target, temperature, top_k, top_p, rng, memory)
                if not (MELODY_LOOKAHEAD and grammar.is_position[chosen] and not is_stop(stops, grammar.positions[chosen])):
                    break
                ahead = weights.step(np.array([chosen]), states, style)  # what the network would write there
                if rng.random() >= melody_chance(ahead[0][0], grammar, grammar.advance(state, int(chosen)), melody_program_id,
                                                temperature):
                    break
        if chosen == bar_id:
            if bar + 1 >= plan.bars:
                break
            bar += 1
            written_in_bar = 0
            notes = list(plan.notes[bar])
            feed(bar_id)
            if chord_ids:
                bar_chord = chord_ids[2 * bar % len(chord_ids)]
                half_chord = chord_ids[(2 * bar + 1) % len(chord_ids)]
                stops = notes if half_chord == bar_chord else with_half_bar_stop(notes)
            else:
                first_half = [note for note in notes if note[0] < HALF_BAR]
                bar_chord = likeliest_chord(weights, states, style, grammar, first_half, position_ids[0], chord_tones)
                stops = with_half_bar_stop(notes)
            queue = [position_ids[0], bar_chord]
            continue
        if chosen == melody_program_id and not queue:
            queue = list(stops.pop(0)[1][1:])
        feed(chosen, ahead)
        written_in_bar += 1
        if stops and stops[0][1] is None and chosen == position_ids[HALF_BAR]:  # the half bar's chord, if it changes
            stops.pop(0)
            if chord_ids:
                chord = half_chord
            else:
                second_half = [note for note in stops if note[1] is not None]
                chord = likeliest_chord(weights, states, style, grammar, second_half, None, chord_tones, keep=bar_chord)
            if chord != bar_chord:
                queue = [chord]
        if not queue and grammar.kinds[chosen] in ("Position", "Chord"):
            # Arrived at a position: its melody notes first, as the songs' tokens write the highest
            # notes first (and the melody is the highest part).
            while stops and stops[0][1] is not None and stops[0][0] == state[1]:
                queue += list(stops.pop(0)[1])
    return np.array(out, np.int32)


def is_stop(stops: list, position: int) -> bool:
    """Whether the music must stop at position: a melody note or a chord is written there."""
    return bool(stops) and stops[0][0] == position


def melody_chance(logits: np.ndarray, grammar, state, melody_program_id: int, temperature: float = 1.0) -> float:
    """The network's probability, among what the grammar allows in state and at temperature (0:
    greedy), of a melody note next."""
    allowed = grammar.allowed(state) & ~grammar.is_chord
    if not allowed[melody_program_id]:
        return 0.0
    if temperature <= 0:
        return float(logits[melody_program_id] >= logits[allowed].max())
    scaled = logits[allowed] / temperature
    return float(np.exp(logits[melody_program_id] / temperature - scaled.max()) / np.exp(scaled - scaled.max()).sum())


def with_half_bar_stop(notes: list) -> list:
    """A bar's melody notes ((position, ids, pitch, beats) each) with a stop at the half bar, where
    its chord is written (before a note there)."""
    return sorted([*notes, (HALF_BAR, None, 0, 0.0)], key=lambda stop: (stop[0], stop[1] is not None))


def target_of_passing(grammar, state, due, melody_program_id: int) -> int:
    """Where the network's wish to move past the melody's next note lands: on that note's position,
    or, standing there, on the note itself."""
    if not due:
        return -1
    return melody_program_id if state[1] == due[0][0] else grammar.position_ids[due[0][0]]


def draw(logits: np.ndarray, allowed: np.ndarray, passing: np.ndarray, target: int, temperature: float, top_k: int,
         top_p: float, rng: np.random.Generator, memory=None) -> int:
    """One id by the network's probabilities over the allowed ids and the sampling settings (with
    what a memory recalls blended in); the probability of ids that would pass the melody's next
    note (`passing`) goes to `target` instead: the music moves on when the network wants it to, and
    reaches the melody's note first."""
    probabilities = np.exp(logits - logits.max()).astype(np.float64)
    if memory is not None:
        probabilities = memory.mix(probabilities / probabilities.sum())
    moved = float(probabilities[passing].sum()) if passing.any() else 0.0
    probabilities[~allowed | passing] = 0.0
    if target >= 0:
        probabilities[target] += moved
    if probabilities.sum() <= 0:  # nothing the grammar and the melody both allow: the target, else any allowed
        probabilities = (np.arange(len(logits)) == target).astype(np.float64) if target >= 0 else \
            allowed.astype(np.float64)
    chosen = np.empty(1, np.int64)
    choose_rows(probabilities[None, :], per_row(temperature, 1, np.float64), per_row(top_k, 1, np.int64),
                per_row(top_p, 1, np.float64), np.array([rng.random()]), chosen)
    return int(chosen[0])


# How a melody sits on its chord: in POP909 69% of the melody's duration is on chord tones
# (docs/measurements/steering.md). As a likelihood, a note is a chord tone with that chance, any of
# the chord's tones alike, else any other pitch class alike.
MELODY_ON_CHORD = 0.69


def melody_fit(chord_tones: np.ndarray, notes) -> np.ndarray:
    """log p(the notes' pitch classes | chord) for each row of chord_tones ((chords, 12) booleans),
    each note weighted by its length in beats (a passing sixteenth counts little)."""
    tones = chord_tones.sum(axis=1).clip(1, 11)
    inside, outside = np.log(MELODY_ON_CHORD / tones), np.log((1 - MELODY_ON_CHORD) / (12 - tones))
    fit = np.zeros(len(chord_tones))
    for note in notes:
        pitch, beats = note[2], note[3]
        fit += np.clip(beats, 0.25, 2.0) * np.where(chord_tones[:, pitch % 12], inside, outside)
    return fit


def likeliest_chord(weights: StepWeights, states, style, grammar, notes, position_token: int | None,
                    chord_tones: np.ndarray, keep: int = -1) -> int:
    """The chord id likeliest under some melody notes of one bar ((position, ids, pitch, beats) each),
    from `states` (after the bar line, position_token then read; or after a Position, None): of
    every chord, the highest log p(chord) (the network's, there) + log p(the notes | chord)
    (melody_fit; chord_tones[id] is a chord id's pitch classes). `keep`, the chord sounding, wins ties."""
    if position_token is not None:
        logits, _ = weights.step(np.array([position_token]), states, style)
    else:
        logits = weights.output(states[-1]) + weights.dense[1]
    chord_ids = np.flatnonzero(grammar.is_chord & ~grammar.is_no_chord)  # a melody sounds: some chord
    log_p = logits[0] - logits[0].max()
    log_p = log_p - np.log(np.exp(log_p[grammar.is_chord]).sum())
    scores = log_p[chord_ids] + melody_fit(chord_tones[chord_ids], notes)
    if keep >= 0:
        scores[chord_ids == keep] += 1e-9
    return int(chord_ids[int(np.argmax(scores))])
