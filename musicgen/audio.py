"""PrettyMIDI -> audio through FluidSynth (or a simple built-in synthesizer) at one loudness; WAV and Ogg files."""
from __future__ import annotations

import io
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi
from scipy.io import wavfile

# 32 kHz, as the field's generated-music demos (MusicGen) play: the General MIDI soundfont puts
# next to nothing above 16 kHz (60-79 dB under the whole, two 30 s pieces), and FluidSynth and the
# Vorbis encoder then do 27% less work (60 s of music: render 0.33 -> 0.25 s, encode 0.35 -> 0.27 s).
SAMPLE_RATE = 32000
RELEASE_SECONDS = 1.0  # rendered after the last note ends, so its release is not cut off
PEAK = 0.89  # about -1 dBFS: the loudest a piece may be
# Every piece leaves at one loudness, busy or sparse: its RMS brought to TARGET_RMS, its peaks
# held under PEAK by a limiter (normalized). Pieces came out at -24 to -18 dBFS RMS before,
# whatever the soundfont (docs/measurements/sound.md).
TARGET_RMS = 10 ** (-16 / 20)  # -16 dBFS
MAX_LIMITING = 10 ** (6 / 20)  # the limiter takes at most 6 dB off a peak; beyond, the piece stays quieter
LIMITER_SECONDS = 0.01  # how fast the limiter's gain moves (it looks this far ahead)
# FluidSynth writes 16-bit samples, so its gain is chosen from the score before rendering: the
# score's loudest moment, the sum of (velocity / 127)^2 of the notes struck in the last second and
# still held, predicts the peak (TimGM6mb at FluidSynth's gain 0.2: 0.016-0.033 times that sum,
# median 0.022; FluidR3_GM plays up to 4x louder). Aimed at -12 dBFS, so that either soundfont's
# worst miss stays under full scale (16 bits leave 80 dB under that); a piece that would pass it
# anyway is rendered again, quieter. normalized() then sets the loudness.
PEAK_PER_LOUDNESS = 0.022 / 0.2  # peak / (gain * loudest moment), the median measured
AIMED_PEAK = 0.25
CLIPPED = 0.99  # a FluidSynth render peaking here hit 16-bit full scale: it is rendered again, quieter
# The Ogg the page plays is encoded as FluidSynth renders, so its loudness must be known first: it
# is read from the piece rendered at 8 kHz (a third of the time; its RMS 0.05-0.12 dB under the
# full render's, its peak up to 1.5 dB off: docs/measurements/sound.md). A piece whose quick render
# comes within QUICK_PEAK_MISS of clipping, or of a gain the limiter would decide, is rendered whole first.
LOUDNESS_RATE = 8000
QUICK_PEAK_MISS = 10 ** (2 / 20)
# The General MIDI soundfonts tried in order: Debian's fluid-soundfont-gm (FluidR3_GM, the standard
# free GM set: a real piano), then the small one pretty_midi ships.
SYSTEM_SOUNDFONTS = (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), Path("/usr/share/soundfonts/FluidR3_GM.sf2"))


