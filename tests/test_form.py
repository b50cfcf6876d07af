"""Song form: sections that come back, asked as POP909 writes forms ("i4 A8 B8 A8 B8 o4")."""
import mido
import numpy as np
import pytest

from musicgen.chords import chord_name
from musicgen.generate import compose, sample_draft
from musicgen.output import write_piece
from musicgen.request import Request
from musicgen.score import MELODY
from musicgen.steering import Sections, Steering, parse_form


def test_a_form_is_read_spaced_or_compact_and_a_bad_one_is_named():
    assert parse_form("i4 A8 B8 A8 B8 o4") == parse_form("i4A8B8A8B8o4") == (
        ("i", 4), ("A", 8), ("B", 8), ("A", 8), ("B", 8), ("o", 4))
    assert parse_form("") == () and parse_form(None) == ()
    for bad, words in (("A8 Q4", "'Q' is no section letter"), ("A0", "1-64 bars"), ("A8B", "letters each followed"),
                       ("verse chorus", "letters each followed"), ("A64 " * 5, "at most 256")):
        with pytest.raises(ValueError, match=words):
            parse_form(bad)


def test_sections_lay_a_form_out_bar_by_bar():
    sections = Sections(parse_form("i2 A3 B2 A2 o1"))
    assert sections.bars == 10
    assert sections.starts() == [(0, "i"), (2, "A"), (5, "B"), (7, "A2"), (9, "o")]
    assert sections.copy_distances() == [0, 0, 0, 0, 0, 0, 0, 5, 5, 0]  # A2 plays A's first two bars again
    assert sections.without_melody() == [True, True, False, False, False, False, False, False, False, True]
    assert sections.bar_in_section() == [0, 1, 0, 1, 2, 0, 1, 0, 1, 0]


def melody_of_bars(events, ids, first: int, bars: int) -> list[tuple]:
    """The melody notes of bars first .. first + bars - 1 of a row, (beat in that stretch, pitch) each."""
    melody = events.decode(ids).parts.get(MELODY, np.zeros((0, 4)))
    inside = melody[(melody[:, 0] >= 4 * first) & (melody[:, 0] < 4 * (first + bars))]
    return [(round(float(start) - 4 * first, 3), int(pitch)) for start, _, pitch, _ in inside]


def bar_chords(events, ids) -> list[str]:
    """The chord each bar of a row opens with."""
    return [chord_name(int(chord)) for start, _, chord in events.chords_of(ids) if start % 4 == 0]


@pytest.mark.parametrize("fixture", ["tiny_events_model", "tiny_melody_first_model"])
def test_a_returning_section_plays_its_first_time_s_melody_again_and_the_file_marks_every_section(
        fixture, request, tmp_path):
    model = request.getfixturevalue(fixture)
    events = model.vocab
    steering = Steering.parse("C G Am F", form="A2 B2 A2 o1")
    asked = Request.build(model.config, primer="note:E5", seed=4, steering=steering)
    row = sample_draft(model, asked).rows[0]
    assert int(np.sum(np.asarray(row) == events.grammar.bar_id)) == 7  # the form sets the length
    first_time = melody_of_bars(events, row, 0, 2)
    assert (0.0, 76) in first_time  # the tune's first note
    assert melody_of_bars(events, row, 4, 2)[:len(first_time)] == first_time  # A2 sings A again
    assert bar_chords(events, row) == ["C", "G", "C", "G", "C", "G", "C"]  # the progression starts again;
    # an outro ends on the home chord
    piece = compose(model, asked)[0]
    melody = piece.score.parts.get(MELODY, np.zeros((0, 4)))
    assert not np.any(melody[:, 0] >= 6 * 4)  # none in the outro
    assert [label for _, label in piece.sections] == ["A", "B", "A2", "o"]
    write_piece(piece, tmp_path / "form.mid")
    markers = [(message.text, message) for message in mido.MidiFile(str(tmp_path / "form.mid")).tracks[0]
               if message.type == "marker"]
    assert [text for text, _ in markers] == ["A", "B", "A2", "o"]
    assert "form A2 B2 A2 o1" in steering.describe()


