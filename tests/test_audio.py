import numpy as np
import pytest
from scipy.io import wavfile

from musicgen import audio
from musicgen.midi import load_midi, midi_to_tokens, tokens_to_midi, tokens_to_roll

TOKENS = ["60", "60", "60,64", "64,67", "e", "72", "72", "e", "e", "55"]  # 2 s at 5 fps


def check_wav(path, seconds):
    sample_rate, samples = wavfile.read(path)
    assert sample_rate == audio.SAMPLE_RATE
    assert samples.ndim == 2 and samples.shape[1] == 2
    assert len(samples) / sample_rate == pytest.approx(seconds, abs=0.01)
    assert np.abs(samples).max() > 16000  # near AIMED_PEAK (0.55), not silent
    return samples


def test_fluidsynth_renders_the_piece_and_its_release(tmp_path):
    if audio.fluidsynth_problem():
        pytest.skip(audio.fluidsynth_problem())
    rendered = audio.render(tokens_to_midi(TOKENS, 5))
    assert rendered.synthesizer.startswith("FluidSynth")
    audio.write_wav(rendered, tmp_path / "song.wav")
    samples = check_wav(tmp_path / "song.wav", 2.0 + audio.RELEASE_SECONDS)
    # The last note (55) still rings just after it ends: its release is kept.
    just_after = samples[int(2.05 * audio.SAMPLE_RATE):int(2.25 * audio.SAMPLE_RATE)]
    assert np.abs(just_after).max() > 300


def needs_fluidsynth():
    if audio.fluidsynth_problem():
        pytest.skip(audio.fluidsynth_problem())


def decoded(path):
    import soundfile

    return soundfile.read(str(path), dtype="float32")[0]


def test_the_ogg_encoded_while_rendering_is_the_ogg_of_the_finished_audio(tmp_path):
    needs_fluidsynth()
    midi = tokens_to_midi(TOKENS * 10, 5)  # 20 s: a hundred blocks
    rendered = audio.render_with_ogg(midi, tmp_path / "streamed.ogg")
    assert rendered.streamed
    alone = audio.render(midi)
    assert np.array_equal(rendered.samples, alone.samples)
    audio.write_ogg(alone, tmp_path / "after.ogg")
    assert np.array_equal(decoded(tmp_path / "streamed.ogg"), decoded(tmp_path / "after.ogg"))


def test_sparse_and_dense_pieces_come_out_about_equally_loud():
    needs_fluidsynth()
    peaks = {}
    for name, tokens in (("one line", ["60", "62", "64", "65"]), ("seven-note chords", ["48,52,55,60,64,67,72"] * 4)):
        for velocity in (50, 120):
            midi = tokens_to_midi(tokens, 5, velocity=velocity)
            peaks[name, velocity] = np.abs(audio.render(midi).samples).max()
    assert max(peaks.values()) <= audio.PEAK
    assert min(peaks.values()) > audio.AIMED_PEAK / 2  # within 6 dB of the aim: the gain follows the score


def test_the_loudest_moment_counts_the_notes_struck_in_the_last_second_and_still_held():
    import pretty_midi

    def loudest(*notes):  # (start, end, velocity)
        midi = pretty_midi.PrettyMIDI()
        midi.instruments.append(pretty_midi.Instrument(0))
        midi.instruments[0].notes = [pretty_midi.Note(velocity, 60 + index, start, end)
                                     for index, (start, end, velocity) in enumerate(notes)]
        return audio.loudest_moment(midi)

    assert loudest((0, 1, 127), (0, 1, 127), (0, 1, 127)) == pytest.approx(3.0)  # a chord at full velocity
    assert loudest((0, 4, 127), (0.5, 1, 127)) == pytest.approx(2.0)  # the first still rings at 0.5 s
    assert loudest((0, 4, 127), (2, 3, 127)) == pytest.approx(1.0)  # ... but not 2 s after it was struck
    assert loudest((0, 0.5, 127), (0.5, 1, 127)) == pytest.approx(1.0)  # released as the next is struck
    assert loudest((0, 1, 64)) == pytest.approx((64 / 127) ** 2)
    assert audio.loudest_moment(pretty_midi.PrettyMIDI()) == 0.0


