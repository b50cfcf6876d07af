"""Bars played again (musicgen.calibration.repeats): measured on the songs' tokens, copied by the sampler."""
import json

import numpy as np
import pytest

from conftest import assert_refuses_damaged
from musicgen.calibration.repeats import DISTANCES, Repeats, bars_of


def test_the_chances_count_bars_that_start_and_go_on_copying_an_earlier_one():
    bar = 0
    a, b, c, d = [bar, 1, 2], [bar, 3, 4], [bar, 5, 6], [bar, 7, 8]
    # Bars A B A B C D A B. Two back: bar 2 starts a copy (A), bar 3 goes on (B), bar 4 (C) ends
    # it; bars 5-7 start none. Four back: bars 4 and 5 do not copy, bar 6 starts (A), bar 7 goes on.
    ids = [*a, *b, *a, *b, *c, *d, *a, *b, bar]
    assert len(bars_of(np.array(ids), bar)) == 8
    chances = Repeats.measured([np.array(ids)], bar).chances
    assert chances[2] == pytest.approx((1 / 4, 1 / 2))
    assert chances[4] == pytest.approx((1 / 3, 1.0))
    assert chances[1] == (0.0, 0.0)


def test_a_row_with_a_sure_repeat_plays_its_first_bar_again_and_still_decodes(tiny_events_model):
    from musicgen.stateful import sample

    model = tiny_events_model
    events = model.vocab
    sure = Repeats({distance: (1.0 if distance == 1 else 0.0, 1.0) for distance in DISTANCES})
    primer = [events.bos_id, events.grammar.bar_id]
    rows = sample(model.steps, events.grammar, primer, [6, 6], seed=3, bars_in_primer=1, repeats=sure)
    for row in rows:
        bars = bars_of(np.concatenate([primer, row]), events.grammar.bar_id)
        assert len(bars) == 5 and all(later == bars[0] for later in bars[1:])
        events.decode(np.concatenate([primer, row]), 120.0)
    free = sample(model.steps, events.grammar, primer, [6, 6], seed=3, bars_in_primer=1)
    assert any(len(set(bars_of(np.concatenate([primer, row]), events.grammar.bar_id))) > 1 for row in free)


def test_under_a_progression_only_a_bar_under_the_same_chord_is_copied(tiny_events_model):
    from musicgen.schemes.events import forcing_for
    from musicgen.stateful import sample
    from musicgen.steering import Steering

    model = tiny_events_model
    events = model.vocab
    primer = [events.bos_id, events.grammar.bar_id]
    forcing = forcing_for(model, Steering.parse(chords="C G"))
    one_back = Repeats({distance: (1.0 if distance == 1 else 0.0, 1.0) for distance in DISTANCES})
    row = sample(model.steps, events.grammar, primer, [5], seed=1, bars_in_primer=1, forcing=forcing,
                 repeats=one_back)[0]
    bars = bars_of(np.concatenate([primer, row]), events.grammar.bar_id)
    assert all(later != earlier for earlier, later in zip(bars, bars[1:]))  # C then G: never one bar back
    two_back = Repeats({distance: (1.0 if distance == 2 else 0.0, 1.0) for distance in DISTANCES})
    row = sample(model.steps, events.grammar, primer, [5], seed=1, bars_in_primer=1, forcing=forcing,
                 repeats=two_back)[0]
    music = [token for token in np.concatenate([primer, row])
             if events.grammar.kinds[token] not in ("Section", "Bars")]  # a copy leaves its section's start out
    bars = bars_of(np.array(music), events.grammar.bar_id)
    assert bars[2] == bars[0] and bars[3] == bars[1]


def test_training_measures_them_and_a_folder_keeps_them(tiny_events_model_folder, tmp_path):
    repeats = Repeats.load(tiny_events_model_folder)
    assert repeats is not None and set(repeats.chances) == set(DISTANCES)
    # The little songs play one 8-bar pattern: their bars come back 4 bars later.
    assert repeats.chances[4][0] > 0
    repeats.save(tmp_path)
    again = Repeats.load(tmp_path).chances
    assert all(again[distance] == pytest.approx(repeats.chances[distance], abs=1e-4) for distance in DISTANCES)
    assert_refuses_damaged(tmp_path, "repeats.json", Repeats.load, [{"8": [1.5, 0.2]}, {"0": [0.1, 0.2]}, [0.1, 0.2],
                                                                    {"8": 0.1}, {"eight": [0.1, 0.2]}], "between 0 and 1")
    assert Repeats.load(tmp_path / "nowhere") is None


