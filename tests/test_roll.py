"""The piano roll: the PNG for downloads and the SVG the page plays along with, from one layout."""
import re

import numpy as np
import pretty_midi

from musicgen import roll as rolls
from musicgen.piece import Piece
from musicgen.score import ACCOMPANIMENT, MELODY, Score


def two_part_piece(bars: int = 4) -> Piece:
    """A melody of quarter notes over whole-note chords at 120 BPM, C then G, bar by bar."""
    melody = np.array([[beat, beat + 1, 72 + beat % 4, 90] for beat in range(4 * bars)], float)
    chords = np.array([[4 * bar, 4 * bar + 4, pitch, 80] for bar in range(bars)
                       for pitch in ((48, 52, 55) if bar % 2 == 0 else (43, 47, 50))], float)
    chord_rows = np.array([[4 * bar, 4 * bar + 4, 0 if bar % 2 == 0 else 7 * 8] for bar in range(bars)], float)
    score = Score({MELODY: melody, ACCOMPANIMENT: chords}, 120.0, chords=chord_rows)
    return Piece(np.zeros(0), score.to_midi("C major"), 120.0, score, "C major")


def test_the_roll_holds_every_note_by_part_its_bars_and_its_chords():
    piece = two_part_piece()
    roll = rolls.roll_of(piece)
    assert roll.note_count == piece.note_count == 16 + 12
    assert set(roll.notes) == {MELODY, ACCOMPANIMENT}
    assert np.allclose(roll.bars, [0, 2, 4, 6])  # 4 beats at 120 BPM: a bar every 2 s
    assert [name for _, name in roll.chords] == ["C", "G", "C", "G"]


def test_the_png_draws_parts_in_their_colours_higher_notes_higher_and_a_legend(tmp_path):
    piece = two_part_piece()
    rolls.write_picture(rolls.roll_of(piece), tmp_path / "roll.png", "two parts")
    assert (tmp_path / "roll.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = np.asarray(rolls.picture(rolls.roll_of(piece), "two parts"))
    left, top, right, bottom = rolls.MARGINS
    plot = pixels[top:pixels.shape[0] - bottom, left:pixels.shape[1] - right]
    melody = np.nonzero((plot == rolls.PART_COLOURS[MELODY]).all(axis=2))[0]
    accompaniment = np.nonzero((plot == rolls.PART_COLOURS[ACCOMPANIMENT]).all(axis=2))[0]
    assert len(melody) and len(accompaniment) and melody.max() < accompaniment.min()  # the tune above the chords
    header = pixels[:top]  # the legend's swatches sit above the plot, one per part
    for part in (MELODY, ACCOMPANIMENT):
        assert (header == rolls.PART_COLOURS[part]).all(axis=2).any(), part
    bar_lines = (plot == (215, 215, 215)).all(axis=2).any(axis=0)
    assert bar_lines.sum() >= 3  # bars 2-4 (the first is the frame's edge)


def test_the_page_roll_has_a_rect_per_note_a_legend_and_a_playhead():
    piece = two_part_piece()
    markup = rolls.player_html(rolls.roll_of(piece), "gradio_api/file=/tmp/x.ogg", "piece 1")
    assert len(re.findall(r'<rect class="note"', markup)) == piece.note_count
    assert markup.count(f'data-part="{MELODY}"') == 16 and markup.count(f'data-part="{ACCOMPANIMENT}"') == 12
    assert 'class="legend"' in markup and MELODY in markup and ACCOMPANIMENT in markup
    assert 'class="playhead"' in markup and '<audio controls' in markup and 'src="gradio_api/file=/tmp/x.ogg"' in markup
    assert len(re.findall(r'class="bar-number"', markup)) == 4 and re.findall(r'class="chord"[^>]*>([^<]+)<', markup) == \
        ["C", "G", "C", "G"]
    assert 'data-seconds="8.000"' in markup


def test_a_frame_piece_draws_as_one_part():
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(0)
    piano.notes = [pretty_midi.Note(90, 60, 0, 0.4), pretty_midi.Note(90, 72, 0.4, 0.8)]
    midi.instruments.append(piano)
    roll = rolls.roll_of(Piece(np.zeros(2), midi))
    assert list(roll.notes) == ["Piano"] and roll.note_count == 2 and roll.chords == []
    pixels = np.asarray(rolls.picture(roll))
    assert (pixels == rolls.OTHER_COLOUR).all(axis=2).any()
