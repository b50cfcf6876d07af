import numpy as np
import pytest
from scipy.io import wavfile

from musicgen import audio
from musicgen.midi import load_midi, midi_to_tokens, tokens_to_midi

TOKENS = ["60", "60", "60,64", "64,67", "e", "72", "72", "e", "e", "55"]  # 2 s at 5 fps


def check_wav(path, seconds):
    sample_rate, samples = wavfile.read(path)
    assert sample_rate == audio.SAMPLE_RATE
    assert samples.ndim == 2 and samples.shape[1] == 2
    assert len(samples) / sample_rate == pytest.approx(seconds, abs=0.01)
    assert np.abs(samples).max() > 16000  # normalized: near -1 dBFS, not silent
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


def test_the_ogg_encoded_as_fluidsynth_renders_is_the_ogg_of_the_audio_returned_at_the_same_loudness(tmp_path):
    needs_fluidsynth()
    midi = tokens_to_midi(TOKENS * 10, 5)
    seen = []
    rendered = audio.render_with_ogg(midi, tmp_path / "beside.ogg", meanwhile=seen.append)
    assert seen == [rendered]
    audio.write_ogg(rendered, tmp_path / "after.ogg")
    assert np.array_equal(decoded(tmp_path / "beside.ogg"), decoded(tmp_path / "after.ogg"))
    # The same sound as render()'s, at the loudness read from the quick render: within 0.25 dB.
    alone = audio.render(midi)
    assert rendered.samples.shape == alone.samples.shape
    ratio = np.sqrt(np.mean(np.square(rendered.samples, dtype=np.float64)) / np.mean(np.square(alone.samples, dtype=np.float64)))
    assert abs(20 * np.log10(ratio)) < 0.25
    assert np.abs(rendered.samples - ratio * alone.samples).max() < 1e-3
    assert np.abs(rendered.samples).max() <= audio.PEAK


def test_the_limiter_block_by_block_gives_what_it_gives_over_the_whole():
    rng = np.random.default_rng(0)
    samples = rng.normal(0, 0.3, (50000, 2)).astype(np.float32)
    samples[0], samples[20000:20010], samples[-1] = 3.0, 2.0, 4.0  # peaks at both ends and inside
    whole = audio.limited(samples)
    assert np.abs(whole).max() <= audio.PEAK and np.abs(whole - samples).max() > 1.0  # it does hold peaks down
    cuts = np.sort(rng.choice(np.arange(1, len(samples)), 60, replace=False))
    blocks = np.split(samples, cuts)
    for block_frames in (1, 700, 16384):
        out = list(audio.limited_blocks(iter(blocks), block_frames=block_frames))
        assert all(len(block) == block_frames for block in out[:-1]) and 0 < len(out[-1]) <= block_frames
        assert np.array_equal(np.concatenate(out), whole)


def test_a_stream_that_clips_is_written_again_from_the_start(tmp_path, monkeypatch):
    needs_fluidsynth()
    midi = tokens_to_midi(["48,52,55,60,64,67,72"] * 20, 5, velocity=120)
    monkeypatch.setattr(audio, "PEAK_PER_LOUDNESS", audio.PEAK_PER_LOUDNESS / 8)  # a gain 8x too high ...
    render_fluidsynth = audio._render_fluidsynth

    def quiet_quick_render(midi, sample_rate, gain):  # ... that the quick render does not show
        samples = render_fluidsynth(midi, sample_rate, gain)
        return samples / 16 if sample_rate == audio.LOUDNESS_RATE else samples

    monkeypatch.setattr(audio, "_render_fluidsynth", quiet_quick_render)
    rendered = audio.render_with_ogg(midi, tmp_path / "again.ogg")
    assert rendered.seconds == pytest.approx(midi.get_end_time() + audio.RELEASE_SECONDS, abs=0.01)
    assert np.abs(rendered.samples).max() <= audio.PEAK and -20 <= rms_dbfs(rendered.samples) <= -14
    audio.write_ogg(rendered, tmp_path / "after.ogg")
    assert np.array_equal(decoded(tmp_path / "again.ogg"), decoded(tmp_path / "after.ogg"))


