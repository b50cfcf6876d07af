import numpy as np
import pytest

from conftest import song_tracks, write_midi
from musicgen.generate import compose, make_primer
from musicgen.request import Request
from musicgen.midi import MidiError
from musicgen.midi import transpose
from musicgen.memory import PieceMemory
from musicgen.sampling import choose, generate, last_frames, midi_primer, note_primer, random_primer


def test_the_same_seed_gives_the_same_frames(tiny_model):
    primer = random_primer(tiny_model.vocab, tiny_model.config.seq_len, seed=1).ids
    first = generate(tiny_model.network, primer, 40, temperature=1.0, seed=5)
    assert np.array_equal(first, generate(tiny_model.network, primer, 40, temperature=1.0, seed=5))
    assert not np.array_equal(first, generate(tiny_model.network, primer, 40, temperature=1.0, seed=6))
    assert first.shape == (1, 40) and first.min() >= 0 and first.max() < len(tiny_model.vocab)


def test_variations_are_a_batch_and_each_is_reproducible_alone(tiny_model):
    primer = random_primer(tiny_model.vocab, tiny_model.config.seq_len, seed=1).ids
    batch = generate(tiny_model.network, primer, 30, seed=9, variations=3)
    assert batch.shape == (3, 30)
    assert len({row.tobytes() for row in batch}) > 1
    alone = generate(tiny_model.network, primer, 30, seed=9, variations=1)
    assert np.array_equal(alone[0], batch[0])


def test_greedy_is_the_argmax_every_frame(tiny_model):
    primer = note_primer(tiny_model.vocab, "C4", tiny_model.config.seq_len).ids
    frames = generate(tiny_model.network, primer, 10, temperature=0, seed=1)
    assert np.array_equal(frames, generate(tiny_model.network, primer, 10, temperature=0, seed=2))
    window = primer.copy()
    for chosen in frames[0]:
        expected = tiny_model.network(window[None], training=False).numpy()[0].argmax()
        assert chosen == expected
        window = np.append(window[1:], chosen)


def test_top_k_and_top_p_restrict_the_choices():
    probabilities = np.array([[0.5, 0.3, 0.15, 0.05]])
    uniforms = np.linspace(0, 0.999, 200)
    def chosen(**options):
        return {int(choose(np.repeat(probabilities, 200, 0), 1.0, uniforms=uniforms, **{"top_k": 0, "top_p": 1.0, **options})[i]) for i in range(200)}
    assert chosen() == {0, 1, 2, 3}
    assert chosen(top_k=2) == {0, 1}
    assert chosen(top_p=0.7) == {0, 1}  # 0.5 alone is not enough; 0.5 + 0.3 is
    assert chosen(top_p=0.4) == {0}
    assert chosen(top_k=1, top_p=1.0) == {0}
    # A low temperature sharpens: the likeliest id wins far more often.
    cold = choose(np.repeat(probabilities, 200, 0), 0.2, 0, 1.0, uniforms)
    assert (cold == 0).mean() > 0.8


def test_random_primer_uses_only_real_ids(tiny_model):
    primer = random_primer(tiny_model.vocab, 50, seed=3, variations=4)
    assert primer.ids.shape == (4, 50)
    assert primer.ids.min() >= 0 and primer.ids.max() < len(tiny_model.vocab)


def test_note_primer_and_an_unknown_note(tiny_model):
    vocab, seq_len = tiny_model.vocab, tiny_model.config.seq_len
    single_note = next(token for token in vocab.tokens if token.isdigit())
    known = note_primer(vocab, single_note, seq_len)
    assert vocab.decode(known.ids[-1:]) == [single_note] and known.notes == []
    assert list(known.ids[:-1]) == [0] * (seq_len - 1)
    unknown = note_primer(vocab, "C8", seq_len)  # 108: far above anything in the songs
    assert unknown.notes and "nearest known token" in unknown.notes[0]
    assert vocab.decode(unknown.ids[-1:])[0] != "e"
    with pytest.raises(ValueError, match="not a note"):
        note_primer(vocab, "X9", seq_len)


def test_midi_primer_takes_the_last_frames_and_maps_unseen_chords(tiny_model, tmp_path):
    config, vocab = tiny_model.config, tiny_model.vocab
    clusters = [(pitch, 0.0, 2.0) for pitch in (60, 61, 62, 63, 66)]  # a chord no song holds
    path = write_midi(tmp_path / "mine.mid", [{"program": 0, "notes": clusters}])
    primer = midi_primer(path, vocab, config)
    assert primer.ids.shape == (config.seq_len,)
    assert primer.notes and "nearest known" in primer.notes[0]
    drums = write_midi(tmp_path / "drums.mid", [{"is_drum": True, "notes": [(36, 0, 0.4)]}])
    with pytest.raises(MidiError, match="it holds only drums"):
        midi_primer(drums, vocab, config)


def test_compose_gives_pieces_of_the_requested_length(tiny_model):
    request = Request.build(tiny_model.config, primer="note:E4", seconds=5.0, top_p=0.95, seed=2, variations=2,
                            program=24)
    pieces = compose(tiny_model, request)
    assert len(pieces) == 2
    for piece in pieces:
        assert len(piece.tokens) == 25
        assert piece.midi.instruments[0].program == 24
        assert piece.midi.get_end_time() <= 25 / tiny_model.config.frames_per_second + 1e-9
    with pytest.raises(ValueError, match="length must be above 0"):
        Request.build(tiny_model.config, seconds=0)
    with pytest.raises(ValueError, match="not random, note:NAME"):
        make_primer(tiny_model, "chord:C", seed=0)


