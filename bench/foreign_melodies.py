"""Accompany every MIDI file under a folder as `python -m musicgen accompany` would: none may end in a traceback.

    python bench/foreign_melodies.py FOLDER [--model MODEL]

Meant for files made elsewhere (e.g. MidiTok's test files: one-track, multi-track, empty and
corrupted ones, from its repository's tests/ folder). Each file is either accompanied (exit 0) or
refused with a message (exit 2); anything else is counted as a traceback and printed.

Last line JSON: files, accompanied, refused, tracebacks, refusals (the distinct messages).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import traceback
from pathlib import Path

from musicgen.__main__ import main as musicgen_main


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", default=None)
    args = parser.parse_args(argv)
    files = sorted(path for path in args.folder.rglob("*") if path.suffix.lower() in (".mid", ".midi"))
    counts = {"accompanied": 0, "refused": 0, "tracebacks": 0}
    refusals: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as out:
        for path in files:
            errors = io.StringIO()
            command = ["accompany", str(path), "--out", str(Path(out) / "out.mid"), "--seed", "1"]
            command += ["--model", args.model] if args.model else []
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
                    code = musicgen_main(command)
            except BaseException:  # noqa: BLE001 (a traceback is what this bench looks for)
                counts["tracebacks"] += 1
                print(f"TRACEBACK {path.relative_to(args.folder)}\n{traceback.format_exc()}")
                continue
            said = errors.getvalue().strip().splitlines()[-1] if errors.getvalue().strip() else ""
            if code == 0:
                counts["accompanied"] += 1
                print(f"accompanied {path.relative_to(args.folder)}")
            elif code == 2 and said:
                counts["refused"] += 1
                message = said.split(": ", 2)[-1]
                refusals[message] = refusals.get(message, 0) + 1
                print(f"refused     {path.relative_to(args.folder)}: {said}")
            else:
                counts["tracebacks"] += 1
                print(f"EXIT {code} without a message: {path.relative_to(args.folder)}")
    print(json.dumps({"files": len(files), **counts, "refusals": refusals}, ensure_ascii=False))


if __name__ == "__main__":
    main()
