"""Accompany my melody: the tune kept note for note, a piano part written under it, from the CLI,
Python and (tests/test_app.py) the page's API."""
import numpy as np
import pretty_midi
import pytest

from conftest import write_midi
from musicgen.__main__ import main
from musicgen.chords import chord_name
from musicgen.generate import pieces_of, sample_draft
from musicgen.request import Request
from musicgen.score import ACCOMPANIMENT, MELODY, load_melody
from musicgen.steering import Steering

# A tune in E-flat major, one bar of quarter notes after another (4 bars at 100 BPM: 9.6 s)
TUNE = [63, 67, 70, 67, 68, 72, 75, 72, 70, 74, 77, 74, 63, 67, 70, 75]


def tune_file(path, tempo=100.0, name="", extra_tracks=()):
    beat = 60.0 / tempo
    notes = [(pitch, index * beat, (index + 0.9) * beat) for index, pitch in enumerate(TUNE)]
    return write_midi(path, [{"name": name, "notes": notes}, *extra_tracks], tempo=tempo)


def accompany(model, path, **choices):
    draft = sample_draft(model, Request.build(model.config, primer=f"melody:{path}", **choices))
    return draft, pieces_of(model, draft)


def test_the_melody_comes_back_note_for_note_over_an_accompaniment(tiny_events_model, tmp_path):
    path = tune_file(tmp_path / "tune.mid")
    _, pieces = accompany(tiny_events_model, path, seed=1, variations=2)
    given = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
    for piece in pieces:
        parts = {instrument.name: instrument for instrument in piece.midi.instruments}
        assert set(parts) == {MELODY, ACCOMPANIMENT}
        kept = parts[MELODY].notes
        assert [(n.pitch, round(n.start, 6), round(n.end, 6)) for n in kept] == \
            [(n.pitch, round(n.start, 6), round(n.end, 6)) for n in given]
        assert len(parts[ACCOMPANIMENT].notes) > 0
        assert piece.midi.get_tempo_changes()[1][0] == pytest.approx(100.0)
        assert piece.key.startswith("Eb")  # back in the tune's key
        bar_seconds = 4 * 0.6
        assert max(n.start for n in parts[ACCOMPANIMENT].notes) < 4 * bar_seconds + 1e-6  # under the tune's 4 bars


def test_the_same_seed_gives_the_same_accompaniment_and_chords_can_be_forced(tiny_events_model, tmp_path):
    path = tune_file(tmp_path / "tune.mid")
    first, _ = accompany(tiny_events_model, path, seed=3)
    again, _ = accompany(tiny_events_model, path, seed=3)
    assert first.rows == again.rows
    forced, pieces = accompany(tiny_events_model, path, seed=3, steering=Steering.parse("Eb Ab Bb Eb"))
    events = tiny_events_model.vocab
    bar_chords = [chord_name(int(chord)) for start, _, chord in events.chords_of(forced.rows[0]) if start % 4 == 0]
    assert bar_chords == ["C", "F", "G", "C"]  # heard in C major, as the model writes
    assert [round(float(row[0])) for row in pieces[0].score.chords][:4] == [0, 4, 8, 12]


def test_a_file_s_melody_track_is_found_by_name_else_the_highest_is_taken_and_said(tmp_path):
    low = {"name": "", "notes": [(40, 0.0, 2.0), (43, 2.0, 4.0)]}
    named = tune_file(tmp_path / "named.mid", name="Lead Vocal", extra_tracks=[{**low, "name": "Piano"}])
    assert load_melody(named).found == "the track named Lead Vocal"
    unnamed = tune_file(tmp_path / "unnamed.mid", extra_tracks=[low])
    melody = load_melody(unnamed)
    assert melody.found.startswith("the highest track") and len(melody.score.parts[MELODY]) == len(TUNE)
    assert load_melody(tune_file(tmp_path / "one.mid")).found == "the only track"