def test_last_frames_keeps_the_end_and_pads_short_pieces_with_rests():
    assert last_frames([5, 6, 7], 5).tolist() == [0, 0, 5, 6, 7]
    assert last_frames(range(1, 9), 3).tolist() == [6, 7, 8]


def test_a_key_normalized_model_continues_in_the_uploads_own_key(tiny_model, tmp_path):
    assert tiny_model.config.key_normalize
    in_c = midi_primer(write_midi(tmp_path / "c.mid", song_tracks(0)), tiny_model.vocab, tiny_model.config)
    in_d = midi_primer(write_midi(tmp_path / "d.mid", song_tracks(2)), tiny_model.vocab, tiny_model.config)
    assert (in_c.transpose, in_d.transpose) == (0, 2)
    assert np.array_equal(in_c.ids, in_d.ids)  # the model hears both in C
    piece = compose(tiny_model, Request.build(tiny_model.config, seconds=20, top_p=1.0, seed=3), primer=in_d)[0]
    assert piece.tokens == transpose(tiny_model.vocab.decode(piece.ids), 2)


def test_a_continuation_remembers_the_whole_file_and_the_window_is_its_end(tiny_model, tmp_path):
    config, vocab = tiny_model.config, tiny_model.vocab
    path = write_midi(tmp_path / "long.mid", song_tracks(0))  # ~10 s: longer than one window
    primer = midi_primer(path, vocab, config)
    assert len(primer.history) > config.seq_len
    assert np.array_equal(primer.ids, primer.history[-config.seq_len:])
    assert len(note_primer(vocab, 60, config.seq_len).history) == 0  # a fresh start remembers nothing


def test_with_a_memory_generation_picks_up_a_repeated_phrase(tiny_model):
    seq_len = tiny_model.config.seq_len
    phrase = [1, 2, 3, 4, 5]
    history = np.array(phrase * 8, dtype=np.int32)
    memory = PieceMemory(orders=(1, 2, 4), smoothing=0.01, history=history)
    before = memory.copy()
    frames = generate(tiny_model.network, last_frames(history, seq_len), 20, seed=1, variations=2, memory=memory)
    assert (frames == np.array(phrase * 4)).mean() > 0.9  # the phrase goes on where it stopped
    assert memory.followers == before.followers  # the caller's memory is left as it was
    again = generate(tiny_model.network, last_frames(history, seq_len), 20, seed=1, variations=2, memory=memory)
    assert np.array_equal(frames, again)
    without = generate(tiny_model.network, last_frames(history, seq_len), 20, seed=1, variations=2)
    assert (without == np.array(phrase * 4)).mean() < 0.9


def test_choose_gives_each_kept_id_its_share_of_the_kept_probability():
    """Uniform numbers spread evenly over [0, 1) must land on each id as often as the exact
    temperature / top-k / top-p distribution says (the compiled loop redraws when a number
    lands on a cut id: that must not favour any kept id)."""
    from musicgen.sampling import choose

    rng = np.random.default_rng(0)
    draws = 20000
    uniforms = (np.arange(draws) + 0.5) / draws
    for trial in range(24):
        probabilities = rng.dirichlet(np.full(30, 0.3))
        probabilities[rng.random(30) < 0.2] = 0  # ids a grammar forbids
        temperature, top_k, top_p = (0.5, 1.0, 1.3)[trial % 3], (0, 5)[trial % 2], (1.0, 0.9, 0.6)[trial % 3]
        weights = probabilities ** (1 / temperature)
        order = np.argsort(-weights, kind="stable")
        ranked = weights[order]
        kept = (np.cumsum(ranked) - ranked < top_p * ranked.sum()) & (ranked > 0)
        if top_k:
            kept[top_k:] = False
        exact = np.zeros(30)
        exact[order[kept]] = ranked[kept] / ranked[kept].sum()
        ids = choose(np.repeat(probabilities[None], draws, axis=0), temperature, top_k, top_p, uniforms)
        assert np.abs(np.bincount(ids, minlength=30) / draws - exact).max() < 2e-3
        assert not set(ids) - set(order[kept])  # never a cut or forbidden id


def test_choose_draws_the_same_ids_with_shared_or_per_row_settings():
    from musicgen.sampling import choose

    rng = np.random.default_rng(0)
    for trial in range(600):  # the shared-settings path is a faster route to the same draws
        probabilities, uniforms = rng.dirichlet(np.full(50, 0.3), size=3), rng.random(3)
        temperature, top_k, top_p = (0, 0.5, 1.0, 1.3)[trial % 4], (0, 5)[trial % 2], (1.0, 0.9, 0.98)[trial % 3]
        shared = choose(probabilities, temperature, top_k, top_p, uniforms)
        per_row = choose(probabilities, np.full(3, temperature), np.full(3, top_k), np.full(3, top_p), uniforms)
        assert np.array_equal(shared, per_row)
