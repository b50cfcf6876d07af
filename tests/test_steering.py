"""Steering: chord names and keys, chord tokens in the stream, forced progressions, key, tempo, style."""
import dataclasses

import numpy as np
import pretty_midi
import pytest

from musicgen.chords import (NO_CHORD, chord_name, chord_pitch_classes, chord_tone_share, estimate_chords,
                             harte_chord, parse_chord, parse_key, parse_progression, progression_rows)
from musicgen.generate import compose, extend_draft, make_primer, pieces_of, sample_draft
from musicgen.request import Request
from musicgen.representations.events import Events
from musicgen.score import ACCOMPANIMENT, MELODY, load_score
from musicgen.steering import PROGRESSIONS, Steering, preset_chords


@pytest.mark.parametrize("name, root, tones", [
    ("C", 0, {0, 4, 7}), ("Cm", 0, {0, 3, 7}), ("C7", 0, {0, 4, 7, 10}), ("Cmaj7", 0, {0, 4, 7, 11}),
    ("Cm7", 0, {0, 3, 7, 10}), ("Cdim", 0, {0, 3, 6}), ("Csus2", 0, {0, 2, 7}), ("Csus4", 0, {0, 5, 7}),
    ("F#m", 6, {6, 9, 1}), ("Bb7", 10, {10, 2, 5, 8}), ("Ebmaj7", 3, {3, 7, 10, 2})])
def test_every_documented_chord_name_reads_as_its_tones(name, root, tones):
    chord = parse_chord(name)
    assert chord_pitch_classes(chord) == tones
    assert parse_chord(chord_name(chord)) == chord


@pytest.mark.parametrize("bad", ["H", "Cmaj9", "C/E", "Xm", "C##"])
def test_an_unknown_chord_is_named_with_what_is_accepted(bad):
    with pytest.raises(ValueError, match=f"unknown chord '{bad}'.*Cmaj7, Cm7, Cdim, Csus2, Csus4"):
        parse_progression(f"C {bad} G")


def test_all_24_keys_read_and_bad_ones_are_named():
    keys = {parse_key(f"{root} {mode}") for root in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
            for mode in ("major", "minor")}
    assert len(keys) == 24
    assert parse_key("Eb major") == (3, "major") and parse_key("f# minor") == (6, "minor") and parse_key("Am") == (9, "minor")
    assert parse_key("any") is None and parse_key("") is None
    with pytest.raises(ValueError, match="unknown key 'H major'.*'Eb major'"):
        parse_key("H major")


def test_pop909_chord_labels_map_to_the_eight_qualities():
    assert chord_name(harte_chord("C:maj")) == "C" and chord_name(harte_chord("A:min7")) == "Am7"
    assert chord_name(harte_chord("G:7/3")) == "G7" and chord_name(harte_chord("D:hdim7")) == "Ddim"
    assert chord_name(harte_chord("E:sus4(b7)")) == "Esus4" and harte_chord("N") == NO_CHORD


def test_the_key_moves_the_piece_and_the_progression_moves_the_other_way():
    steering = Steering.parse("Eb Bb Cm Ab", "Eb major", 96, "any")
    assert steering.shift() == 3
    assert [chord_name(chord) for chord in steering.model_chords()] == ["C", "G", "Am", "F"]
    assert Steering.parse(key="C minor").shift() == 3  # A minor -> C minor
    assert Steering.parse("D A Bm G").target_key() == (2, "major")  # the progression's own key
    assert Steering.parse().is_free and Steering.parse().shift() == 0
    assert preset_chords("I-V-vi-IV (pop)", "Eb major") == "Eb Bb Cm Ab"
    assert set(PROGRESSIONS) >= {"I-V-vi-IV (pop)", "4-5-3-6-2-5-1 (Mandopop)", "Canon (Pachelbel)"}


@pytest.mark.parametrize("tempo, message", [("fast", "not a number"), (10, "between 30 and 300")])
def test_a_bad_tempo_is_explained(tempo, message):
    with pytest.raises(ValueError, match=message):
        Steering.parse(tempo=tempo)


def test_chords_are_estimated_from_the_notes_where_a_song_has_no_annotation():
    triads = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (9, 12, 16)]  # C F G Am, a bar each
    notes = np.array([(bar * 4, bar * 4 + 4, 48 + pitch, 80) for bar, chord in enumerate(triads) for pitch in chord], float)
    estimated = estimate_chords(notes, 16)
    assert [chord_name(int(chord)) for chord in estimated[:, 2]] == ["C", "F", "G", "Am"]
    assert chord_tone_share(notes, estimated) == 1.0


