"""From a person's choices to pieces with an event model: length, bars, parts, the grid, continuation,
the CLI, and the evaluation report."""
import json

import numpy as np
import pytest

from conftest import pop_song_tracks, write_midi
from musicgen.calibration.tempo import TempoTable
from musicgen.generate import compose, extend_draft, make_primer, pieces_of, sample_draft
from musicgen.request import Request
from musicgen.schemes.events import bars_for
from musicgen.midi import load_midi
from musicgen.score import ACCOMPANIMENT, MELODY


def onsets_in_sixteenths(midi) -> np.ndarray:
    """Every onset of a PrettyMIDI in sixteenths of its own tempo."""
    sixteenth = 60.0 / midi.get_tempo_changes()[1][0] / 4
    return np.array([note.start / sixteenth for instrument in midi.instruments for note in instrument.notes])


@pytest.mark.parametrize("spec", ["random", "note:E4"])
def test_pieces_end_on_the_bar_line_nearest_the_length_with_named_parts_on_the_grid(tiny_events_model, spec):
    model = tiny_events_model
    pieces = compose(model, Request.build(model.config, primer=spec, seconds=9.0, top_p=1.0, seed=1, variations=3))
    for piece in pieces:
        bar_seconds = 4 * 60.0 / piece.tempo_bpm
        bars = bars_for(9.0, piece.tempo_bpm)
        assert int(np.sum(piece.ids == model.vocab.grammar.bar_id)) == bars
        assert piece.midi.get_end_time() <= bars * bar_seconds + 1e-6
        onsets = onsets_in_sixteenths(piece.midi)
        assert len(onsets) and np.allclose(onsets, np.round(onsets), atol=1e-6)
        assert {instrument.name for instrument in piece.midi.instruments} <= {MELODY, ACCOMPANIMENT}
        assert piece.midi.time_signature_changes[0].numerator == 4
        assert piece.midi.get_tempo_changes()[1][0] == pytest.approx(piece.tempo_bpm)
    if spec.startswith("note"):  # the primer's note opens the piece
        first = min((n for i in pieces[0].midi.instruments for n in i.notes), key=lambda n: (n.start, -n.pitch))
        assert first.start == 0.0


def test_a_continuation_keeps_the_files_tempo_and_key(tiny_events_model, tmp_path):
    model = tiny_events_model
    mine = write_midi(tmp_path / "mine.mid", pop_song_tracks(3), tempo=96.0)  # E-flat, 96 BPM
    primer = make_primer(model, f"midi:{mine}", seed=0)
    assert primer.transpose == 3 and primer.tempo_bpm == pytest.approx(96.0)
    piece = compose(model, Request.build(model.config, primer=f"midi:{mine}", seconds=10.0, temperature=0.5, top_p=1.0,
                                         seed=2))[0]
    assert piece.tempo_bpm == pytest.approx(96.0)
    assert piece.midi.get_end_time() > 0  # the continuation alone, not the file again
    assert piece.midi.get_end_time() <= bars_for(10.0, 96.0) * 2.5 + 1e-6


def test_extending_a_draft_adds_bars_and_keeps_the_beginning(tiny_events_model):
    model = tiny_events_model
    draft = sample_draft(model, Request.build(model.config, primer="note:C4", seconds=6.0, top_p=1.0, seed=3, variations=2))
    more = Request.build(model.config, seconds=4.0, top_p=1.0, seed=4)
    longer = extend_draft(model, draft, 0, more)
    before, after = pieces_of(model, draft), pieces_of(model, longer)
    assert after[0].midi.get_end_time() > before[0].midi.get_end_time()
    assert longer.rows[0][:len(draft.rows[0])] == draft.rows[0]
    assert longer.rows[1] == draft.rows[1]
    notes = lambda piece: sorted((n.start, n.pitch) for i in piece.midi.instruments for n in i.notes)  # noqa: E731
    first = notes(before[0])[:5]  # the piece kept may be sparse
    assert first and notes(after[0])[:len(first)] == first
    with pytest.raises(ValueError, match="no piece 3"):
        extend_draft(model, draft, 2, more)


def test_the_cli_generates_seconds_of_music(tiny_events_model_folder, tmp_path, capsys):
    from musicgen.__main__ import main

    code = main(["generate", "--model", str(tiny_events_model_folder), "--seconds", "8", "--seed", "2",
                 "--out", str(tmp_path / "song.mid"), "--png", str(tmp_path / "song.png")])
    assert code == 0
    midi = load_midi(tmp_path / "song.mid")
    assert 0 < midi.get_end_time() <= 8.0 + 1.0 + 1e-6  # the nearest bar line at 120 BPM
    assert (tmp_path / "song.png").read_bytes()[:4] == b"\x89PNG"
    assert "BPM" in capsys.readouterr().out
    assert main(["generate", "--model", str(tiny_events_model_folder), "--frames", "20",
                 "--out", str(tmp_path / "x.mid")]) == 2
    assert "--frames is for frame models" in capsys.readouterr().err