def test_the_tempo_map_of_the_file_is_kept(tiny_events_model, tmp_path):
    path = tune_file(tmp_path / "tune.mid")
    midi = pretty_midi.PrettyMIDI(str(path))
    midi._tick_scales.append((midi.resolution * 8, 60.0 / (140.0 * midi.resolution)))  # 140 BPM from beat 8
    midi._update_tick_to_time(midi.resolution * 100)
    for note in midi.instruments[0].notes:  # the notes keep their beats: their seconds move
        note.start, note.end = (midi.tick_to_time(midi.time_to_tick(note.start)),
                                midi.tick_to_time(midi.time_to_tick(note.end)))
    midi.write(str(tmp_path / "two tempi.mid"))
    _, pieces = accompany(tiny_events_model, tmp_path / "two tempi.mid", seed=2)
    written = pretty_midi.PrettyMIDI(str(tmp_path / "two tempi.mid"))
    assert np.allclose(pieces[0].midi.get_tempo_changes()[1], written.get_tempo_changes()[1])
    kept = next(i for i in pieces[0].midi.instruments if i.name == MELODY).notes
    assert [round(n.start, 5) for n in kept] == [round(n.start, 5) for n in written.instruments[0].notes]


@pytest.mark.parametrize("tracks, words", [
    ([{"is_drum": True, "notes": [(36, 0.0, 0.5)]}], "it holds only drums"),
    ([{"notes": []}], "no notes to accompany"),
])
def test_a_file_without_a_tune_gets_a_message_and_exit_code_2(tiny_events_model_folder, tmp_path, capsys, tracks,
                                                               words):
    path = write_midi(tmp_path / "no tune.mid", tracks)
    code = main(["accompany", str(path), "--model", str(tiny_events_model_folder), "--out", str(tmp_path / "x.mid")])
    error = capsys.readouterr().err
    assert code == 2 and words in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "x.mid").exists()