def test_a_pop909_song_carries_its_annotated_chords_into_the_tokens(pop_songs):
    score = load_score(pop_songs / "001" / "001.mid")
    assert [chord_name(int(chord)) for chord in score.chords[:4, 2]] == ["C", "F", "G", "C"]
    events = Events.new(styles=["JJ Lin"])
    ids = events.encode(score, "JJ Lin")
    tokens = [events.tokens[i] for i in ids]
    assert tokens[:4] == ["BOS_None", "Style_JJ Lin", "Mode_major", "Bar_None"]
    # every bar opens with its chord, before any note
    bars = [index for index, token in enumerate(tokens) if token == "Bar_None"]
    assert all(tokens[index + 1] == "Position_0" and tokens[index + 2].startswith("Chord_") for index in bars)
    decoded = events.decode(ids, score.tempo_bpm)
    plain = Events.new().decode(Events.new().encode(score), score.tempo_bpm)
    for part in (MELODY, ACCOMPANIMENT):  # the chord tokens change nothing in the notes
        assert np.array_equal(decoded.parts[part], plain.parts[part])
    assert chord_tone_share(decoded.parts[ACCOMPANIMENT], decoded.chords) == 1.0
    state = events.grammar.start()
    for token_id in ids[1:]:
        state = events.grammar.advance(state, token_id) if events.grammar.allowed(state)[token_id] else None
        assert state is not None


def test_training_chunks_each_start_with_the_songs_header_and_learn_any_too():
    from train.data import Header, sequence_chunks

    ids = np.array([1, 50, 60, *range(100, 400)], np.int32)  # BOS, style, mode, then the song
    inputs, targets, weights = sequence_chunks([ids], 64, np.random.default_rng(0), header=Header(3, 49, 0.5))
    assert len(inputs) > 2 and (inputs[:, 0] == 1).all() and (inputs[:, 2] == 60).all()
    assert set(inputs[:, 1]) == {49, 50}  # the style, or "any" instead
    assert (weights[1:, :3] == 0).all() and (weights[0, :3] == 1).all()
    predicted = np.concatenate([t[w > 0] for t, w in zip(targets, weights)])
    assert set(predicted[predicted >= 100]) == set(range(100, 400))  # every song token is learned
    # in order (validation), each exactly once
    _, targets, weights = sequence_chunks([ids], 64, None, header=Header(3, 49, 0.5))
    predicted = np.concatenate([t[w > 0] for t, w in zip(targets, weights)])
    assert sorted(predicted[predicted >= 100]) == list(range(100, 400))


def test_training_chunks_say_where_they_were_cut_so_that_what_goes_with_the_tokens_is_cut_alike():
    from train.data import Header, sequence_chunks

    songs = [np.array([1, 50, 60, *range(100, 400)], np.int32), np.array([1, 51, 60, *range(500, 640)], np.int32)]
    cut = []
    inputs, _, _ = sequence_chunks(songs, 64, np.random.default_rng(3), header=Header(3, 49, 0.5), cut=cut)
    assert len(cut) == len(inputs) and {song for song, _ in cut} == {0, 1}
    for chunk, (song, start) in zip(inputs, cut):
        # After the header (its style maybe dropped to "any"): the song from start (then padding)
        body, start = chunk[3:], max(start, 3)
        tokens = songs[song][start:start + len(body)]
        assert (body[:len(tokens)] == tokens).all() and (body[len(tokens):] == 0).all()


def test_artists_come_from_index_csv_in_the_names_people_type(pop_songs):
    from train.data import load_scores, styles_of

    corpus = load_scores(pop_songs, progress=False)
    artists = {song.name.split("/")[0]: song.artist for song in corpus.songs}
    assert artists["001"] == "JJ Lin" and artists["006"] == "someone else"
    assert styles_of(corpus.songs, 2) == ["JJ Lin"]


def chord_tokens_per_bar(events, ids):
    """The chord token each bar opens with (in either order of a bar's tokens)."""
    tokens = [events.tokens[i] for i in events.in_time_order(ids)]
    return [tokens[index + 2] for index, token in enumerate(tokens) if token == "Bar_None"]


