"""How loud pieces come out, from sparse to busy: peak, RMS and clipped samples of 16 pieces.

Eight pieces of the default model (seeds 0-7, 30 s, from one note: as the page makes them) and
eight written here from sparse to busy (one slow line at velocity 40 up to seven-note chords
at 120), each rendered as the player and the downloads get it, through FluidSynth with the
soundfont it picks (`audio.soundfont_path`). Side by side: the same audio before normalization
(FluidSynth's output at the gain foreseen from the score).

Last line JSON: soundfont, peak_dbfs_max, rms_dbfs_min, rms_dbfs_max, clipped_samples,
before_rms_dbfs_min, before_rms_dbfs_max, pieces.
"""
from __future__ import annotations

import json

import numpy as np
import pretty_midi

from musicgen import audio
from musicgen.generate import compose
from musicgen.hub import load
from musicgen.request import Request


def dbfs(value: float) -> float:
    return float(20 * np.log10(max(value, 1e-12)))


def written_pieces() -> list[tuple[str, pretty_midi.PrettyMIDI]]:
    """Eight pieces from a slow quiet line to loud dense chords, 20 s each."""
    pieces = []
    for notes_at_once, velocity, per_second in ((1, 40, 0.5), (1, 70, 1), (1, 100, 2), (2, 80, 2),
                                                (3, 90, 3), (4, 100, 4), (5, 110, 6), (7, 120, 8)):
        midi = pretty_midi.PrettyMIDI(initial_tempo=120)
        piano = pretty_midi.Instrument(0)
        step = 1 / per_second
        for onset in np.arange(0, 20, step):
            for voice in range(notes_at_once):
                pitch = 48 + (int(onset * 7) % 12) + 4 * voice
                piano.notes.append(pretty_midi.Note(velocity, pitch, float(onset), float(onset + step * 0.9)))
        midi.instruments.append(piano)
        pieces.append((f"{notes_at_once} at once, velocity {velocity}, {per_second}/s", midi))
    return pieces


def main() -> None:
    model = load(None)
    generated = compose(model, Request.build(model.config, primer="note:C4", seconds=30, seed=0, variations=8))
    pieces = [(f"default model, piece {index + 1}", piece.midi) for index, piece in enumerate(generated)]
    pieces += written_pieces()
    rows = []
    for name, midi in pieces:
        raw = audio._render_fluidsynth(midi, audio.SAMPLE_RATE, audio.fluidsynth_gain(midi)) \
            if audio.fluidsynth_problem() is None else audio._render_simple(midi, audio.SAMPLE_RATE)
        final = audio.render(midi).samples
        row = {"piece": name, "peak_dbfs": dbfs(np.abs(final).max()), "rms_dbfs": dbfs(np.sqrt(np.mean(final ** 2))),
               "clipped": int(np.sum(np.abs(np.round(final * 32767)) >= 32767)),
               "before_rms_dbfs": dbfs(np.sqrt(np.mean(raw ** 2))), "before_peak_dbfs": dbfs(np.abs(raw).max())}
        rows.append(row)
        print(f"{name:40s} before: peak {row['before_peak_dbfs']:6.1f} rms {row['before_rms_dbfs']:6.1f}   "
              f"after: peak {row['peak_dbfs']:6.1f} rms {row['rms_dbfs']:6.1f} dBFS, clipped {row['clipped']}")
    print(json.dumps({"soundfont": audio.synthesizer_name(), "pieces": len(rows),
                      "peak_dbfs_max": round(max(r["peak_dbfs"] for r in rows), 2),
                      "rms_dbfs_min": round(min(r["rms_dbfs"] for r in rows), 2),
                      "rms_dbfs_max": round(max(r["rms_dbfs"] for r in rows), 2),
                      "clipped_samples": sum(r["clipped"] for r in rows),
                      "before_rms_dbfs_min": round(min(r["before_rms_dbfs"] for r in rows), 2),
                      "before_rms_dbfs_max": round(max(r["before_rms_dbfs"] for r in rows), 2)}))


if __name__ == "__main__":
    main()