@dataclass
class Audio:
    samples: np.ndarray  # float32, (n, 2), peak <= PEAK
    sample_rate: int
    synthesizer: str  # what made it, for the user ("FluidSynth, FluidR3_GM.sf2" or a fallback note)

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def soundfont_path() -> Path:
    """MUSICGEN_SOUNDFONT, else FluidR3_GM where the system has it, else the soundfont pretty_midi ships."""
    override = os.environ.get("MUSICGEN_SOUNDFONT")
    if override:
        return Path(override)
    return next((path for path in SYSTEM_SOUNDFONTS if path.is_file()),
                Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")


def synthesizer_name() -> str:
    """What will play the pieces, in words ("FluidSynth, FluidR3_GM.sf2")."""
    problem = fluidsynth_problem()
    return f"FluidSynth, {soundfont_path().name}" if problem is None else f"simple built-in synthesizer ({problem})"


def fluidsynth_problem() -> str | None:
    """Why FluidSynth cannot be used here, or None when it can."""
    if os.environ.get("MUSICGEN_SYNTH") == "simple":
        return "MUSICGEN_SYNTH=simple"
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        return "the FluidSynth library is not installed (apt-get install libfluidsynth3)"
    if not soundfont_path().is_file():
        return f"soundfont {soundfont_path()} not found"
    return None


def _synthesizer(sample_rate: int, soundfont: Path, gain: float):
    """A new synthesizer for each piece (about 30 ms).

    A reused one carries state from its last piece: the reverb tail, the position inside its
    64-sample block (which shifts every note onset), and the dither sequence. A fresh one makes
    the same piece the same audio whatever ran before, in any thread.
    """
    import fluidsynth

    # Only the samples a piece plays are read: FluidR3_GM is 148 MB (whole: 0.3 s a load; so: 0.03 s).
    synth = fluidsynth.Synth(gain=gain, samplerate=float(sample_rate), **{"synth.dynamic-sample-loading": 1})
    soundfont_id = synth.sfload(str(soundfont))
    if soundfont_id < 0:
        synth.delete()
        raise RuntimeError(f"FluidSynth could not load {soundfont}")
    return synth, soundfont_id


def loudest_moment(midi: pretty_midi.PrettyMIDI) -> float:
    """The largest sum of (velocity / 127)^2 over the notes sounding at an onset, counting a note
    for at most a second after it is struck (a struck note's sound decays)."""
    notes = [note for instrument in midi.instruments if not instrument.is_drum for note in instrument.notes]
    if not notes:
        return 0.0
    starts = np.array([note.start for note in notes])
    ends = np.minimum([note.end for note in notes], starts + 1.0)
    energy = (np.array([note.velocity for note in notes]) / 127.0) ** 2

    def struck_by(times, order):  # the energy of the notes whose `times` are <= each onset
        cumulative = np.concatenate([[0.0], np.cumsum(energy[order])])
        return cumulative[np.searchsorted(times[order], starts, side="right")]

    # Sounding at t: struck at or before t, not yet ended (a note ends after it starts).
    return float((struck_by(starts, np.argsort(starts)) - struck_by(ends, np.argsort(ends))).max())


def fluidsynth_gain(midi: pretty_midi.PrettyMIDI) -> float:
    """FluidSynth's gain that should put midi's peak near AIMED_PEAK (within FluidSynth's 0-10)."""
    return float(np.clip(AIMED_PEAK / (PEAK_PER_LOUDNESS * max(loudest_moment(midi), 1e-3)), 0.05, 10.0))


def _render_fluidsynth(midi: pretty_midi.PrettyMIDI, sample_rate: int, gain: float) -> np.ndarray:
    synth, soundfont_id = _synthesizer(sample_rate, soundfont_path(), gain)
    try:
        return _play(synth, soundfont_id, midi, sample_rate)
    finally:
        synth.delete()


def _play(synth, soundfont_id: int, midi: pretty_midi.PrettyMIDI, sample_rate: int) -> np.ndarray:
    """The piece's samples, float32 (n, 2), with RELEASE_SECONDS after its last note."""
    chunks = list(_played(synth, soundfont_id, midi, sample_rate))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), np.float32)


