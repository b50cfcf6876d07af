"""Fuzzing the MIDI loader and every primer path: each case ends in a result or one clear MidiError.

Cases: random bytes, well-formed files of type 0/1/2 with random events (huge delta times,
absurd tempos, drums, programs, empty tracks), those files truncated or with bytes overwritten
(data bytes above 127), and a few named extremes (zero bytes, 100k notes, drums only, no notes).
The test prints how many cases ran and how each class ended, and bounds time and memory.
"""
from __future__ import annotations

import io
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musicgen.generate import make_primer
from musicgen.midi import MidiError, load_midi
from musicgen.sampling import midi_primer

SECONDS_PER_CASE = 30  # a hang or a quadratic blow-up shows up as minutes, not seconds
MEMORY_GROWTH_MB = 1500
outcomes: Counter = Counter()  # (case class, outcome) -> count, printed at the end


def midi_bytes(kind: int, tracks: list[list[mido.Message]], ticks_per_beat: int = 480) -> bytes:
    midi = mido.MidiFile(type=kind, ticks_per_beat=ticks_per_beat)
    for messages in tracks:
        midi.tracks.append(mido.MidiTrack(messages))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def notes(pitches, channel=0, step=240) -> list:
    events = []
    for pitch in pitches:
        events += [mido.Message("note_on", note=pitch, velocity=90, channel=channel, time=0),
                   mido.Message("note_off", note=pitch, velocity=0, channel=channel, time=step)]
    return events


deltas = st.one_of(st.integers(0, 960), st.integers(0, 0x0FFFFFFF))  # small, or up to MIDI's largest
events = st.one_of(
    st.builds(lambda d, n, v, c: mido.Message("note_on", note=n, velocity=v, channel=c, time=d),
              deltas, st.integers(0, 127), st.integers(0, 127), st.integers(0, 15)),
    st.builds(lambda d, n, c: mido.Message("note_off", note=n, channel=c, time=d),
              deltas, st.integers(0, 127), st.integers(0, 15)),
    st.builds(lambda d, t: mido.MetaMessage("set_tempo", tempo=t, time=d),
              deltas, st.sampled_from([1, 2, 500_000, 0xFFFFFF]) | st.integers(1, 0xFFFFFF)),
    st.builds(lambda d, p, c: mido.Message("program_change", program=p, channel=c, time=d),
              deltas, st.integers(0, 127), st.integers(0, 15)),
    st.builds(lambda d, n, b: mido.MetaMessage("time_signature", numerator=n, denominator=b, time=d),
              deltas, st.integers(1, 255), st.sampled_from([1, 2, 4, 8, 16, 32])),
)


@st.composite
def midi_files(draw) -> bytes:
    kind = draw(st.sampled_from([0, 1, 2]))
    track_count = 1 if kind == 0 else draw(st.integers(1, 4))
    tracks = [draw(st.lists(events, max_size=40)) for _ in range(track_count)]
    return midi_bytes(kind, tracks, draw(st.integers(1, 0x7FFF)))


@st.composite
def damaged_files(draw) -> bytes:
    data = bytearray(draw(midi_files()))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]  # truncated
    for _ in range(draw(st.integers(0, 8))):  # overwritten bytes, data bytes above 127 among them
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def run_case(case_class: str, data: bytes, music_model) -> None:
    """Load, then continue from it; anything but a result or a MidiError with words fails the test."""
    started = time.perf_counter()
    try:
        load_midi(data, name="case.mid")
        primer = midi_primer(data, music_model.vocab, music_model.config, name="case.mid")
        assert primer.ids.shape == (music_model.config.seq_len,)
        assert 0 <= primer.ids.min() and primer.ids.max() < len(music_model.vocab)
        outcome = "continued"
    except MidiError as error:
        message = str(error)
        assert message.startswith("case.mid: ") and len(message) > len("case.mid: ") + 5
        outcome = "MidiError: " + message.removeprefix("case.mid: ").split(" (")[0].split(",")[0][:40]
    outcomes[(case_class, outcome)] += 1
    assert time.perf_counter() - started < SECONDS_PER_CASE, f"{case_class} took too long"


fuzz = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def report(request):
    start_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_memory) / 1024
    lines = [f"fuzz: {sum(outcomes.values())} cases, peak memory grew {grown_mb:.0f} MB"]
    lines += [f"  {count:5d}  {case_class:10s} -> {outcome}" for (case_class, outcome), count in sorted(outcomes.items())]
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print("\n" + "\n".join(lines))
    assert grown_mb < MEMORY_GROWTH_MB


@fuzz
@given(data=st.binary(max_size=2000))
def test_random_bytes(tiny_model, data):
    run_case("random", data, tiny_model)


