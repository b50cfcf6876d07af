"""Nothing loaded from disk or the Hub can run code; the app serves only what it made; outputs are cleaned up."""
from __future__ import annotations

import os
import re
import time

from conftest import ROOT

SOURCES = [path for folder in ("musicgen", "train", "bench") for path in (ROOT / folder).rglob("*.py")] + [ROOT / "app.py"]


def test_no_pickle_and_keras_models_load_in_safe_mode_only():
    assert len(SOURCES) > 10
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for forbidden in (r"\bimport pickle\b", r"\bpickle\.", r"allow_pickle\s*=\s*True", r"safe_mode\s*=\s*False",
                          r"\bjoblib\b", r"\bmarshal\.load", r"\beval\(", r"\bexec\("):
            assert not re.search(forbidden, text), f"{path.relative_to(ROOT)} uses {forbidden}"
        for call in re.findall(r"load_model\([^)]*\)", text):
            assert "safe_mode=True" in call, f"{path.relative_to(ROOT)}: {call}"


def test_old_request_folders_are_removed(tmp_path, monkeypatch):
    import app

    monkeypatch.setattr(app, "OUTPUT_ROOT", tmp_path)
    monkeypatch.setattr(app, "_last_sweep", -float("inf"))
    old, recent = tmp_path / "old", tmp_path / "recent"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "musicgen-1-1.mid").write_bytes(b"MThd")
    past = time.time() - app.KEEP_OUTPUTS_SECONDS - 60
    os.utime(old, (past, past))
    new = app.request_folder()
    assert new.parent == tmp_path and new.is_dir()
    assert not old.exists() and recent.exists()
    # The next sweep is a minute away: a request now does not scan the folder again.
    old.mkdir()
    os.utime(old, (past, past))
    app.request_folder()
    assert old.exists()
    monkeypatch.setattr(app, "_last_sweep", time.monotonic() - app.SWEEP_EVERY_SECONDS)
    app.request_folder()
    assert not old.exists()


def test_requests_cleaning_up_at_once_do_not_trip_over_each_other(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import app

    monkeypatch.setattr(app, "OUTPUT_ROOT", tmp_path)
    monkeypatch.setattr(app, "_last_sweep", -float("inf"))
    past = time.time() - app.KEEP_OUTPUTS_SECONDS - 60
    for index in range(300):
        old = tmp_path / f"old{index}"
        old.mkdir()
        (old / "piece.wav").write_bytes(b"RIFF")
        os.utime(old, (past, past))
    with ThreadPoolExecutor(8) as pool:
        folders = list(pool.map(lambda _: app.request_folder(), range(16)))
    assert len(set(folders)) == 16 and all(folder.is_dir() for folder in folders)
    assert not any(path.name.startswith("old") for path in tmp_path.iterdir())
