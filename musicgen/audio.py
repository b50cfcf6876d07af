"""PrettyMIDI -> audio through FluidSynth (or a simple built-in synthesizer), WAV files, piano-roll PNGs."""
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
# FluidSynth's output gain is chosen from the score before rendering (fluidsynth_gain), not by
# peak normalization after it, so that the audio can be encoded while it is rendered
# (render_with_ogg). The score's loudest moment, the sum of (velocity / 127)^2 of the notes
# struck in the last second and still held, predicts the peak: at FluidSynth's default gain 0.2
# the peak was 0.016-0.033 times that sum (median 0.022; 16 pieces of the default model, chords
# of 1-7 notes at three velocities). The gain aims the median at -5 dBFS, so the worst miss
# still stays under PEAK; a piece that would pass it anyway is rendered again, peak-normalized.
PEAK_PER_LOUDNESS = 0.022 / 0.2  # peak / (gain * loudest moment), the median measured
AIMED_PEAK = 0.55
BLOCK_SECONDS = 0.2  # what the encoder is given at a time while FluidSynth renders


@dataclass
class Audio:
    samples: np.ndarray  # float32, (n, 2), peak <= PEAK
    sample_rate: int
    synthesizer: str  # what made it, for the user ("FluidSynth, TimGM6mb.sf2" or a fallback note)
    streamed: bool = False  # whether on_block was given exactly these samples, in order

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def soundfont_path() -> Path:
    """MUSICGEN_SOUNDFONT, or the General MIDI soundfont that pretty_midi ships."""
    override = os.environ.get("MUSICGEN_SOUNDFONT")
    if override:
        return Path(override)
    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


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

    synth = fluidsynth.Synth(gain=gain, samplerate=float(sample_rate))
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


def _render_fluidsynth(midi: pretty_midi.PrettyMIDI, sample_rate: int, gain: float, on_block=None) -> np.ndarray:
    synth, soundfont_id = _synthesizer(sample_rate, soundfont_path(), gain)
    try:
        return _play(synth, soundfont_id, midi, sample_rate, on_block)
    finally:
        synth.delete()


def _play(synth, soundfont_id: int, midi: pretty_midi.PrettyMIDI, sample_rate: int, on_block=None) -> np.ndarray:
    """The piece's samples; on_block(samples) gets them BLOCK_SECONDS at a time as they are made."""
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
    blocks, chunks, rendered, handed_on = [], [], 0, 0
    block_frames = round(BLOCK_SECONDS * sample_rate)
    for sample, is_on, channel, pitch, velocity in events:
        if sample > rendered:
            chunks.append(synth.get_samples(sample - rendered))
            rendered = sample
        if rendered - handed_on >= block_frames or channel < 0:
            blocks.append(np.concatenate(chunks).reshape(-1, 2).astype(np.float32) / 32768.0)
            chunks, handed_on = [], rendered
            if on_block is not None:
                on_block(blocks[-1])
        if is_on:
            synth.noteon(channel, pitch, velocity)
        elif channel >= 0:
            synth.noteoff(channel, pitch)
    return np.concatenate(blocks)


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


def render(midi: pretty_midi.PrettyMIDI, sample_rate: int = SAMPLE_RATE, on_block=None) -> Audio:
    """Stereo audio of midi, lasting its end time plus RELEASE_SECONDS, peaking at most at PEAK.

    on_block(samples), when given, gets FluidSynth's audio a stretch at a time while it renders
    (to encode it meanwhile). Audio.streamed says whether those stretches are the final audio:
    not when the piece had to be rendered again (louder than fluidsynth_gain foresaw), nor from the
    built-in synthesizer, which is peak-normalized once it is done.
    """
    problem = fluidsynth_problem()
    if problem is None:
        synthesizer = f"FluidSynth, {soundfont_path().name}"
        gain = fluidsynth_gain(midi)
        samples = _render_fluidsynth(midi, sample_rate, gain, on_block)
        if np.abs(samples).max(initial=0.0) <= PEAK:
            return Audio(samples, sample_rate, synthesizer, streamed=on_block is not None)
        samples = _render_fluidsynth(midi, sample_rate, gain / 4)  # quieter, so that nothing clips
    else:
        samples = _render_simple(midi, sample_rate)
        synthesizer = f"simple built-in synthesizer ({problem})"
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak > 0:
        samples = samples * (PEAK / peak)
    return Audio(samples.astype(np.float32), sample_rate, synthesizer)


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


