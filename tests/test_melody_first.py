"""Melody first: each bar's melody before its chord and accompaniment, sections in the stream,
and a POP909 form aligned to its MIDI's bars."""
import numpy as np
import pytest

from musicgen.chords import parse_chord
from musicgen.representations.events import Events
from musicgen.score import ACCOMPANIMENT, MELODY, Score
from train.data import load_scores
from train.sections import aligned_sections, label_roots


def test_melody_first_tokens_decode_as_the_time_ordered_ones_and_the_grammar_reads_them(pop_songs):
    songs = load_scores(pop_songs, progress=False).songs
    melody_first = Events.new(["any"], starts=True, melody_first=True, sections=True)
    time_ordered = Events.new(["any"], starts=True)
    for song in songs:
        sections = [(0, "A", 4), (4, "A", 4)]
        ids = melody_first.encode(song.score, sections=sections)
        plain = time_ordered.encode(song.score)
        ours, theirs = melody_first.decode(ids), time_ordered.decode(plain)
        for part in (MELODY, ACCOMPANIMENT):
            assert np.array_equal(ours.parts[part], theirs.parts[part])
        assert np.array_equal(melody_first.chords_of(ids), time_ordered.chords_of(plain))
        grammar, state = melody_first.grammar, melody_first.grammar.start()
        for token_id in ids[1:]:
            assert grammar.allowed(state)[token_id], (state, melody_first.tokens[token_id])
            state = grammar.advance(state, int(token_id))
        tokens = [melody_first.tokens[i] for i in ids]
        bars = " ".join(tokens).split("Bar_None")[1:]
        assert [bar.split()[:2] for bar in bars if "Section_" in bar] == [["Section_A", "Bars_4"]] * 2
        assert "Section_A" in bars[0] and "Section_A" in bars[4]
        for bar in bars:  # the melody's notes come before the bar's chord, the accompaniment's after
            words = bar.split()
            first_chord = next(index for index, word in enumerate(words) if word.startswith("Chord_"))
            assert "Program_0" not in words[:first_chord]
            assert "Program_73" not in words[first_chord:]


def test_a_melody_first_model_folder_reads_back_as_it_was_saved(tmp_path):
    events = Events.new(["any", "JJ Lin"], starts=True, melody_first=True, sections=True)
    events.save(tmp_path)
    again = Events.load(tmp_path)
    assert again.melody_first and again.sections and again.tokens == events.tokens
    assert again.section_ids("B", 40) == [again.vocab["Section_B"], again.vocab["Bars_16"]]
    # Tokens added after what an earlier model learned: its ids stay the same.
    earlier = Events.new(["any", "JJ Lin"], starts=True)
    assert events.tokens[:len(earlier)] == earlier.tokens


def chord_file(path, chords: list[tuple[str, int]]):
    path.write_text("".join(f"{name} [0, 4, 7] 0 {beats}\n" for name, beats in chords) + "N []  4\n")


def test_a_form_is_placed_on_the_midi_s_bars_by_its_chords_or_left_out_with_the_reason(tmp_path):
    progression = [("C:maj", 4), ("F:maj", 4), ("G:maj", 4), ("A:min", 4)] * 3
    chord_file(tmp_path / "finalized_chord.txt", progression)
    assert list(label_roots(tmp_path / "finalized_chord.txt")[:9]) == [0, 0, 0, 0, 5, 5, 5, 5, 7]
    # The MIDI has a bar of silence before the labels' bar 0: every section lies one bar later.
    rows, beat = [], 4.0
    for name, beats in progression:
        rows.append((beat, beat + beats, parse_chord(name.replace(":maj", "").replace(":min", "m"))))
        beat += beats
    score = Score({MELODY: np.array([[4.0, 5.0, 72, 90]])}, 100.0, chords=np.array(rows, float))
    score.parts[ACCOMPANIMENT] = np.array([[52.0, 53.0, 48, 80]])
    sections, why = aligned_sections(tmp_path, score, "i2A4B4o2")
    assert why == "" and sections == [(1, "i", 2), (3, "A", 4), (7, "B", 4), (11, "o", 2)]
    chord_file(tmp_path / "finalized_chord.txt", [("D:maj", 4), ("E:maj", 4), ("B:maj", 4), ("C#:min", 4)] * 3)
    sections, why = aligned_sections(tmp_path, score, "i2A4B4o2")
    assert sections == [] and "agree on" in why
    assert aligned_sections(tmp_path, score, "")[1] == "no form label"