@fuzz
@given(data=st.binary(max_size=2000))
def test_random_bytes_behind_a_midi_header(tiny_model, data):
    run_case("header+", b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0" + data, tiny_model)


@fuzz
@given(data=midi_files())
def test_well_formed_files_with_random_events(tiny_model, data):
    run_case("wellformed", data, tiny_model)


@fuzz
@given(data=damaged_files())
def test_truncated_and_overwritten_files(tiny_model, data):
    run_case("damaged", data, tiny_model)


EXTREMES = {
    "zero bytes": lambda: b"",
    "header only": lambda: b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0",
    "no notes": lambda: midi_bytes(1, [[mido.MetaMessage("track_name", name="empty")]]),
    "drums only": lambda: midi_bytes(1, [notes([36, 38, 42] * 20, channel=9)]),
    "huge delta": lambda: midi_bytes(1, [notes([60]) + [mido.Message("note_on", note=62, time=0x0FFFFFFF)]]),
    "slowest tempo": lambda: midi_bytes(0, [[mido.MetaMessage("set_tempo", tempo=0xFFFFFF)] + notes([60] * 2000)]),
    "fastest tempo": lambda: midi_bytes(0, [[mido.MetaMessage("set_tempo", tempo=1)] + notes([60, 64, 67] * 50)]),
    "100k notes": lambda: midi_bytes(1, [notes([48 + i % 36 for i in range(100_000)], step=12)]),
    "type 2": lambda: midi_bytes(2, [notes([60, 62, 64]), notes([67, 65, 64])]),
    "type 0": lambda: midi_bytes(0, [notes([60, 62, 64, 65, 67])]),
    "over 5 MB": lambda: midi_bytes(1, [notes([60] * 10)]) + b"\x00" * 5_000_001,
}


@pytest.mark.parametrize("name", list(EXTREMES))
def test_named_extremes(tiny_model, name):
    run_case(name, EXTREMES[name](), tiny_model)


def test_the_extremes_end_as_a_listener_would_expect(tiny_model):
    def outcome(name):
        return [o for (c, o), _ in outcomes.items() if c == name][:1] or [None]

    for name in EXTREMES:
        if not any(case_class == name for case_class, _ in outcomes):
            run_case(name, EXTREMES[name](), tiny_model)
    assert outcome("zero bytes")[0].startswith("MidiError: the file is empty")
    assert outcome("drums only")[0].startswith("MidiError: it holds only drums")
    assert "is larger than the 5 MB" in outcome("over 5 MB")[0]
    assert outcome("fastest tempo")[0].startswith("MidiError: its notes are all shorter")
    assert outcome("slowest tempo")[0].startswith("MidiError: lasts")
    for name in ("100k notes", "type 0", "type 2"):
        assert outcome(name)[0] == "continued", name


@fuzz
@given(spec=st.text(max_size=20))
def test_primer_specs_and_note_names(tiny_model, spec):
    """Whatever a user types as a primer spec or note: a primer, or a ValueError (MidiError is one)."""
    for text in (spec, "note:" + spec):
        try:
            primer = make_primer(tiny_model, text, seed=0)
            assert primer.ids.shape[-1] == tiny_model.config.seq_len
            outcomes[("spec", "primer")] += 1
        except ValueError as error:
            assert str(error)
            outcomes[("spec", "ValueError")] += 1


def run_event_case(data: bytes, events_model) -> str:
    """The same promise for an event model's continuation, the file read as the CLI reads it (its bars too):
    a primer that decodes, or one MidiError with words."""
    from musicgen.steering import Steering

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.mid"
        path.write_bytes(data)
        try:
            primer = make_primer(events_model, f"midi:{path}", 0, 1, Steering())
            outcome = "continued"
        except MidiError as error:
            primer, outcome = None, "MidiError"
            assert str(error).startswith("case.mid: ") and len(str(error)) > len("case.mid: ") + 5
    if primer is not None:
        assert primer.ids[0] == events_model.vocab.bos_id and primer.ids.max() < len(events_model.vocab)
        events_model.vocab.decode(primer.ids)
        assert all(isinstance(note, str) and note for note in primer.notes)
    assert time.perf_counter() - started < SECONDS_PER_CASE
    return outcome


@pytest.mark.parametrize("name", list(EXTREMES))
def test_named_extremes_continued_by_an_event_model(tiny_events_model, name):
    outcome = run_event_case(EXTREMES[name](), tiny_events_model)
    if name in ("100k notes", "type 0", "type 2", "fastest tempo"):
        assert outcome == "continued", name  # notes on any tempo map land on the beat grid
    if name in ("zero bytes", "drums only", "over 5 MB", "no notes", "slowest tempo"):  # over 2 hours
        assert outcome == "MidiError", name


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=midi_files())
def test_well_formed_files_continued_by_an_event_model(tiny_events_model, data):
    run_event_case(data, tiny_events_model)
