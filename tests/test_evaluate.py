import math

import numpy as np

from evaluate.ngram import NGram, ngram_baselines


def test_ngram_probabilities_sum_to_one_and_learn_order():
    songs = [np.array([1, 2, 3, 1, 2, 3, 1, 2, 3])]
    bigram = NGram(songs, vocab_size=5, order=2)
    for context in [(1,), (3,), (4,), (0,)]:
        assert math.isclose(sum(bigram.probability(context, token) for token in range(5)), 1.0)
    assert bigram.probability((1,), 2) > 0.5 > bigram.probability((1,), 3)


def test_higher_orders_beat_a_unigram_on_a_repeating_pattern():
    pattern = np.array([1, 2, 2, 3, 1, 2, 2, 3] * 10)
    scores, with_memory = ngram_baselines([pattern], [pattern[:16]], vocab_size=4, orders=(1, 3))
    assert with_memory == {}
    assert scores["3-gram"] < scores["1-gram"]
    assert scores["1-gram"] <= math.log(4) + 0.1


# Generated-vs-real features (Yang & Lerch) and the evaluation command

import json  # noqa: E402

from evaluate.__main__ import main as evaluate_main  # noqa: E402
from evaluate.features import compare, overlapping_area, piece_features  # noqa: E402


def test_features_of_a_known_piece():
    # C4 held 2 frames, a rest, E4 for 1 frame, then C4+G4 together for 3 frames; 10 frames at 5 fps.
    tokens = ["60", "60", "e", "64", "60,67", "60,67", "60,67", "e", "e", "e"]
    features = piece_features(tokens, frames_per_second=5)
    assert features["pitch_count"] == 3
    assert features["pitch_range"] == 7
    assert features["notes_per_second"] == 4 * 5 / 10
    assert features["one_frame_share"] == 1 / 4
    # Onsets at frames 0, 3, 4: gaps of 3 and 1 frames = 0.4 s on average.
    assert abs(features["inter_onset_interval"] - 0.4) < 1e-9
    # Notes in onset order: 60, 64, 60, 67 -> intervals 4, 4, 7.
    assert abs(features["average_pitch_interval"] - 5.0) < 1e-9
    assert abs(features["pitch_class_histogram"][0] - 0.5) < 1e-9
    assert piece_features(["e"] * 5, 5) is None


def test_overlapping_area_is_one_for_the_same_and_near_zero_for_far_apart():
    rng = np.random.default_rng(0)
    same = rng.normal(0, 1, 200)
    assert overlapping_area(same, same) > 0.99
    assert overlapping_area(same, rng.normal(0, 1, 200)) > 0.8
    assert overlapping_area(same, rng.normal(20, 1, 200)) < 0.01


def scale_piece(rng, frames=100):
    """A stepwise C-major line with notes of 2-4 frames: the kind of piece the real set holds."""
    tokens, pitch = [], 60
    while len(tokens) < frames:
        pitch = int(np.clip(pitch + rng.choice([-2, -1, 1, 2]), 55, 79))
        tokens += [str(pitch)] * int(rng.integers(2, 5))
    return tokens[:frames]


def test_a_set_like_the_real_one_overlaps_more_than_scattered_notes():
    rng = np.random.default_rng(1)
    real = [scale_piece(rng) for _ in range(8)]
    alike = [scale_piece(rng) for _ in range(8)]
    scattered = [[str(int(p)) for p in rng.integers(30, 100, 100)] for _ in range(8)]
    alike_report, scattered_report = compare(alike, real, 5), compare(scattered, real, 5)
    for name in ("pitch_range", "one_frame_share", "note_length_histogram"):
        assert alike_report["features"][name]["overlap"] > scattered_report["features"][name]["overlap"]
    assert scattered_report["features"]["one_frame_share"]["generated_mean"] > 0.9
    assert alike_report["features"]["one_frame_share"]["generated_mean"] < 0.05