def render_with_ogg(midi: pretty_midi.PrettyMIDI, ogg_path: str | Path, sample_rate: int = SAMPLE_RATE,
                    meanwhile=None) -> Audio:
    """render(), with the Ogg encoded at the same time in a second thread: Vorbis encoding takes
    longer than FluidSynth's rendering (0.36 s and 0.26 s for 60 s of music), so on two cores the
    player's file is ready about when the rendering is done rather than after both.
    (FluidSynth and libsndfile both let go of Python's lock while they work.)
    meanwhile(audio), when given, runs in this thread on the finished audio while the encoder
    catches up (the other files of a piece)."""
    blocks: queue.SimpleQueue = queue.SimpleQueue()
    failures: list[BaseException] = []

    def encode() -> None:
        try:
            with _ogg_file(ogg_path, sample_rate) as file:
                # Written in the same OGG_BLOCK_FRAMES pieces as write_ogg writes: libsndfile's
                # Vorbis output depends on how the samples are cut into writes.
                waiting = np.zeros((0, 2), np.float32)
                while (block := blocks.get()) is not None:
                    waiting = np.concatenate([waiting, block])
                    whole = len(waiting) // OGG_BLOCK_FRAMES * OGG_BLOCK_FRAMES
                    _write_blocks(file, waiting[:whole])
                    waiting = waiting[whole:]
                _write_blocks(file, waiting)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread below
            failures.append(error)
            while blocks.get() is not None:  # let the rendering finish undisturbed
                pass

    encoder = threading.Thread(target=encode, name="ogg-encoder", daemon=True)
    encoder.start()
    try:
        try:
            try:
                rendered = render(midi, sample_rate, on_block=blocks.put)
            finally:
                blocks.put(None)  # the encoder's end of input, however the rendering ended
            if meanwhile is not None:
                meanwhile(rendered)
        finally:
            encoder.join()
        if failures:
            raise failures[0]
        if not rendered.streamed:  # rendered again, or by the built-in synthesizer: encode the final audio
            write_ogg(rendered, ogg_path)
    except BaseException:
        if Path(ogg_path).is_file():  # nothing half-written is left (and a device is left alone)
            Path(ogg_path).unlink(missing_ok=True)
        raise
    return rendered


NOTE_COLOUR = (31, 119, 180)
MELODY_COLOUR = (255, 127, 14)  # where a roll marks a cell 2: the melody over the accompaniment
PICTURE_SIZE = (1000, 320)  # pixels
MARGINS = (44, 24, 8, 28)  # left (note names), top (title), right, bottom (seconds)


def piano_roll_picture(roll: np.ndarray, frames_per_second: float, title: str = ""):
    """A PIL image of a (frames, 128) piano roll: time in seconds across, pitch up, C rows named;
    cells marked 2 (the melody) in orange, others that sound in blue.

    Drawn with Pillow, not matplotlib: it costs ~2 ms instead of ~40 ms, most of which held
    Python's GIL and so stalled every other visitor of the app (py-spy under bench/load.py).
    """
    from PIL import Image, ImageDraw

    sounding = np.flatnonzero(roll.any(axis=0))
    low, high = (sounding.min() - 2, sounding.max() + 3) if sounding.size else (48, 73)
    left, top, right, bottom = MARGINS
    width, height = PICTURE_SIZE[0] - left - right, PICTURE_SIZE[1] - top - bottom
    frames = max(len(roll), 1)

    # One cell per (pitch, frame), highest pitch on top, then scaled up to the plot area.
    cells = np.full((high - low, frames, 3), 255, np.uint8)
    pitches_top_down = range(high - 1, low - 1, -1)
    black_keys = [row for row, pitch in enumerate(pitches_top_down) if pitch % 12 in (1, 3, 6, 8, 10)]
    cells[black_keys] = 244  # a faint keyboard, so a pitch can be told from its neighbours
    cells[roll[:, low:high].T[::-1] > 0] = NOTE_COLOUR
    cells[roll[:, low:high].T[::-1] == 2] = MELODY_COLOUR
    plot = Image.fromarray(cells).resize((width, height), Image.NEAREST)

    picture = Image.new("RGB", PICTURE_SIZE, "white")
    picture.paste(plot, (left, top))
    draw = ImageDraw.Draw(picture)
    row_height = height / (high - low)
    named = [pitch for pitch in range(low, high) if pitch % 12 == 0] or [(low + high) // 2]
    for pitch in named:  # every C (or, with none in sight, the middle row): a line and its name
        y = top + (high - 1 - pitch + 0.5) * row_height
        draw.line([(left - 4, y), (left + width, y)], fill=(200, 200, 200))
        draw.text((left - 6, y), pretty_midi.note_number_to_name(pitch), fill="black", anchor="rm")
    seconds = len(roll) / frames_per_second
    step = next((step for step in (1, 2, 5, 10, 15, 30, 60, 120) if seconds / step <= 12), 300)
    for second in np.arange(0, seconds + 1e-9, step):
        x = left + second / max(seconds, 1e-9) * width
        draw.line([(x, top + height), (x, top + height + 4)], fill="black")
        draw.text((x, top + height + 6), f"{second:g}", fill="black", anchor="mt")
    draw.text((left + width, PICTURE_SIZE[1] - 2), "seconds", fill="black", anchor="rd")
    draw.rectangle([left - 1, top - 1, left + width, top + height], outline="black")
    draw.text((left + width / 2, top / 2), title, fill="black", anchor="mm")
    return picture


def write_piano_roll(roll: np.ndarray, frames_per_second: float, path: str | Path,
                     title: str = "") -> None:
    """A PNG of a (frames, 128) piano roll (piano_roll_picture)."""
    piano_roll_picture(roll, frames_per_second, title).save(path, format="PNG")