def test_scored_with_repeats_a_bar_is_as_likely_as_the_network_or_a_copy_makes_it():
    bar = 0
    a, b = [bar, 1, 2], [bar, 3, 4]
    ids = np.array([*a, *a, *b, bar])  # bars A A B
    network = np.full(len(ids) - 1, 0.5)  # each token a coin flip: a bar of 3 tokens 1/8
    sure = Repeats({distance: (1.0 if distance == 1 else 0.0, 1.0) for distance in DISTANCES})
    copied = sure.rescored(ids[:7], network[:6], bar)  # A A: the second bar is sure
    assert np.prod(copied[3:6]) == pytest.approx(1.0) and np.prod(copied[:3]) == pytest.approx(1 / 8)
    assert np.prod(sure.rescored(ids, network, bar)[6:9]) == pytest.approx(0.0)  # B was bound to copy A
    never = Repeats({distance: (0.0, 0.0) for distance in DISTANCES})
    assert np.allclose(never.rescored(ids, network, bar), network)
    # Half the time a bar copies the one before: A A scores 1/8 * (1/2 + 1/2 * 1/8) for the second.
    half = Repeats({distance: (0.5 if distance == 1 else 0.0, 0.5) for distance in DISTANCES})
    assert np.prod(half.rescored(ids[:7], network[:6], bar)[3:6]) == pytest.approx(0.5 + 0.5 / 8)
    # Then B: after a copy (belief 0.5 / 0.5625) it copies again with 1/2 + 1/2 * 1/2, else
    # (0.0625 / 0.5625) with 1/2; B is not A, so only the rest writes it, at 1/8.
    after_a_copy, after_none = 0.5 / 0.5625, 0.0625 / 0.5625
    assert np.prod(half.rescored(ids, network, bar)[6:9]) == pytest.approx((after_a_copy * 0.25 + after_none * 0.5) / 8)


def test_a_folder_from_before_gets_what_the_sampler_reads_from_its_training_songs(tiny_events_model_folder,
                                                                                  pop_songs, tmp_path, capsys):
    import shutil

    from musicgen.calibration import Corrections
    from train.calibrate import main

    folder = tmp_path / "older"
    shutil.copytree(tiny_events_model_folder, folder)
    (folder / "repeats.json").unlink()
    (folder / "articulation.json").unlink()
    tempi = json.loads((folder / "tempos.json").read_text())
    (folder / "tempos.json").write_text(json.dumps([entry[:2] for entry in tempi]))  # no openings yet
    assert main([str(folder), "--data", str(pop_songs), "--only", "tempos,articulation,repeats"]) == 0
    assert "repeats.json" in capsys.readouterr().out
    corrections = Corrections.load(folder)
    assert corrections.repeats is not None and corrections.articulation is not None
    assert corrections.tempo.opening_onsets == Corrections.load(tiny_events_model_folder).tempo.opening_onsets


def test_a_continued_piece_may_play_a_bar_of_what_it_continues(tiny_events_model):
    from musicgen.stateful import sample

    model = tiny_events_model
    events = model.vocab
    primer = [events.bos_id, events.grammar.bar_id]
    first = sample(model.steps, events.grammar, primer, [3], seed=2, bars_in_primer=1)[0]
    written = np.concatenate([primer, first, [events.grammar.bar_id]])  # three bars, then Continue's new bar
    two_back = Repeats({distance: (1.0 if distance == 2 else 0.0, 0.0) for distance in DISTANCES})
    more = sample(model.steps, events.grammar, written, [5], seed=2, bars_in_primer=4, repeats=two_back)[0]
    earlier = bars_of(written, events.grammar.bar_id)
    later = bars_of(np.concatenate([written, more, [events.grammar.bar_id]]), events.grammar.bar_id)
    assert later[3] == earlier[1] and later[4] == earlier[2]  # the first new bars: two back, in the piece before


def test_a_file_with_other_distances_than_todays_still_samples():
    few = Repeats({8: (1.0, 0.5), 2: (0.0, 0.0)})
    assert few.next_copy(np.random.default_rng(0), 10, 0) == 8
    assert few.next_copy(np.random.default_rng(0), 5, 0) == 0 and few.choices(5, 0) == {2: 0.0, 0: 1.0}