def rms_dbfs(samples) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))))


@pytest.mark.parametrize("synth", ["fluidsynth", "simple"])
def test_sparse_and_busy_pieces_come_out_equally_loud_and_never_clip(synth, monkeypatch):
    if synth == "simple":
        monkeypatch.setenv("MUSICGEN_SYNTH", "simple")
    else:
        needs_fluidsynth()
    for tokens in (["60", "e", "e", "e", "e", "62"], ["60", "62", "64", "65"], ["48,52,55,60,64,67,72"] * 4):
        for velocity in (40, 120):
            samples = audio.render(tokens_to_midi(tokens, 5, velocity=velocity)).samples
            assert np.abs(samples).max() <= audio.PEAK  # -1 dBFS
            assert -20 <= rms_dbfs(samples) <= -14


def test_the_limiter_holds_a_lone_peak_without_turning_the_piece_down():
    rng = np.random.default_rng(0)
    samples = np.repeat(rng.normal(0, 0.05, (32000, 1)), 2, axis=1).astype(np.float32)
    samples[16000] = 0.35  # one click, 17 dB over the rest: at -16 dBFS it would reach +1 dBFS
    out = audio.normalized(samples)
    assert np.abs(out).max() <= audio.PEAK
    assert abs(rms_dbfs(out) + 16) < 0.1  # the piece is at its loudness; only the click was held down
    assert np.allclose(audio.normalized(samples * 1e-3), out, atol=1e-4)  # 60 dB down: the same result
    samples[16000] = 0.7  # 23 dB over: more than the limiter may take; the piece stays quieter, unclipped
    louder_click = audio.normalized(samples)
    assert np.abs(louder_click).max() <= audio.PEAK and -20 <= rms_dbfs(louder_click) < -16.5


def test_the_soundfont_is_the_one_asked_then_fluidr3_then_the_small_one(tmp_path, monkeypatch):
    fluid = tmp_path / "FluidR3_GM.sf2"
    monkeypatch.setattr(audio, "SYSTEM_SOUNDFONTS", (tmp_path / "nowhere.sf2", fluid))
    monkeypatch.delenv("MUSICGEN_SOUNDFONT", raising=False)
    assert audio.soundfont_path().name == "TimGM6mb.sf2"
    fluid.write_bytes(b"RIFF")
    assert audio.soundfont_path() == fluid
    monkeypatch.setenv("MUSICGEN_SOUNDFONT", str(tmp_path / "mine.sf2"))
    assert audio.soundfont_path().name == "mine.sf2"


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
    assert np.abs(rendered.samples).max() <= audio.PEAK
    assert np.abs(decoded(tmp_path / "loud.ogg")).max() < 1.0


def test_an_ogg_that_cannot_be_finished_leaves_nothing_behind(tmp_path, monkeypatch):
    needs_fluidsynth()

    def broken(*args, **kwargs):
        raise RuntimeError("FluidSynth fell over")

    monkeypatch.setattr(audio, "_render_fluidsynth", broken)
    with pytest.raises(RuntimeError):
        audio.render_with_ogg(tokens_to_midi(TOKENS, 5), tmp_path / "half.ogg")
    assert not (tmp_path / "half.ogg").exists()
    monkeypatch.undo()

    played = audio._played

    def breaks_halfway(synth, soundfont_id, midi, sample_rate):  # the stream falls over once the encoder has begun
        if sample_rate == audio.LOUDNESS_RATE:  # (the quick render before it goes well)
            yield from played(synth, soundfont_id, midi, sample_rate)
            return
        yield np.zeros((audio.OGG_BLOCK_FRAMES * 3, 2), np.float32)
        assert (tmp_path / "half.ogg").exists()
        raise RuntimeError("FluidSynth fell over")

    monkeypatch.setattr(audio, "_played", breaks_halfway)
    with pytest.raises(RuntimeError, match="fell over"):
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
