"""python -m musicgen generate, as a user calls it."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, song_tracks, write_midi
from musicgen.__main__ import main
from musicgen.midi import load_midi


def test_generate_writes_numbered_variations(tiny_model_folder, tmp_path, capsys):
    code = main(["generate", "--model", str(tiny_model_folder), "--primer", "note:C4", "--frames", "20",
                 "--seed", "4", "--variations", "2", "--out", str(tmp_path / "song.mid"),
                 "--wav", str(tmp_path / "song.wav"), "--png", str(tmp_path / "roll.png")])
    assert code == 0
    for index in (1, 2):
        assert load_midi(tmp_path / f"song-{index}.mid").get_end_time() <= 4.0
        assert (tmp_path / f"song-{index}.wav").stat().st_size > 44100
        assert (tmp_path / f"roll-{index}.png").exists()
    assert "seed 4" in capsys.readouterr().out


def test_continuing_a_midi_file(tiny_model_folder, tmp_path):
    mine = write_midi(tmp_path / "mine.mid", song_tracks(0))
    assert main(["generate", "--model", str(tiny_model_folder), "--primer", f"midi:{mine}",
                 "--frames", "10", "--seed", "1", "--out", str(tmp_path / "more.mid")]) == 0
    assert (tmp_path / "more.mid").exists()


def test_the_memory_of_the_file_changes_the_continuation_unless_turned_off(tiny_model_folder, tmp_path):
    mine = write_midi(tmp_path / "mine.mid", song_tracks(0))  # its melody comes three times
    notes = {}
    for flags in ([], ["--no-memory"]):
        out = tmp_path / f"more{len(flags)}.mid"
        assert main(["generate", "--model", str(tiny_model_folder), "--primer", f"midi:{mine}", "--frames", "60",
                     "--seed", "1", "--temperature", "0", "--out", str(out), *flags]) == 0
        notes[len(flags)] = [(n.pitch, n.start) for i in load_midi(out).instruments for n in i.notes]
    assert notes[0] != notes[1]


@pytest.mark.parametrize("args, words", [
    (["--primer", "chord:C"], "not random, note:NAME"),
    (["--primer", "note:H9"], "not a note"),
    (["--frames", "0"], "must be above 0"),
    (["--seconds", "700"], "at most 600"),
    (["--seconds", "0"], "length must be above 0"),  # not quietly 60
    (["--seconds", "-3"], "length must be above 0"),
    (["--seconds", "5", "--frames", "20"], "not both"),
    (["--top-p", "1.5"], "top-p"),
    (["--program", "300"], "program must be 0-127"),
    (["--primer", "midi:/no/such.mid"], "cannot be read"),
    (["--start", "middle"], "start need an event model"),
])
def test_bad_arguments_give_one_line_and_exit_code_2(tiny_model_folder, tmp_path, capsys, args, words):
    code = main(["generate", "--model", str(tiny_model_folder), "--out", str(tmp_path / "x.mid"), *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_a_model_that_is_not_there(tmp_path, capsys):
    assert main(["generate", "--model", "not a model", "--out", str(tmp_path / "x.mid")]) == 2
    assert "neither a model folder nor a Hub id" in capsys.readouterr().err


def test_argparse_errors_are_one_line_too():
    result = subprocess.run([sys.executable, "-m", "musicgen", "generate", "--frames", "many"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1


def test_no_room_to_write_is_one_clear_line(tiny_model_folder, capsys):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    # /dev/full answers every write with "No space left on device", as a full disk does.
    code = main(["generate", "--model", str(tiny_model_folder), "--frames", "20", "--out", "/dev/full"])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error == "error: cannot write full: No space left on device"
    assert Path("/dev/full").is_char_device()  # a half-written file is removed, never the device


def test_a_piece_can_begin_as_songs_begin_or_from_a_bar_inside_one(tiny_events_model_folder, tmp_path, capsys):
    for start in ("opening", "middle"):
        out = tmp_path / f"{start}.mid"
        assert main(["generate", "--model", str(tiny_events_model_folder), "--primer", "random", "--seconds", "8",
                     "--seed", "2", "--start", start, "--out", str(out)]) == 0
        assert load_midi(out).get_end_time() > 0
    with pytest.raises(SystemExit) as exit:
        main(["generate", "--model", str(tiny_events_model_folder), "--start", "chorus", "--out", str(tmp_path / "x.mid")])
    assert exit.value.code == 2 and "invalid choice: 'chorus'" in capsys.readouterr().err