def test_a_progression_is_forced_bar_by_bar_in_the_asked_key_and_tempo(tiny_events_model):
    events = tiny_events_model.vocab
    assert events.steerable and "JJ Lin" in events.styles
    steering = Steering.parse("Eb Bb Cm Ab", "Eb major", 96, "JJ Lin")
    for spec in ("random", "note:G4"):
        request = Request.build(tiny_events_model.config, primer=spec, seconds=20, top_p=1.0, seed=3, variations=2,
                                steering=steering)
        pieces = compose(tiny_events_model, request)
        for piece in pieces:
            assert chord_tokens_per_bar(events, piece.ids)[:6] == ["Chord_C", "Chord_G", "Chord_Am", "Chord_F"] * 1 + [
                "Chord_C", "Chord_G"]
            assert [events.tokens[i] for i in piece.ids[:3]] == ["BOS_None", "Style_JJ Lin", "Mode_major"]
            assert piece.midi.get_tempo_changes()[1][0] == pytest.approx(96)
            assert piece.midi.key_signature_changes[0].key_number == pretty_midi.key_name_to_key_number("Eb Major")
            assert piece.key == "Eb major" and piece.tempo_bpm == 96
            if spec == "note:G4":  # the note sounds as asked, in the asked key
                melody = next(i for i in piece.midi.instruments if i.name == MELODY)
                assert melody.notes[0].pitch == 67 and melody.notes[0].start == 0


def test_a_continued_piece_keeps_its_progression(tiny_events_model):
    steering = Steering.parse("Am F C G", tempo=100)
    config = tiny_events_model.config
    draft = sample_draft(tiny_events_model, Request.build(config, primer="random", seconds=10, top_p=1.0, seed=1,
                                                          steering=steering))
    longer = extend_draft(tiny_events_model, draft, 0, Request.build(config, seconds=10, top_p=1.0, seed=2))
    chords = chord_tokens_per_bar(tiny_events_model.vocab, longer.rows[0])
    assert len(chords) > len(chord_tokens_per_bar(tiny_events_model.vocab, draft.rows[0]))
    assert chords == [["Chord_Am", "Chord_F", "Chord_C", "Chord_G"][bar % 4] for bar in range(len(chords))]
    assert pieces_of(tiny_events_model, longer)[0].key in ("C major", "A minor")


def test_free_pieces_write_their_own_chords(tiny_events_model):
    piece = compose(tiny_events_model, Request.build(tiny_events_model.config, primer="random", seconds=10, top_p=1.0,
                                                     seed=5))[0]
    assert all(token.startswith("Chord_") for token in chord_tokens_per_bar(tiny_events_model.vocab, piece.ids))
    rows = progression_rows(parse_progression("C G Am F"), 8)
    share = chord_tone_share(piece.score.all_notes(), rows)
    assert share is None or 0 <= share <= 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(style="Nobody"), "unknown style 'Nobody': this model knows any, JJ Lin"),
    (dict(chords="C Hm"), "unknown chord 'Hm'"),
    (dict(key="C dorian"), "unknown key 'C dorian'")])
