"""The piano roll of a piece: its notes by part, its bars, its chords, drawn twice from one layout:
as a PNG (Pillow) for the downloads and the Hub, and as SVG for the page, where a playhead follows
the piece's player (play, pause, seek; a click on the roll seeks).

Drawn with Pillow, not matplotlib: a picture costs ~2 ms instead of ~40 ms, most of which held
Python's lock and so stalled every other visitor of the app.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pretty_midi

from .chords import chord_name
from .score import ACCOMPANIMENT, MELODY

PART_COLOURS = {MELODY: (255, 127, 14), ACCOMPANIMENT: (31, 119, 180)}  # orange over blue
OTHER_COLOUR = (31, 119, 180)  # a part of another name (a frame model's piano, a MIDI's tracks)
SIZE = (1000, 360)  # pixels of the PNG, and the SVG's coordinates
MARGINS = (44, 46, 8, 28)  # left (note names), top (title, legend, bar numbers, chords), right, bottom (seconds)


@dataclass
class Roll:
    """What the pictures draw, in seconds."""

    seconds: float
    notes: dict[str, np.ndarray]  # part -> (n, 3) rows of start, end, pitch
    bars: list[float] = field(default_factory=list)  # each bar's start
    chords: list[tuple[float, str]] = field(default_factory=list)  # (start, name) where the chord changes
    sections: list[tuple[float, str]] = field(default_factory=list)  # (start, label), for a piece with a form

    @property
    def note_count(self) -> int:
        return int(sum(len(rows) for rows in self.notes.values()))

    def pitch_range(self) -> tuple[int, int]:
        """The lowest and one past the highest pitch row drawn (a little room around the notes)."""
        pitches = np.concatenate([rows[:, 2] for rows in self.notes.values() if len(rows)]) if self.note_count \
            else np.zeros(0)
        return (int(pitches.min()) - 2, int(pitches.max()) + 3) if pitches.size else (48, 73)


def roll_of(piece) -> Roll:
    """The roll of a Piece: its MIDI's notes by instrument name, its bars, and the chords its score names."""
    midi = piece.midi
    notes = {}
    for instrument in midi.instruments:
        if instrument.notes and not instrument.is_drum:
            rows = np.array([(note.start, note.end, note.pitch) for note in instrument.notes], float)
            name = instrument.name or "Piano"
            notes[name] = np.concatenate([notes[name], rows]) if name in notes else rows
    score = getattr(piece, "score", None)
    if score is not None:  # a two-part piece names both parts, one of them silent or not
        notes = {MELODY: notes.get(MELODY, np.zeros((0, 3))), ACCOMPANIMENT: notes.get(ACCOMPANIMENT, np.zeros((0, 3))),
                 **notes}
    seconds = max(midi.get_end_time(), 1e-3)
    bars = [float(time) for time in midi.get_downbeats() if time < seconds - 1e-6]
    chords = []
    if score is not None and len(score.chords):
        per_beat = 60.0 / score.tempo_bpm
        for start, _, chord in score.chords:
            name = chord_name(int(chord))
            if start * per_beat < seconds and (not chords or chords[-1][1] != name):
                chords.append((float(start * per_beat), name))
    return Roll(seconds, notes, bars, chords, list(getattr(piece, "sections", []) or []))


def _colour(part: str) -> tuple[int, int, int]:
    return PART_COLOURS.get(part, OTHER_COLOUR)


def _layout(roll: Roll):
    """(x of a time, y of a pitch's row top, row height, the plot's box, the pitch range)."""
    left, top, right, bottom = MARGINS
    width, height = SIZE[0] - left - right, SIZE[1] - top - bottom
    low, high = roll.pitch_range()
    row = height / (high - low)

    def x(seconds: float) -> float:
        return left + seconds / roll.seconds * width

    def y(pitch: float) -> float:
        return top + (high - 1 - pitch) * row

    return x, y, row, (left, top, width, height), (low, high)


def _time_ticks(seconds: float) -> np.ndarray:
    step = next((step for step in (1, 2, 5, 10, 15, 30, 60, 120) if seconds / step <= 12), 300)
    return np.arange(0, seconds + 1e-9, step)


def _labels(items: list[tuple[float, str]], x, min_gap: float) -> list[tuple[float, str]]:
    """The (x, text) of items far enough apart to be read (the first of crowded ones kept)."""
    kept, last = [], -np.inf
    for seconds, text in items:
        if x(seconds) - last >= min_gap:
            kept.append((x(seconds), text))
            last = x(seconds)
    return kept