def test_the_cli_refuses_a_form_with_seconds_and_a_bad_form(tiny_events_model_folder, tmp_path, capsys):
    from musicgen.__main__ import main

    common = ["generate", "--model", str(tiny_events_model_folder), "--out", str(tmp_path / "x.mid")]
    assert main([*common, "--form", "A4 B4", "--seconds", "30"]) == 2
    assert "give --form or --seconds, not both" in capsys.readouterr().err
    assert main([*common, "--form", "A4 Z4"]) == 2
    assert "'Z' is no section letter" in capsys.readouterr().err
    assert main([*common, "--form", "i1 A2 A2", "--seed", "1"]) == 0
    assert "sampled the form i1 A2 A2" in capsys.readouterr().out


def test_a_piece_asked_for_no_form_plays_one_of_the_songs_own_from_its_first_sung_section(tiny_events_model,
                                                                                         tmp_path):
    import dataclasses
    import json

    from musicgen.calibration.forms import SongForms

    forms = SongForms.measured(["i4A2B2A2B2o4", "", "A3b1A3"])
    assert len(forms.forms) == 2
    rng = np.random.default_rng(0)
    for _ in range(10):
        drawn = forms.drawn(6, rng)
        assert sum(bars for _, bars in drawn) == 6 and drawn[0][0] == "A" and all(letter != "o" for letter, _ in drawn)
    assert forms.drawn(20, np.random.default_rng(1))[-1][0].isupper()  # longer than the song: its tune again
    forms.save(tmp_path)
    assert SongForms.load(tmp_path).forms == forms.forms
    (tmp_path / "forms.json").write_text(json.dumps({"forms": 3}))
    with pytest.raises(ValueError, match="must be a list of forms"):
        SongForms.load(tmp_path)
    model = dataclasses.replace(tiny_events_model, corrections=tiny_events_model.corrections.with_(
        SongForms.measured(["i2A2B2A2B2"])))
    draft = sample_draft(model, Request.build(model.config, primer="random", seconds=20, seed=2))
    assert draft.steering["drawn_form"][:2] == [["A", 2], ["B", 2]]
    row = draft.rows[0]
    if int(np.sum(np.asarray(row) == model.vocab.grammar.bar_id)) >= 6:  # the piece ends where its length does:
        assert melody_of_bars(model.vocab, row, 4, 2)[:len(melody_of_bars(model.vocab, row, 0, 2))] == \
            melody_of_bars(model.vocab, row, 0, 2)  # A2 sings A again where it is reached


def test_a_drawn_form_s_returns_are_recalled_by_the_echo_and_an_asked_form_s_are_played_again(tiny_events_model):
    import dataclasses

    from musicgen.calibration.echo import Echo
    from musicgen.calibration.forms import SongForms

    model = tiny_events_model
    bar_id = model.vocab.grammar.bar_id
    # An echo that trusts a return not at all: what a returning section plays is the network's own.
    untrusted = dataclasses.replace(model, corrections=model.corrections.with_(SongForms.measured(["A2B1A2B1"]))
                                    .with_(Echo(model.corrections.echo.weights, np.zeros(4))))

    def bars(row):
        ids = np.asarray(row)
        return np.split(ids, np.flatnonzero(ids == bar_id))[1:]

    drawn = [bars(sample_draft(untrusted, Request.build(model.config, primer="note:E5", seconds=30, seed=seed)).rows[0])
             for seed in range(4)]
    assert all(len(row) > 4 for row in drawn)
    assert not all(np.array_equal(row[3], row[0]) for row in drawn)  # recalled (here: not at all), not copied
    asked = Request.build(model.config, primer="note:E5", seed=0, steering=Steering.parse(None, form="A2 B1 A2"))
    row = bars(sample_draft(untrusted, asked).rows[0])
    assert np.array_equal(row[3], row[0]) and np.array_equal(row[4], row[1])  # asked: played again as asked