def _played(synth, soundfont_id: int, midi: pretty_midi.PrettyMIDI, sample_rate: int):
    """_play()'s samples as FluidSynth writes them, float32 (n, 2) blocks from one note event to the next."""
    events = []  # (sample, 0 = off before 1 = on, channel, pitch, velocity)
    melodic_channels = [channel for channel in range(16) if channel != 9]
    for index, instrument in enumerate(midi.instruments):
        channel = 9 if instrument.is_drum else melodic_channels[index % len(melodic_channels)]
        synth.program_select(channel, soundfont_id, 128 if instrument.is_drum else 0,
                             0 if instrument.is_drum else instrument.program)
        for note in instrument.notes:
            events.append((round(note.start * sample_rate), 1, channel, note.pitch, note.velocity))
            events.append((round(note.end * sample_rate), 0, channel, note.pitch, 0))
    events.sort()
    end = (events[-1][0] if events else 0) + round(RELEASE_SECONDS * sample_rate)
    events.append((end, 0, -1, 0, 0))  # the release: nothing to do but render up to it
    rendered = 0
    for sample, is_on, channel, pitch, velocity in events:
        if sample > rendered:
            yield synth.get_samples(sample - rendered).reshape(-1, 2).astype(np.float32) / 32768.0
            rendered = sample
        if is_on:
            synth.noteon(channel, pitch, velocity)
        elif channel >= 0:
            synth.noteoff(channel, pitch)


def _render_simple(midi: pretty_midi.PrettyMIDI, sample_rate: int) -> np.ndarray:
    """A few decaying harmonics per note: plain, but it needs no system library."""
    length = round((midi.get_end_time() + RELEASE_SECONDS) * sample_rate)
    mono = np.zeros(length, dtype=np.float32)
    release = round(0.3 * sample_rate)
    for instrument in midi.instruments:
        if instrument.is_drum:
            continue
        for note in instrument.notes:
            start = round(note.start * sample_rate)
            held = max(round(note.end * sample_rate) - start, 1)
            n = min(held + release, length - start)
            t = np.arange(n) / sample_rate
            frequency = pretty_midi.note_number_to_hz(note.pitch)
            tone = sum(np.sin(2 * np.pi * frequency * k * t) / k ** 2 for k in (1, 2, 3))
            envelope = np.exp(-3.0 * t) * np.minimum(1.0, np.maximum(0.0, (held + release - np.arange(n)) / release))
            envelope *= np.minimum(1.0, np.arange(n) / (0.005 * sample_rate))  # no click at the start
            mono[start:start + n] += (note.velocity / 127.0) * tone * envelope
    return np.stack([mono, mono], axis=1)


def render(midi: pretty_midi.PrettyMIDI, sample_rate: int = SAMPLE_RATE) -> Audio:
    """Stereo audio of midi, lasting its end time plus RELEASE_SECONDS, at one loudness (normalized)."""
    problem = fluidsynth_problem()
    if problem is None:
        gain = fluidsynth_gain(midi)
        samples = _render_fluidsynth(midi, sample_rate, gain)
        if np.abs(samples).max(initial=0.0) >= CLIPPED:  # at 16-bit full scale: clipped inside FluidSynth
            samples = _render_fluidsynth(midi, sample_rate, gain / 4)
    else:
        samples = _render_simple(midi, sample_rate)
    return Audio(normalized(samples, sample_rate), sample_rate, synthesizer_name())