def picture(roll: Roll, title: str = ""):
    """A PIL image: notes by part in their colours, a legend, bar lines numbered, chord names, C rows named."""
    from PIL import Image, ImageDraw

    x, y, row, (left, top, width, height), (low, high) = _layout(roll)
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    for pitch in range(low, high):  # a faint keyboard, so a pitch can be told from its neighbours
        if pitch % 12 in (1, 3, 6, 8, 10):
            draw.rectangle([left, y(pitch), left + width, y(pitch) + row], fill=(244, 244, 244))
    for number, start in enumerate(roll.bars, 1):
        draw.line([(x(start), top), (x(start), top + height)], fill=(215, 215, 215))
    for bar_x, text in _labels([(start, str(number)) for number, start in enumerate(roll.bars, 1)], x, 18):
        draw.text((bar_x + 2, top - 2), text, fill=(120, 120, 120), anchor="lb")
    for chord_x, text in _labels(roll.chords, x, 34):
        draw.text((chord_x + 2, top - 14), text, fill=(60, 60, 60), anchor="lb")
    for section_x, text in _labels(roll.sections, x, 20):
        draw.text((section_x + 2, top - 26), text, fill="black", anchor="lb")
    for part, rows in roll.notes.items():
        for start, end, pitch in rows:
            draw.rectangle([x(start), y(pitch), max(x(end) - 1, x(start) + 1), y(pitch) + max(row - 1, 1)],
                           fill=_colour(part))
    named = [pitch for pitch in range(low, high) if pitch % 12 == 0] or [(low + high) // 2]
    for pitch in named:  # every C (or, with none in sight, the middle row): its name
        draw.text((left - 6, y(pitch) + row / 2), pretty_midi.note_number_to_name(pitch), fill="black", anchor="rm")
    for second in _time_ticks(roll.seconds):
        draw.line([(x(second), top + height), (x(second), top + height + 4)], fill="black")
        draw.text((x(second), top + height + 6), f"{second:g}", fill="black", anchor="mt")
    draw.text((left + width, SIZE[1] - 2), "seconds", fill="black", anchor="rd")
    draw.rectangle([left - 1, top - 1, left + width, top + height], outline="black")
    draw.text((left, 4), title, fill="black", anchor="lt")
    legend_x = left + width
    for part in reversed(list(roll.notes)):  # right-aligned: the last part rightmost
        text_width = draw.textlength(part)
        draw.text((legend_x, 4), part, fill="black", anchor="rt")
        draw.rectangle([legend_x - text_width - 14, 5, legend_x - text_width - 4, 13], fill=_colour(part))
        legend_x -= text_width + 24
    return image


def write_picture(roll: Roll, path: str | Path, title: str = "") -> None:
    """The roll as a PNG."""
    picture(roll, title).save(path, format="PNG")


def _rgb(colour) -> str:
    return "rgb({},{},{})".format(*colour)


def player_html(roll: Roll, audio_url: str, title: str = "", picture_url: str | None = None) -> str:
    """The page's player and roll: an <audio> element and an SVG of the roll whose playhead follows it
    (PLAYHEAD_JS moves it). The SVG fits the width it is given, a phone's too."""
    x, y, row, (left, top, width, height), (low, high) = _layout(roll)
    parts = []
    for pitch in range(low, high):
        if pitch % 12 in (1, 3, 6, 8, 10):
            parts.append(f'<rect x="{left}" y="{y(pitch):.1f}" width="{width}" height="{row:.2f}" fill="#f4f4f4"/>')
    for start in roll.bars:
        parts.append(f'<line class="bar" x1="{x(start):.1f}" x2="{x(start):.1f}" y1="{top}" y2="{top + height}" '
                     'stroke="#d7d7d7"/>')
    for bar_x, text in _labels([(start, str(number)) for number, start in enumerate(roll.bars, 1)], x, 18):
        parts.append(f'<text class="bar-number" x="{bar_x + 2:.1f}" y="{top - 3}" font-size="10" fill="#787878">'
                     f'{text}</text>')
    for chord_x, text in _labels(roll.chords, x, 34):
        parts.append(f'<text class="chord" x="{chord_x + 2:.1f}" y="{top - 15}" font-size="11" fill="#3c3c3c">'
                     f'{html.escape(text)}</text>')
    for section_x, text in _labels(roll.sections, x, 20):
        parts.append(f'<text class="section" x="{section_x + 2:.1f}" y="{top - 28}" font-size="12" '
                     f'font-weight="bold">{html.escape(text)}</text>')
    for part, rows in roll.notes.items():
        colour = _rgb(_colour(part))
        for start, end, pitch in rows:
            parts.append(f'<rect class="note" data-part="{html.escape(part)}" x="{x(start):.1f}" '
                         f'y="{y(pitch):.1f}" width="{max(x(end) - x(start) - 1, 1):.1f}" '
                         f'height="{max(row - 1, 1):.2f}" fill="{colour}"/>')
    for pitch in [pitch for pitch in range(low, high) if pitch % 12 == 0] or [(low + high) // 2]:
        parts.append(f'<text x="{left - 6}" y="{y(pitch) + row / 2 + 4:.1f}" font-size="11" text-anchor="end">'
                     f'{pretty_midi.note_number_to_name(pitch)}</text>')
    for second in _time_ticks(roll.seconds):
        parts.append(f'<text x="{x(second):.1f}" y="{top + height + 18}" font-size="11" text-anchor="middle">'
                     f'{second:g}</text>')
    parts.append(f'<rect x="{left - 1}" y="{top - 1}" width="{width + 1}" height="{height + 1}" fill="none" '
                 'stroke="black"/>')
    parts.append(f'<line class="playhead" x1="{left}" x2="{left}" y1="{top - 4}" y2="{top + height + 4}" '
                 'stroke="#d62728" stroke-width="2"/>')
    legend = "".join(f'<span style="white-space:nowrap;margin-right:12px"><span style="display:inline-block;width:10px;'
                     f'height:10px;background:{_rgb(_colour(part))};margin-right:4px"></span>{html.escape(part)}</span>'
                     for part in roll.notes)
    return (f'<div class="musicgen-player" style="max-width:100%">'
            f'<div style="display:flex;flex-wrap:wrap;justify-content:space-between;font-size:13px;gap:4px">'
            f'<span>{html.escape(title)}</span><span class="legend">{legend}</span></div>'
            f'<audio controls preload="auto" src="{html.escape(audio_url)}" style="width:100%"></audio>'
            f'<svg class="roll" data-seconds="{roll.seconds:.3f}" data-left="{left}" data-width="{width}" '
            f'data-playhead="0" viewBox="0 0 {SIZE[0]} {SIZE[1]}" preserveAspectRatio="none" '
            f'style="width:100%;height:auto;display:block;cursor:pointer" font-family="sans-serif" '
            f'role="img" aria-label="piano roll, {roll.note_count} notes">{"".join(parts)}</svg>'
            + (f'<a href="{html.escape(picture_url)}" download style="font-size:12px">piano roll (.png)</a>'
               if picture_url else "") + '</div>')


# Runs once in the page for each roll (gr.HTML's js_on_load, `element` being the roll's box): the
# playhead follows the <audio> element a frame at a time and on every time update, pause and seek;
# a click on the roll seeks there. It reads the elements again each time, as a new piece replaces them.
PLAYHEAD_JS = """
const place = () => {
  const svg = element.querySelector('svg.roll'), audio = element.querySelector('audio');
  if (!svg || !audio) return;
  const seconds = parseFloat(svg.dataset.seconds), left = parseFloat(svg.dataset.left);
  const width = parseFloat(svg.dataset.width), t = Math.max(0, Math.min(audio.currentTime || 0, seconds));
  const x = left + t / seconds * width, head = svg.querySelector('.playhead');
  head.setAttribute('x1', x); head.setAttribute('x2', x);
  svg.dataset.playhead = t.toFixed(3);
};
for (const kind of ['timeupdate', 'seeked', 'seeking', 'pause', 'play', 'loadedmetadata']) {
  element.addEventListener(kind, place, true);
}
element.addEventListener('click', (event) => {
  const svg = event.target.closest && event.target.closest('svg.roll');
  const audio = element.querySelector('audio');
  if (!svg || !audio) return;
  const box = svg.getBoundingClientRect(), scale = box.width / 1000;
  const left = parseFloat(svg.dataset.left) * scale, width = parseFloat(svg.dataset.width) * scale;
  const share = (event.clientX - box.left - left) / width;
  if (share >= 0 && share <= 1) { audio.currentTime = share * parseFloat(svg.dataset.seconds); place(); }
});
const follow = () => { place(); requestAnimationFrame(follow); };
requestAnimationFrame(follow);
"""