def test_bad_steering_is_named(tiny_events_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        steering = Steering.parse(**kwargs)
        make_primer(tiny_events_model, "random", 1, steering=steering)


def test_models_without_steering_tokens_say_so(tiny_model):
    with pytest.raises(ValueError, match="need an event model"):
        make_primer(tiny_model, "random", 1, steering=Steering.parse("C G"))


def test_the_cli_takes_chords_key_tempo_and_style(tiny_events_model_folder, tmp_path, capsys):
    from musicgen.__main__ import main

    out = tmp_path / "steered.mid"
    code = main(["generate", "--model", str(tiny_events_model_folder), "--seconds", "10", "--seed", "4",
                 "--chords", "Eb Bb Cm Ab", "--key", "Eb major", "--tempo", "96", "--style", "jj lin", "--out", str(out)])
    assert code == 0 and "96 BPM, Eb major" in capsys.readouterr().out
    midi = pretty_midi.PrettyMIDI(str(out))
    assert midi.get_tempo_changes()[1][0] == pytest.approx(96)
    assert midi.key_signature_changes[0].key_number == pretty_midi.key_name_to_key_number("Eb Major")
    code = main(["generate", "--model", str(tiny_events_model_folder), "--chords", "C X7", "--out", str(out)])
    assert code == 2 and "unknown chord 'X7'" in capsys.readouterr().err


def test_the_header_a_person_chooses_is_not_scored_as_music(tiny_events_model, pop_songs):
    """nats/s under a style scores p(music | style, mode, start): the header tokens are
    conditions, so a rare artist's songs are not charged for p(artist) (the steering measurement)."""
    from train.data import prepared_ids
    from evaluate.events import music_only

    events, config = tiny_events_model.vocab, tiny_events_model.config
    ids = prepared_ids(load_score(pop_songs / "001" / "001.mid"), events, config, "any")
    assert [events.grammar.kinds[i] for i in ids[:4]] == ["BOS", "Style", "Mode", "Start"]
    probabilities = np.arange(1, len(ids), dtype=float)  # p[t] belongs to ids[t + 1]
    kept = music_only(events, [ids], [probabilities])[0]
    assert len(kept) == len(ids) - 4 and kept[0] == probabilities[3]  # from the first music token on


def test_chunks_from_a_songs_middle_say_so_and_open_on_a_bar_line(pop_songs):
    """With start tokens, the song's own first chunk reads Start_opening and every other chunk
    Start_middle then a Bar: the network can tell a song's start from its middle, as a sampled
    piece asks for one or the other."""
    from train.data import Header, sequence_chunks

    events = Events.new(styles=["JJ Lin"], starts=True)
    ids = events.encode(load_score(pop_songs / "001" / "001.mid"), "JJ Lin")
    opening, middle = events.start_ids("opening")[0], events.start_ids("middle")[0]
    assert list(ids[:5]) == [*events.header("JJ Lin", "major"), opening, events.grammar.bar_id]
    header = Header(4, events.style_id("any"), 0.0, middle, events.grammar.bar_id)
    for rng in (np.random.default_rng(0), None):
        inputs, targets, weights = sequence_chunks([ids], 48, rng, header=header)
        assert len(inputs) > 3 and inputs[0, 3] == opening and (inputs[1:, 3] == middle).all()
        assert (inputs[1:, 4] == events.grammar.bar_id).all()
        assert (weights[1:, :4] == 0).all() and (weights[1:, 4:].sum(axis=1) > 0).all()
        # no chunk from the middle is the song's opening again
        assert not any(np.array_equal(row[4:20], ids[4:20]) for row in inputs[1:])
    # a model without start tokens keeps its three-token header
    plain = Events.new(styles=["JJ Lin"])
    assert plain.start_ids("middle") == [] and len(plain) == len(events) - 2
    assert [plain.tokens[i] for i in plain.encode(load_score(pop_songs / "001" / "001.mid"))[:4]] == [
        "BOS_None", "Style_any", "Mode_major", "Bar_None"]
    with pytest.raises(ValueError, match="opening or middle"):
        events.start_ids("chorus")


def test_the_start_follows_the_mode_and_survives_saving(tmp_path):
    events = Events.new(styles=["JJ Lin"], starts=True)
    grammar = events.grammar
    after_mode = grammar.allowed(("Mode", -1))
    assert {events.tokens[i] for i in np.flatnonzero(after_mode)} == {"Start_opening", "Start_middle"}
    after_start = grammar.advance(("Mode", -1), events.start_ids("middle")[0])
    assert [events.tokens[i] for i in np.flatnonzero(grammar.allowed(after_start))] == ["Bar_None"]
    events.save(tmp_path)
    loaded = Events.load(tmp_path)
    assert loaded.starts and loaded.vocab == events.vocab
    assert not Events.new(styles=["JJ Lin"]).starts and not Events.new(starts=True).starts  # steerable only


def test_a_piece_starts_where_the_config_says_and_a_long_file_is_continued_from_its_middle(tiny_events_model,
                                                                                            tmp_path):
    events = tiny_events_model.vocab
    assert events.starts and tiny_events_model.config.start in ("opening", "middle")
    for start in ("opening", "middle"):
        model = dataclasses.replace(tiny_events_model, config=tiny_events_model.config.replace(start=start))
        piece = compose(model, Request.build(model.config, primer="random", seconds=10, top_p=1.0, seed=1))[0]
        assert events.tokens[piece.ids[3]] == f"Start_{start}" and piece.note_count > 0
        assert events.starts_inside(piece.ids) == (start == "middle")
    for bars, where in ((8, "opening"), (24, "middle")):  # the primer reads the last 16 bars
        song = pretty_midi.PrettyMIDI(initial_tempo=120.0)
        piano = pretty_midi.Instrument(0)
        piano.notes = [pretty_midi.Note(90, 60 + beat % 5, beat * 0.5, beat * 0.5 + 0.4) for beat in range(bars * 4)]
        song.instruments.append(piano)
        song.write(str(tmp_path / f"{bars}.mid"))
        primer = make_primer(tiny_events_model, f"midi:{tmp_path / f'{bars}.mid'}", 1)
        assert events.tokens[primer.ids[3]] == f"Start_{where}"


def test_a_model_without_start_tokens_says_it_cannot_be_asked_where_to_start(tiny_events_model):
    older = dataclasses.replace(tiny_events_model, vocab=Events.new(styles=["JJ Lin"]))
    make_primer(older, "random", steering=Steering.parse())  # the model's own start: fine
    with pytest.raises(ValueError, match="trained without start tokens"):
        make_primer(older, "random", steering=Steering.parse(start="middle"))
    with pytest.raises(ValueError, match="starts at the song's opening or middle, not 'chorus'"):
        Steering.parse(start="chorus")
    asked = Steering.parse(start="Opening ")
    assert asked.start == "opening" and Steering.from_json(asked.to_json()) == asked
    assert "as songs begin" in asked.describe() and not asked.is_free