def normalized(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """samples at TARGET_RMS, their peaks held under PEAK by a look-ahead limiter (at most
    MAX_LIMITING off any peak: a piece that would need more is left quieter instead)."""
    samples = np.asarray(samples, np.float32)
    gain = loudness_gain(samples)
    return samples if gain is None else limited(samples * gain, sample_rate)


def loudness_gain(samples: np.ndarray) -> float | None:
    """The gain that brings samples to TARGET_RMS, or their peak to MAX_LIMITING over PEAK where
    that is less; None for silence."""
    level = rms(samples)
    if level <= 0:
        return None
    return min(TARGET_RMS / level, MAX_LIMITING * PEAK / float(np.abs(samples).max()))


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


def limited(louder: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """louder with its peaks held under PEAK by the look-ahead limiter."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    # Per sample; the louder channel taken column by column (a max along axis 1 of (n, 2) costs 20x).
    wanted = np.minimum(1.0, PEAK / np.maximum(np.maximum(np.abs(louder[:, 0]), np.abs(louder[:, 1])), 1e-9))
    if wanted.min(initial=1.0) < 1.0:
        # Each point's gain is the mean over `width` of minima over 2 * width around it, so it never
        # rises above what any sample within reach wants: no peak passes PEAK, and the gain moves smoothly.
        width = _limiter_width(sample_rate)
        envelope = uniform_filter1d(minimum_filter1d(wanted, 2 * width + 1, mode="nearest"), width, mode="nearest")
        louder = louder * np.minimum(envelope, wanted)[:, None]
    return np.clip(louder, -PEAK, PEAK).astype(np.float32)  # (the clip only catches float rounding)


def _limiter_width(sample_rate: int) -> int:
    return max(1, round(LIMITER_SECONDS * sample_rate))


def limited_blocks(blocks, sample_rate: int = SAMPLE_RATE, block_frames: int = 16384):
    """limited() over the blocks one after another, as they come, in blocks of block_frames
    samples (the last may be shorter). A sample's gain reads 1.5 limiter widths either side of
    it, so each waits for twice the width after it; the rest is the same arithmetic."""
    reach = 2 * _limiter_width(sample_rate) + 1
    before = np.zeros((0, 2), np.float32)  # up to `reach` samples already given: what the next ones read
    waiting: list[np.ndarray] = []
    count = 0
    for block in blocks:
        waiting.append(block)
        count += len(block)
        if count >= block_frames + reach:
            pending = np.concatenate(waiting)
            ready = (count - reach) // block_frames * block_frames
            done = limited(np.concatenate([before, pending]), sample_rate)[len(before):len(before) + ready]
            before = np.concatenate([before, pending[:ready]])[-reach:]
            waiting, count = [pending[ready:]], count - ready
            yield from np.split(done, range(block_frames, ready, block_frames))
    if count:
        done = limited(np.concatenate([before, *waiting]), sample_rate)[len(before):]
        yield from np.split(done, range(block_frames, len(done), block_frames))


def wav_bytes(audio: Audio) -> bytes:
    """16-bit PCM WAV."""
    buffer = io.BytesIO()
    wavfile.write(buffer, audio.sample_rate, np.round(audio.samples * 32767).astype(np.int16))
    return buffer.getvalue()


def write_wav(audio: Audio, path: str | Path) -> None:
    Path(path).write_bytes(wav_bytes(audio))


OGG_BLOCK_FRAMES = 16384  # libsndfile's Vorbis encoder crashes on one very large write; blocks are fine


def _ogg_file(path: str | Path, sample_rate: int):
    """Ogg Vorbis (libsndfile through soundfile): what the page's player gets, about a tenth of
    the WAV (docs/measurements/web-demo.md)."""
    import soundfile

    try:
        return soundfile.SoundFile(str(path), "w", sample_rate, 2, format="OGG", subtype="VORBIS")
    except soundfile.LibsndfileError as error:  # a missing folder, no permission: an OSError like any other
        raise OSError(str(error)) from None


def _write_blocks(file, samples: np.ndarray) -> None:
    for start in range(0, len(samples), OGG_BLOCK_FRAMES):
        file.write(samples[start:start + OGG_BLOCK_FRAMES])


def write_ogg(audio: Audio, path: str | Path) -> None:
    with _ogg_file(path, audio.sample_rate) as file:
        _write_blocks(file, audio.samples)


class _OggEncoder:
    """An Ogg written block by block in a thread of its own: libsndfile lets go of Python's lock
    while it encodes, so the encoder runs beside whatever this thread does next."""

    def __init__(self, path: str | Path, sample_rate: int):
        self.file = _ogg_file(path, sample_rate)  # an OSError here, before any thread starts
        self.blocks: queue.SimpleQueue = queue.SimpleQueue()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._encode, name="ogg-encoder", daemon=True)
        self.thread.start()

    def _encode(self) -> None:
        try:
            while (block := self.blocks.get()) is not None:
                if self.failure is None:  # after a failure the queue is only emptied
                    _write_blocks(self.file, block)
        except BaseException as error:  # noqa: BLE001 - raised in the caller's thread by finish()
            self.failure = error
            while self.blocks.get() is not None:
                pass

    def put(self, samples: np.ndarray) -> None:
        self.blocks.put(samples)

    def finish(self, quietly: bool = False) -> None:
        """Waits for the last block, closes the file; the encoder's failure, if any, is raised here
        (unless quietly: when another failure is already on its way)."""
        self.blocks.put(None)
        self.thread.join()
        try:
            self.file.close()
        except Exception as error:  # noqa: BLE001 - a file that cannot be finished is a failure like any
            self.failure = self.failure or error
        if self.failure is not None and not quietly:
            raise self.failure


def render_with_ogg(midi: pretty_midi.PrettyMIDI, ogg_path: str | Path, sample_rate: int = SAMPLE_RATE,
                    meanwhile=None) -> Audio:
    """render()'s audio with its Ogg, encoded in a second thread as FluidSynth renders
    (_streamed: each block brought to the loudness read first from the piece rendered at
    LOUDNESS_RATE); then meanwhile(audio), when given, runs in this thread (the other files of a
    piece: the WAV and the picture) while the encoder finishes. A half-written Ogg is removed."""
    try:
        streamed = _streamed(midi, ogg_path, sample_rate)
        if streamed is None:  # rendered whole first (no FluidSynth, or a piece the stream cannot foresee)
            rendered = render(midi, sample_rate)
            encoder = _OggEncoder(ogg_path, sample_rate)
            encoder.put(rendered.samples)
        else:
            rendered, encoder = streamed
        try:
            if meanwhile is not None:
                meanwhile(rendered)
        finally:
            encoder.finish()
    except BaseException:
        if Path(ogg_path).is_file():  # nothing half-written is left (and a device is left alone)
            Path(ogg_path).unlink(missing_ok=True)
        raise
    return rendered


def _streamed(midi: pretty_midi.PrettyMIDI, ogg_path: str | Path, sample_rate: int
              ) -> tuple[Audio, _OggEncoder] | None:
    """(the audio, its encoder still at work): FluidSynth's blocks at the loudness the piece has
    rendered at LOUDNESS_RATE, limited and sent to the encoder as they come. None (nothing
    written) where the piece must be rendered whole first: without FluidSynth, where the quick
    render peaks near full scale or so far above its loudness that the limiter would decide the
    gain, or where a block clips inside FluidSynth after all (render() then renders it quieter)."""
    if fluidsynth_problem() is not None:
        return None
    gain = fluidsynth_gain(midi)
    quick = _render_fluidsynth(midi, LOUDNESS_RATE, gain)
    loudness = rms(quick)
    peak = float(np.abs(quick).max(initial=0.0)) * QUICK_PEAK_MISS  # as loud as the full render may peak
    if loudness <= 0 or peak >= CLIPPED or TARGET_RMS / loudness * peak > MAX_LIMITING * PEAK:
        return None
    level = TARGET_RMS / loudness

    def louder(blocks):
        for block in blocks:
            if np.abs(block).max(initial=0.0) >= CLIPPED:
                raise _ClippedInFluidSynth
            yield block * level

    encoder = _OggEncoder(ogg_path, sample_rate)
    synth, soundfont_id = _synthesizer(sample_rate, soundfont_path(), gain)
    kept = []
    try:
        for block in limited_blocks(louder(_played(synth, soundfont_id, midi, sample_rate)), sample_rate,
                                    OGG_BLOCK_FRAMES):
            encoder.put(block)
            kept.append(block)
    except _ClippedInFluidSynth:
        encoder.finish(quietly=True)  # the file is written again from the start
        return None
    except BaseException:
        encoder.finish(quietly=True)
        raise
    finally:
        synth.delete()
    return Audio(np.concatenate(kept), sample_rate, synthesizer_name()), encoder


class _ClippedInFluidSynth(Exception):
    """A block of the streamed render at 16-bit full scale."""