def test_evaluate_command_writes_report_figure_and_headline(tiny_model_folder, tiny_songs, tmp_path, capsys):
    metrics_before = json.loads((tiny_model_folder / "metrics.json").read_text())
    # `python -m evaluate` already scored it on its validation songs (the fixture).
    assert metrics_before["evaluation"]["nll"] > 0
    out = tmp_path / "report"
    assert evaluate_main([str(tiny_model_folder), "--data", str(tiny_songs), "--pieces", "3",
                          "--frames", "40", "--out", str(out)]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert report["held_out_songs"] == len(metrics_before["dataset"]["validation_songs"])
    assert set(report["ngram"]) == {"1-gram", "2-gram", "3-gram", "4-gram"}
    assert report["best_ngram"] == min(report["ngram"], key=report["ngram"].get)
    assert 0 <= report["top1_accuracy"] <= 1 and 0 <= report["oov_share"] <= 1
    assert report["generated_vs_real"]["pieces"] == 3
    assert report["nll"] <= report["network_nll"] and "ngram_with_memory" in report  # the memory is on by default
    assert (out / "evaluation.png").read_bytes()[:4] == b"\x89PNG"
    assert "network NLL" in capsys.readouterr().out


def test_evaluate_command_refuses_a_folder_that_is_no_model(tmp_path, tiny_songs, capsys):
    assert evaluate_main([str(tmp_path), "--data", str(tiny_songs)]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_embedding_with_new_sampling_settings_redoes_the_evaluation(tiny_model_folder, tiny_songs, tmp_path):
    from musicgen.config import Config
    from publish.folder import embed

    target = tmp_path / "embedded"
    target.mkdir()
    (target / "melody_intervals.json").write_text("[0]")  # the model embedded before had a correction ...
    embed(tiny_model_folder, target, tiny_songs, temperature=0.7, top_p=0.9)
    assert not (target / "melody_intervals.json").exists()  # ... that this one has not: gone with it
    config = Config.load(target / "config.json")
    assert (config.temperature, config.top_p) == (0.7, 0.9)
    report = json.loads((target / "evaluation.json").read_text())
    assert (report["generated_vs_real"]["temperature"], report["generated_vs_real"]["top_p"]) == (0.7, 0.9)
    card = (target / "README.md").read_text()
    assert "Held-out evaluation" in card and "| `top_p` | 0.9 |" in card
    assert {"sample.mid", "sample.wav", "evaluation.png", "model.keras"} <= {p.name for p in target.iterdir()}


def test_generated_pieces_from_random_or_single_note_primers(tiny_model):
    import pytest

    from evaluate.frames import generated_pieces

    for primer in ("random", "note"):
        pieces = generated_pieces(tiny_model, 3, 12, seed=1, primer=primer)
        assert [len(piece) for piece in pieces] == [12, 12, 12]
        assert generated_pieces(tiny_model, 3, 12, seed=1, primer=primer) == pieces
    with pytest.raises(ValueError, match="primer must be one of"):
        generated_pieces(tiny_model, 1, 5, seed=0, primer="chord")


def test_the_piece_memory_lowers_the_nll_of_a_song_that_repeats_itself(tiny_model):
    from musicgen.memory import PieceMemory
    from evaluate.frames import network_scores

    rng = np.random.default_rng(3)
    verse = rng.integers(1, len(tiny_model.vocab), 40)  # a phrase the model never heard, sung three times
    song = np.concatenate([verse, verse, verse])
    seq_len = tiny_model.config.seq_len
    alone = network_scores(tiny_model.network, [song], seq_len)
    remembering = network_scores(tiny_model.network, [song], seq_len, PieceMemory())
    assert remembering["network_nll"] == alone["nll"]
    assert remembering["nll"] < alone["nll"] - 0.5
    plain, with_memory = ngram_baselines([song[:10]], [song], len(tiny_model.vocab), (1, 2), PieceMemory())
    assert with_memory["2-gram"] < plain["2-gram"] - 0.5