def test_training_writes_an_event_model_folder_naming_its_songs(tiny_events_model_folder):
    names = {path.name for path in tiny_events_model_folder.iterdir()}
    assert {"model.keras", "tokenizer.json", "tempos.json", "config.json", "metrics.json", "loss.png"} <= names
    metrics = json.loads((tiny_events_model_folder / "metrics.json").read_text())
    train_songs = metrics["dataset"]["train_songs"]
    assert len(train_songs) == 4 and all(len(song["sha256"]) == 64 for song in train_songs)
    assert len(metrics["dataset"]["validation_songs"]) == 2
    assert [row["epoch"] for row in metrics["history"]] == [1, 2]


def test_resume_goes_on_after_the_last_finished_epoch(pop_songs, tmp_path):
    from train.__main__ import main

    out = tmp_path / "run"
    tiny = ["--data", str(pop_songs), "--out", str(out), "--chunk-tokens", "64", "--embedding-dim", "8",
            "--rnn-units", "8", "--batch-size", "4", "--validation-share", "0.34"]
    assert main([*tiny, "--epochs", "1"]) == 0
    config = json.loads((out / "config.json").read_text())
    config["epochs"] = 2
    (out / "config.json").write_text(json.dumps(config))
    # As after a kill: the backup of the finished epoch is what --resume goes on from.
    from train.fit import BACKUP_DIR
    (out / BACKUP_DIR).mkdir()
    import shutil
    shutil.copy(out / "model.keras", out / BACKUP_DIR / "last.keras")
    (out / BACKUP_DIR / "state.json").write_text(json.dumps({"epochs_done": 1}))
    assert main([*tiny, "--resume"]) == 0
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]