def test_a_warm_start_takes_the_learned_rows_of_a_grown_token_table(tmp_path):
    from musicgen.config import Config
    from musicgen.model import build_sequence_model
    from train.fit import warm_started

    config = Config(representation="events", embedding_dim=4, rnn_units=6)
    learned = build_sequence_model(config, 10)
    learned.save(tmp_path / "model.keras")
    grown = build_sequence_model(config, 13)
    taken = warm_started(grown, tmp_path)
    assert "embedding (grown)" in taken and "next_token (grown)" in taken and "gru_1" in taken
    assert np.allclose(grown.get_layer("embedding").get_weights()[0][:10], learned.get_layer("embedding").get_weights()[0])
    kernel, bias = grown.get_layer("next_token").get_weights()
    assert np.allclose(kernel[:, :10], learned.get_layer("next_token").get_weights()[0])
    assert kernel.shape == (6, 13) and bias.shape == (13,)


def test_a_form_writes_its_sections_where_they_begin_and_nowhere_else(tiny_melody_first_model):
    from musicgen.generate import sample_draft
    from musicgen.request import Request
    from musicgen.steering import Steering

    model, events = tiny_melody_first_model, tiny_melody_first_model.vocab
    assert events.melody_first and events.sections
    for seed in range(3):
        request = Request.build(model.config, primer="random", seed=seed, steering=Steering.parse(form="i1 A2 B3 o1"))
        tokens = [events.tokens[i] for i in sample_draft(model, request).rows[0]]
        bars = " ".join(tokens).split("Bar_None")[1:]
        opened = {index: bar.split()[:2] for index, bar in enumerate(bars) if "Section_" in bar}
        assert opened == {0: ["Section_i", "Bars_1"], 1: ["Section_A", "Bars_2"], 3: ["Section_B", "Bars_3"],
                          6: ["Section_o", "Bars_1"]}


def test_an_accompaniment_is_written_under_the_melody_fed_bar_by_bar_and_no_other(tiny_melody_first_model, tmp_path):
    import pretty_midi

    from test_accompany import TUNE, accompany, tune_file

    path = tune_file(tmp_path / "tune.mid")
    draft, pieces = accompany(tiny_melody_first_model, path, seed=5, variations=3)
    events = tiny_melody_first_model.vocab
    for row, piece in zip(draft.rows, pieces):
        assert sum(token == events.melody_program_id for token in row) == len(TUNE)
        parts = {instrument.name: instrument.notes for instrument in piece.midi.instruments}
        given = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
        assert [(n.pitch, round(n.start, 6)) for n in parts[MELODY]] == [(n.pitch, round(n.start, 6)) for n in given]
        assert parts[ACCOMPANIMENT]


@pytest.mark.parametrize("bars", [1, 3])
def test_a_bar_with_no_melody_opens_with_its_chord(bars):
    events = Events.new(["any"], starts=True, melody_first=True)
    accompaniment = np.array([[4.0 * bar, 4.0 * bar + 2, 48, 80] for bar in range(bars)])
    ids = events.encode(Score({ACCOMPANIMENT: accompaniment}, 100.0))
    tokens = [events.tokens[i] for i in ids]
    assert [tokens[index + 1][:6] for index, token in enumerate(tokens) if token == "Bar_None"] == ["Chord_"] * bars


def test_a_pop909_folder_s_forms_are_read_with_its_songs_and_the_summary_says_how_many_aligned(pop_songs, tmp_path):
    import shutil

    folder = tmp_path / "songs"
    shutil.copytree(pop_songs, folder)
    progression = [(name, 4) for name in ("C:maj", "F:maj", "G:maj", "C:maj") * 2]
    chord_file(folder / "001" / "finalized_chord.txt", progression)
    (folder / "001" / "human_label1.txt").write_text("A4A4\n")
    chord_file(folder / "002" / "finalized_chord.txt", [("F#:maj", 4), ("C#:min", 4)] * 4)  # not its chords
    (folder / "002" / "human_label1.txt").write_text("A4B4\n")
    corpus = load_scores(folder, progress=False)
    by_name = {song.name: song for song in corpus.songs}
    first, second = by_name["001/001.mid"].sections
    assert first[1:] == second[1:] == ("A", 4) and second[0] - first[0] == 4
    assert by_name["002/002.mid"].sections == [] and corpus.unaligned[0]["file"] == "002/002.mid"
    assert "song forms placed on the MIDI's bars: 1 of 2" in corpus.summary()


def test_a_config_from_before_melody_first_reads_as_time_ordered_without_sections():
    import json

    from musicgen.config import CONFIG_VERSION, Config

    older = Config.from_json(json.dumps({"version": 6, "representation": "events"}))
    assert older.version == CONFIG_VERSION and not older.melody_first and not older.section_tokens


def test_sections_without_melody_first_are_refused_in_words():
    from musicgen.config import Config, ConfigError

    with pytest.raises(ConfigError, match="section_tokens needs melody_first"):
        Config(representation="events", section_tokens=True)
    assert Config(representation="events", melody_first=True, section_tokens=True).section_tokens


def test_a_melody_first_model_s_card_says_what_it_can_do(tiny_melody_first_model):
    from publish.folder import steering_words

    words = steering_words(tiny_melody_first_model.folder, "alice/arranger", None)
    assert "melody first" in words and "musicgen accompany" in words and "--form" in words