def test_a_piece_louder_than_foreseen_is_rendered_again_without_clipping(tmp_path, monkeypatch):
    needs_fluidsynth()
    monkeypatch.setattr(audio, "PEAK_PER_LOUDNESS", audio.PEAK_PER_LOUDNESS / 8)  # a gain 8x too high
    midi = tokens_to_midi(["48,52,55,60,64,67,72"] * 4, 5, velocity=120)
    rendered = audio.render_with_ogg(midi, tmp_path / "loud.ogg")
    assert not rendered.streamed
    assert np.abs(rendered.samples).max() == pytest.approx(audio.PEAK)
    assert np.abs(decoded(tmp_path / "loud.ogg")).max() < 1.0  # what was streamed, clipped, is not what is kept


def test_an_ogg_that_cannot_be_finished_leaves_nothing_behind(tmp_path, monkeypatch):
    needs_fluidsynth()

    def broken(*args, **kwargs):
        raise RuntimeError("FluidSynth fell over")

    monkeypatch.setattr(audio, "_render_fluidsynth", broken)
    with pytest.raises(RuntimeError):
        audio.render_with_ogg(tokens_to_midi(TOKENS, 5), tmp_path / "half.ogg")
    assert not (tmp_path / "half.ogg").exists()
    monkeypatch.undo()
    with pytest.raises(OSError):
        audio.render_with_ogg(tokens_to_midi(TOKENS, 5), tmp_path / "no such folder" / "piece.ogg")


def test_the_fallback_synthesizer_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_SYNTH", "simple")
    rendered = audio.render(tokens_to_midi(TOKENS, 5))
    assert rendered.synthesizer.startswith("simple built-in synthesizer")
    audio.write_wav(rendered, tmp_path / "simple.wav")
    check_wav(tmp_path / "simple.wav", 2.0 + audio.RELEASE_SECONDS)


def test_a_missing_fluidsynth_library_falls_back(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_fluidsynth(name, *args, **kwargs):
        if name == "fluidsynth":
            raise ImportError("Couldn't find the FluidSynth library.")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fluidsynth)
    assert "not installed" in audio.fluidsynth_problem()
    assert audio.render(tokens_to_midi(["60"], 5)).synthesizer.startswith("simple")


def test_mid_file_parses_back_with_the_notes_and_duration(tmp_path):
    midi = tokens_to_midi(TOKENS, 5, program=0, velocity=90)
    midi.write(str(tmp_path / "song.mid"))
    again = load_midi(tmp_path / "song.mid")
    assert again.get_end_time() == pytest.approx(2.0)
    assert midi_to_tokens(again, "all", 5) == TOKENS
    assert [n.pitch for n in again.instruments[0].notes] == [60, 64, 67, 72, 55]


def test_piano_roll_png(tmp_path):
    audio.write_piano_roll(tokens_to_roll(TOKENS), 5, tmp_path / "roll.png", title="test")
    assert (tmp_path / "roll.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_piano_roll_draws_higher_notes_higher_and_later_notes_further_right():
    roll = np.zeros((10, 128))
    roll[:5, 60] = roll[5:, 72] = 1
    pixels = np.asarray(audio.piano_roll_picture(roll, 5, "two notes"))
    note = (pixels == audio.NOTE_COLOUR).all(axis=2)
    left, _, right, _ = audio.MARGINS
    middle = left + (pixels.shape[1] - left - right) // 2  # where the fifth of ten frames ends
    low_rows, low_columns = np.nonzero(note[:, :middle])
    high_rows, high_columns = np.nonzero(note[:, middle:])
    assert len(low_rows) and len(high_rows)
    assert high_rows.max() < low_rows.min()  # C5 (second half) drawn above C4 (first half)
    assert not (np.asarray(audio.piano_roll_picture(np.zeros((10, 128)), 5)) == audio.NOTE_COLOUR).all(axis=2).any()


def test_many_requests_at_once_give_what_each_gives_alone(tiny_model):
    """One synthesizer per thread and no shared state: concurrent renders and samples match serial ones."""
    from concurrent.futures import ThreadPoolExecutor

    from musicgen.generate import compose
    from musicgen.request import Request

    def make(seed):
        piece = compose(tiny_model, Request.build(tiny_model.config, primer="random", seconds=30, top_p=0.95,
                                                  seed=seed))[0]
        return piece.ids, audio.render(piece.midi).samples

    serial = [make(seed) for seed in range(8)]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(make, range(8)))
    for (ids, samples), (parallel_ids, parallel_samples) in zip(serial, parallel):
        assert np.array_equal(ids, parallel_ids)
        # Sample for sample: nothing of another request, no reverb tail or block offset of a previous piece.
        assert np.array_equal(samples, parallel_samples)
    assert np.abs(serial[0][1] - serial[1][1]).max() > 0.1  # while different pieces differ audibly