def test_the_evaluation_report_has_its_keys(tiny_events_model_folder, pop_songs, tmp_path, capsys):
    from evaluate.__main__ import main

    report_path = tmp_path / "report.json"
    assert main([str(tiny_events_model_folder), "--data", str(pop_songs), "--pieces", "6", "--seconds", "8",
                 "--out", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["held_out_songs"] == 2  # the four training songs are known by hash and left out
    for key in ("nats_per_second", "network_nats_per_second", "without_echo_nats_per_second"):
        assert report[key] > 0
    assert report["without_echo_nats_per_second"] != pytest.approx(report["nats_per_second"])  # the echo is scored
    assert set(report["ngram_nats_per_second"]) == {"1", "2", "3", "4", "5"}
    assert set(report["ngram_with_memory_nats_per_second"]) == {"1", "2", "3", "4", "5"}
    assert report["ngram_nats_per_second"]["1"] > report["ngram_nats_per_second"]["2"]  # context helps
    listening = report["listening"]
    assert listening["decoded_share"] == 1.0 and listening["generated_pieces"] == 6
    for key in ("hold_10s_share", "longest_note_median_seconds", "notes_per_second", "polyphony",
                "on_grid_share", "both_parts_share"):
        assert key in listening["generated"] and key in listening["real"]
    assert listening["real"]["on_grid_share"] == pytest.approx(1.0)
    assert 0 <= listening["classifier_auc"] <= 1
    draws = listening["classifier_auc_by_draw"]  # the AUC is the mean over draws of pieces
    assert len(draws) == 5 and listening["classifier_auc"] == pytest.approx(np.mean(draws))
    assert "classifier_auc_against_openings" in listening and "songs_openings_auc" in listening
    assert "songs_middles_auc" in listening
    assert "independent_judge_auc" in listening  # a judge the sampler never selects on (nan when too few bars)
    assert set(listening["melody_repeat"]) == {"4", "8"}  # melody bars back 4 and 8 bars later, ours and the songs'
    assert all(0 <= value <= 1 for pair in listening["melody_repeat"].values() for value in pair.values())
    assert listening["melody_repeat"]["4"]["songs"] > 0  # the songs' melodies do come back
    assert 0 <= listening["melody_in_4_bars_share"] <= 1
    assert "held-out songs" in capsys.readouterr().out
    tones = report["chord_tones"]  # a steerable model: pieces over C G Am F, and free ones
    assert tones["progression"] == "C G Am F" and set(tones["forced"]) <= {"Melody", "Accompaniment"}
    assert all(0 <= share <= 1 for share in [*tones["forced"].values(), *tones["free"].values()])
    assert report["style"] == "any"
    assert main([str(tiny_events_model_folder), "--data", str(pop_songs), "--pieces", "2", "--seconds", "4",
                 "--style", "JJ Lin", "--out", str(report_path)]) == 0
    assert json.loads(report_path.read_text())["style"] == "JJ Lin"
    assert main([str(tiny_events_model_folder), "--data", str(pop_songs), "--style", "Nobody"]) == 2
    assert "unknown style 'Nobody'" in capsys.readouterr().err


def test_a_piece_is_played_at_the_tempo_of_songs_about_as_busy_as_it_is():
    class Piece:  # fitting_tempo reads only how busy the notes are
        def __init__(self, onsets):
            self.onsets = onsets

        def onsets_per_beat(self, beats=None):
            return self.onsets

    # Sparse songs fast, busy songs slow, as in POP909.
    table = TempoTable.of([(130.0, 1.0)] * 8 + [(60.0, 4.0)] * 8)
    rng = np.random.default_rng(0)
    assert {table.fitting_tempo(Piece(1.1), rng) for _ in range(20)} == {130.0}
    assert {table.fitting_tempo(Piece(3.5), rng) for _ in range(20)} == {60.0}


def test_a_style_plays_at_the_tempi_of_its_own_songs(tmp_path):
    from musicgen.score import MELODY, Score

    opening = [4, 8, 12, 16]  # the same busy songs; the singer's are slow
    table = TempoTable.of([[66.0, 4.0, opening, "Singer"], [100.0, 4.0, opening, "any"]] * 8)
    piece = Score({MELODY: np.array([[beat, beat + 1, 60, 90] for beat in np.arange(16.0)])})
    rng = np.random.default_rng(0)
    assert {table.fitting_tempo(piece, rng, beats=16, style="singer") for _ in range(20)} == {66.0}
    assert {table.fitting_tempo(piece, rng, beats=16) for _ in range(40)} == {66.0, 100.0}
    table.save(tmp_path)
    assert TempoTable.load(tmp_path).styles == table.styles
    older = TempoTable.of([[66.0, 4.0, opening], [100.0, 4.0, opening]] * 8)  # no styles
    assert {older.fitting_tempo(piece, rng, beats=16, style="Singer") for _ in range(40)} == {66.0, 100.0}


def test_a_pieces_opening_is_matched_against_the_songs_openings_not_their_whole_length():
    from musicgen.score import MELODY, Score

    # Songs open sparser than they go on. Fast songs: 1 onset a bar at first, then busy (8 a bar):
    # over the whole song as busy as the slow ones, which play 4 a bar throughout.
    fast = [130.0, 4.0, [1, 2, 3, 4, 12, 20, 28, 36]]
    slow = [70.0, 4.0, [4, 8, 12, 16, 20, 24, 28, 32]]
    table = TempoTable.of([slow] * 8 + [fast] * 8)  # (by the whole songs, a tie: the slow ones come first)
    opening = Score({MELODY: np.array([[4.0 * bar, 4.0 * bar + 1, 60, 90] for bar in range(4)])})
    rng = np.random.default_rng(0)
    assert {table.fitting_tempo(opening, rng, beats=16) for _ in range(20)} == {130.0}
    assert Score({MELODY: np.array([[beat, beat + 1, 60, 90] for beat in np.arange(16.0)])}).opening_onsets(8) == \
        [4, 8, 12, 16]  # as many bars as the score has
    assert opening.opening_onsets(2) == [1, 2]


def test_how_busy_a_piece_is_counts_its_whole_bars_not_a_held_notes_tail():
    from musicgen.score import MELODY, Score

    # Four onsets in one bar, the last held for two more bars: 1 onset a beat over the bar written.
    notes = np.array([[0, 1, 60, 90], [1, 2, 62, 90], [2, 3, 64, 90], [3, 12, 65, 90]], float)
    assert Score({MELODY: notes}).onsets_per_beat(beats=4) == 1.0
    assert Score({MELODY: notes}).onsets_per_beat() == pytest.approx(4 / 12)


def test_the_tempo_table_keeps_each_songs_onsets_and_old_tables_still_load(tiny_events_model_folder, tmp_path):
    table = TempoTable.load(tiny_events_model_folder)
    assert table.onsets_per_beat is not None and len(table.onsets_per_beat) == len(table.tempos)
    assert all(value > 0 for value in table.onsets_per_beat)  # training wrote them
    table.save(tmp_path)
    again = TempoTable.load(tmp_path)
    assert again.tempos == pytest.approx(table.tempos) and again.onsets_per_beat == pytest.approx(table.onsets_per_beat)
    assert table.opening_onsets and again.opening_onsets == table.opening_onsets
    assert all(counts == sorted(counts) for counts in table.opening_onsets)  # onsets so far, bar by bar
    (tmp_path / "tempos.json").write_text(json.dumps([[96.0, 2.5], [120.0, 2.0]]))  # folders from before
    pairs = TempoTable.load(tmp_path)
    assert pairs.onsets_per_beat == [2.5, 2.0] and pairs.opening_onsets is None
    (tmp_path / "tempos.json").write_text(json.dumps([96.0, 120.0]))
    old = TempoTable.load(tmp_path)
    assert old.tempos == [96.0, 120.0] and old.onsets_per_beat is None and old.opening_onsets is None


def test_a_fitted_tempo_and_its_piece_do_not_depend_on_the_other_variations(tiny_events_model):
    model = tiny_events_model
    assert model.corrections.tempo.onsets_per_beat is not None  # the tempo is fitted to the notes
    alone = compose(model, Request.build(model.config, primer="random", seconds=20.0, top_p=1.0, seed=4))[0]
    together = compose(model, Request.build(model.config, primer="random", seconds=20.0, top_p=1.0, seed=4,
                                            variations=3))
    assert np.array_equal(alone.ids, together[0].ids) and alone.tempo_bpm == together[0].tempo_bpm
    for piece in together:
        assert piece.tempo_bpm in {round(tempo) for tempo in model.corrections.tempo.tempos}
        assert int(np.sum(piece.ids == model.vocab.grammar.bar_id)) == bars_for(20.0, piece.tempo_bpm)


def test_a_piece_begun_inside_a_song_is_matched_against_the_songs_as_a_whole():
    from musicgen.score import MELODY, Score

    fast = [130.0, 2.0, [1, 2, 3, 4]]  # sparse openings, 2 onsets a beat over the whole song
    slow = [70.0, 4.0, [4, 8, 12, 16]]  # 1 onset a beat at first, 4 over the whole song
    table = TempoTable.of([slow] * 8 + [fast] * 8)
    body = Score({MELODY: np.array([[beat / 2, beat / 2 + 0.5, 60, 90] for beat in range(32)])})  # 2 a beat
    rng = np.random.default_rng(0)
    assert {table.fitting_tempo(body, rng, beats=16) for _ in range(20)} == {70.0}  # like a slow song's opening
    assert {table.fitting_tempo(body, rng, beats=16, opening=False) for _ in range(20)} == {130.0}


def test_an_opening_without_a_tune_is_drawn_again_unless_an_intro_is_asked(tiny_events_model, monkeypatch):
    """melody_by_bar: rows whose melody has not come in by that bar begin again from the primer."""
    from musicgen import stateful
    from musicgen.schemes import events as event_scheme
    from musicgen.stateful import sample
    from musicgen.steering import Steering

    model, events = tiny_events_model, tiny_events_model.vocab
    bar_id, melody = events.grammar.bar_id, events.melody_program_id

    def tune_by_bar(row, bar: int) -> bool:
        tokens = list(row)
        bar_lines = [index for index, token in enumerate(tokens) if token == bar_id]
        return melody in tokens[:bar_lines[bar] if len(bar_lines) > bar else len(tokens)]

    def rows(by: int):
        return sample(model.steps, events.grammar, [events.bos_id], [6] * 16, seed=5, melody_program=melody,
                      melody_by_bar=by)

    drawn, again = rows(0), rows(2)
    assert all(int(np.sum(row == bar_id)) == 6 for row in again)  # as long as asked
    late = [index for index, row in enumerate(drawn) if not tune_by_bar(row, 2)]
    assert late, "the tiny model should leave some openings without a tune"
    assert all(tune_by_bar(again[index], 2) for index in late)
    kept = [index for index in range(16) if index not in late]  # a row with a tune in time is not touched
    assert all(np.array_equal(drawn[index], again[index]) for index in kept)
    monkeypatch.setattr(stateful, "MELODY_REDRAWS", 0)
    assert all(np.array_equal(a, b) for a, b in zip(rows(2), drawn))
    monkeypatch.undo()
    monkeypatch.setattr(event_scheme, "MELODY_BY_BAR", 3)
    for seed in range(4):  # as the scheme asks it: by the third bar
        piece = compose(model, Request.build(model.config, primer="random", seconds=20, seed=seed))[0]
        melody_notes = piece.score.parts.get(MELODY)
        assert melody_notes is not None and (melody_notes[:, 0] < 12).any()
    asked = Request.build(model.config, primer="random", seconds=20, seed=0, steering=Steering.parse(start="opening"))
    assert compose(model, asked)[0].note_count > 0  # an intro asked for is left to the network