def test_the_cli_writes_the_accompanied_tune(tiny_events_model_folder, tmp_path, capsys):
    path = tune_file(tmp_path / "tune.mid")
    code = main(["accompany", str(path), "--model", str(tiny_events_model_folder), "--seed", "4", "--variations",
                 "2", "--out", str(tmp_path / "out.mid"), "--png", str(tmp_path / "out.png")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "accompanied tune.mid x 2" in printed
    read = [line.split(": ", 1)[1] for line in printed.splitlines() if "chords read from the melody" in line]
    assert len(read) == 2 and all(len(chords.split(" | ")) == 4 for chords in read)  # the tune's 4 bars
    for index in (1, 2):
        written = pretty_midi.PrettyMIDI(str(tmp_path / f"out-{index}.mid"))
        assert [instrument.name for instrument in written.instruments] == [MELODY, ACCOMPANIMENT]
        assert (tmp_path / f"out-{index}.png").is_file()


def test_a_frame_model_and_a_key_asked_are_refused_in_words(tiny_model, tiny_events_model, tmp_path):
    path = tune_file(tmp_path / "tune.mid")
    with pytest.raises(ValueError, match="accompanying a melody needs an event model"):
        accompany(tiny_model, path, seed=1)
    with pytest.raises(ValueError, match="keeps the melody's own key, tempo"):
        accompany(tiny_events_model, path, seed=1, steering=Steering.parse(key="D major"))


def test_a_tune_s_key_is_read_as_the_training_melodies_sit_in_theirs(tmp_path):
    from musicgen.calibration import Corrections
    from musicgen.calibration.melody_key import MelodyKey
    from musicgen.score import Score

    # Songs whose melodies sing C, D, E, G, A (and never F or B) in C major.
    pentatonic = np.array([[index, index + 1.0, pitch, 90] for index, pitch in enumerate([60, 62, 64, 67, 69] * 4)])
    piano = np.array([[0, 20.0, 48, 70], [0, 20.0, 55, 70], [0, 20.0, 52, 70]])
    reader = MelodyKey.measured([Score({MELODY: pentatonic, ACCOMPANIMENT: piano}, 100.0)])
    assert reader.shares[[0, 2, 4, 7, 9]].min() > 10 * reader.shares[[5, 11]].max()
    # A tune on D, E, F#, A, B: D major's pentatonic, two semitones above C's.
    tune = np.array([[index, index + 1.0, pitch, 90] for index, pitch in enumerate([62, 64, 66, 69, 71, 69, 66, 62])])
    assert reader.key_of(tune) == (-2, "major")
    assert reader.key_of(np.zeros((0, 4))) == (0, "major")
    reader.save(tmp_path)
    again = Corrections.load(tmp_path).melody_key
    assert np.allclose(again.shares, reader.shares, atol=1e-5) and again.key_of(tune) == (-2, "major")


class ExpectingMelodyEverywhere:
    """A network's steps that, at every position, would rather write a melody note than anything else."""

    def __init__(self, steps, melody_program_id):
        self.steps, self.melody_program_id = steps, melody_program_id

    def __getattr__(self, name):
        return getattr(self.steps, name)

    def step(self, ids, states, style=None):
        logits, states = self.steps.step(ids, states, style)
        logits = logits.copy()
        logits[:, self.melody_program_id] += 12.0
        return logits, states


def test_the_accompaniment_does_not_play_where_the_network_only_expected_a_melody(tiny_events_model, monkeypatch):
    from musicgen import stateful
    from musicgen.schemes.events import melody_plan
    from musicgen.score import Score

    events = tiny_events_model.vocab
    tune = Score({MELODY: np.array([[beat, beat + 1.0, 67 + (beat % 3), 90] for beat in range(0, 16, 2)], float)},
                 100.0)  # a note every two beats: positions 0 and 8 of each bar
    header = events.header(mode="major", where="opening" if events.starts else None)
    steps = ExpectingMelodyEverywhere(tiny_events_model.steps, events.melody_program_id)

    def share_on_the_tune(lookahead: bool) -> float:
        monkeypatch.setattr(stateful, "MELODY_LOOKAHEAD", lookahead)
        onsets = []
        for seed in range(8):
            ids = stateful.sample_under_melody(steps, events.grammar, header, melody_plan(events, tune), seed=seed,
                                               melody_program_id=events.melody_program_id,
                                               chord_tones=events.chord_tones)
            score = events.decode([*header, *ids])
            assert [tuple(note[:3]) for note in score.parts[MELODY]] == [tuple(note[:3]) for note in tune.parts[MELODY]]
            onsets += list(score.parts.get(ACCOMPANIMENT, np.zeros((0, 4)))[:, 0])
        return float(np.mean(np.asarray(onsets) % 2 == 0))

    # Looking ahead, a position without a tune note is kept only with the chance that the network
    # plays something else there; without, its wish for a melody there goes to the piano.
    looking, not_looking = share_on_the_tune(True), share_on_the_tune(False)
    assert not_looking < 0.3 and looking > not_looking + 0.4


def test_the_chance_of_a_melody_note_is_the_network_s_among_what_the_grammar_allows(tiny_events_model):
    from musicgen.stateful import melody_chance

    events = tiny_events_model.vocab
    grammar = events.grammar
    header = events.header(mode="major", where="opening" if events.starts else None)
    from musicgen.chords import chord_of

    opening = [*header, grammar.bar_id, grammar.position_ids[0], events.chord_id(chord_of(0, "maj"))]
    at_a_position = grammar.state_after([*opening, grammar.position_ids[4]])
    logits = np.random.default_rng(0).normal(size=len(grammar.kinds))
    allowed = grammar.allowed(at_a_position) & ~grammar.is_chord
    assert allowed[events.melody_program_id] and allowed.sum() > 1
    expected = np.exp(logits[events.melody_program_id]) / np.exp(logits[allowed]).sum()
    assert melody_chance(logits, grammar, at_a_position, events.melody_program_id) == pytest.approx(expected)
    hotter = melody_chance(logits, grammar, at_a_position, events.melody_program_id, temperature=2.0)
    assert hotter == pytest.approx(np.exp(logits[events.melody_program_id] / 2) / np.exp(logits[allowed] / 2).sum())
    logits[events.melody_program_id] = logits[allowed].max() + 1.0
    assert melody_chance(logits, grammar, at_a_position, events.melody_program_id, temperature=0) == 1.0
    after_a_note = grammar.state_after([*opening, grammar.position_ids[4], events.melody_program_id])
    assert melody_chance(logits, grammar, after_a_note, events.melody_program_id) == 0.0  # a pitch comes next


def test_under_a_tune_that_repeats_a_sure_echo_plays_the_piano_of_the_bar_before_again(tiny_events_model):
    from musicgen import stateful
    from musicgen.calibration.echo import DISTANCES, RUN_EDGES, Echo
    from musicgen.schemes.events import melody_plan
    from musicgen.score import Score

    events = tiny_events_model.vocab
    bar = [[beat, beat + 1.0, 67 + beat, 90] for beat in range(4)]
    tune = Score({MELODY: np.array([[start + 4 * copy, end + 4 * copy, pitch, velocity] for copy in range(4)
                                     for start, end, pitch, velocity in bar], float)}, 100.0)
    header = events.header(mode="major", where="opening" if events.starts else None)
    sure = np.zeros((len(DISTANCES), len(RUN_EDGES) + 1))
    sure[0] = 0.999999  # one bar back, whatever its run
    c = events.chord_id(0)  # C major, every half bar

    def bars_of(memory):
        ids = np.asarray(stateful.sample_under_melody(tiny_events_model.steps, events.grammar, header,
                                                      melody_plan(events, tune), [c, c], seed=5,
                                                      melody_program_id=events.melody_program_id,
                                                      chord_tones=events.chord_tones, memory=memory))
        return np.split(ids, np.flatnonzero(ids == events.grammar.bar_id))[1:]

    echoed = bars_of(Echo(sure).recalling(events.grammar))
    assert len(echoed) == 4 and all(np.array_equal(later, echoed[0]) for later in echoed[1:])
    free = bars_of(None)
    assert not all(np.array_equal(later, free[0]) for later in free[1:])


def with_time_signatures(path, signatures):
    """tune_file's tune with the time signatures (numerator, denominator, beat) written in."""
    tune_file(path)
    midi = pretty_midi.PrettyMIDI(str(path))
    midi.time_signature_changes = [pretty_midi.TimeSignature(top, bottom, midi.tick_to_time(beat * midi.resolution))
                                   for top, bottom, beat in signatures]
    midi.write(str(path))
    return path


def notes_of(model, spec):
    from musicgen.generate import make_primer

    return make_primer(model, spec, 1, 1, Steering()).notes


@pytest.mark.parametrize("signatures, words", [
    ([(3, 4, 0)], "tune.mid is in 3/4, and this model writes bars of 4 beats (4/4)"),
    ([(6, 8, 0)], "tune.mid is in 6/8, and"),
    ([(4, 4, 0), (3, 4, 8)], "tune.mid is in 3/4 from bar 3, and"),
    ([(4, 4, 0), (2, 4, 4), (4, 4, 6)], "tune.mid has a bar of another length before its 4/4 from bar 3, so"),
])
def test_a_tune_whose_bars_are_not_4_beats_is_accompanied_and_said_so(tiny_events_model, tmp_path, signatures,
                                                                      words):
    path = with_time_signatures(tmp_path / "tune.mid", signatures)
    [said] = notes_of(tiny_events_model, f"melody:{path}")
    assert said.startswith(words) and said.endswith(": its accompaniment counts the tune's beats in fours, "
                                                    "across its bars")
    said = notes_of(tiny_events_model, f"midi:{path}")[-1]  # and so goes a continuation
    assert said.startswith(words) and said.endswith("the piece goes on in bars of 4 beats")
    _, pieces = accompany(tiny_events_model, path, seed=1)  # nothing refused: the person hears what it makes
    assert [instrument.name for instrument in pieces[0].midi.instruments] == [MELODY, ACCOMPANIMENT]


@pytest.mark.parametrize("signatures", [[(4, 4, 0)], [(2, 2, 0)], [(2, 4, 0)], [(8, 4, 0)], [(1, 4, 0)],
                                        [(2, 4, 0), (4, 4, 4), (2, 4, 12)], [(3, 4, 16)], [(1, 4, 0), (4, 4, 1)],
                                        [(2, 4, 0), (4, 4, 2)]])
def test_a_tune_in_bars_that_4_beats_line_up_with_is_accompanied_without_a_word(tiny_events_model, tmp_path,
                                                                                 signatures):
    path = with_time_signatures(tmp_path / "tune.mid", signatures)  # 3/4 from beat 16: after the tune's end
    assert notes_of(tiny_events_model, f"melody:{path}") == []


def test_the_track_taken_as_the_melody_is_said_when_there_were_others(tiny_events_model, tmp_path):
    low = {"name": "Strings", "notes": [(40, 0.0, 2.0), (43, 2.0, 4.0)]}
    path = tune_file(tmp_path / "two.mid", extra_tracks=[low])
    assert notes_of(tiny_events_model, f"melody:{path}") == [
        "the melody is the highest track (unnamed), as none is named melody, vocal or lead"]
    drums = {"is_drum": True, "notes": [(36, 0.0, 0.5)]}
    assert notes_of(tiny_events_model, f"melody:{tune_file(tmp_path / 'drums.mid', extra_tracks=[drums])}") == []


def test_a_tune_after_a_pickup_bar_is_accompanied_in_its_own_bars(tiny_events_model, tmp_path):
    path = with_time_signatures(tmp_path / "tune.mid", [(1, 4, 0), (4, 4, 1)])  # beat 0 a pickup: bars from beat 1
    _, pieces = accompany(tiny_events_model, path, seed=3, steering=Steering.parse(chords="C G"))
    chords = pieces[0].score.chords
    assert len(chords) >= 4 and np.allclose(chords[1:, 0] % 4, 1)  # each bar's chord from the file's bar lines
    assert [chord_name(int(chord)) for chord in chords[1:3, 2]] in (["G", "C"], ["C", "G"])
    accompaniment = pieces[0].score.parts[ACCOMPANIMENT]
    assert len(accompaniment) and accompaniment[:, 0].min() >= 0  # nothing before the file's start
    kept = next(i for i in pieces[0].midi.instruments if i.name == MELODY).notes
    assert [n.pitch for n in kept] == TUNE  # the tune itself as it was


def test_a_file_after_a_pickup_bar_is_continued_from_its_own_bars(tiny_events_model, tmp_path):
    from musicgen.generate import make_primer

    pickup = with_time_signatures(tmp_path / "pickup.mid", [(1, 4, 0), (4, 4, 1)])
    beat = 60.0 / 100.0  # the same notes 3 beats later in plain 4/4: where the model's bars put them
    later = write_midi(tmp_path / "later.mid", [{"notes": [(pitch, (index + 3) * beat, (index + 3.9) * beat)
                                                            for index, pitch in enumerate(TUNE)]}], tempo=100.0)
    read = [make_primer(tiny_events_model, f"midi:{path}", 1, 1, Steering()) for path in (pickup, later)]
    assert np.array_equal(read[0].ids, read[1].ids) and read[0].notes == read[1].notes == []


@pytest.mark.parametrize("signatures", [[], [(1, 4, 0), (4, 4, 1)]])
def test_an_accompanied_tune_is_continued_like_any_piece(tiny_events_model, tmp_path, signatures):
    from musicgen.generate import extend_draft

    path = with_time_signatures(tmp_path / "tune.mid", signatures)
    draft, pieces = accompany(tiny_events_model, path, seed=5)
    longer = extend_draft(tiny_events_model, draft, 0, Request.build(tiny_events_model.config, seconds=8, seed=6))
    [piece] = pieces_of(tiny_events_model, longer)
    parts = {instrument.name: instrument.notes for instrument in piece.midi.instruments}
    given = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
    tune_ends = max(note.end for note in given)
    assert [(n.pitch, round(n.start, 6)) for n in parts[MELODY][:len(given)]] == \
        [(n.pitch, round(n.start, 6)) for n in given]  # the tune as it was, then what the network sang on
    assert all(note.start >= tune_ends - 1e-6 for note in parts[MELODY][len(given):])
    assert max(note.start for note in parts[ACCOMPANIMENT]) > tune_ends  # the piano goes on past the tune
    assert piece.midi.get_end_time() > pieces[0].midi.get_end_time() + 4
    assert min(note.start for notes in parts.values() for note in notes) >= 0
