import pytest

from musicgen.midi import REST_TOKEN
from musicgen.vocab import Vocab, VocabError

SONGS = [["e", "60", "60", "60,64,67", "e", "62"], ["60,64,67", "60", "e", "65,69"]]


def test_build_counts_tokens_and_puts_the_rest_first():
    vocab = Vocab.build(SONGS)
    assert vocab.tokens[0] == REST_TOKEN
    assert vocab.tokens[1] == "60"  # the most frequent chord gets the next id
    assert dict(zip(vocab.tokens, vocab.counts)) == {"e": 3, "60": 3, "60,64,67": 2, "62": 1, "65,69": 1}
    assert list(vocab.encode(["60", "e"])) == [1, 0]
    assert vocab.decode([1, 0]) == ["60", "e"]


def test_min_count_drops_rare_chords_and_maps_them_to_near_ones():
    vocab = Vocab.build(SONGS, min_count=2)
    assert "62" not in vocab and "65,69" not in vocab
    assert vocab.decode(vocab.encode(["62"])) == ["60"]


def test_json_round_trip(tmp_path):
    vocab = Vocab.build(SONGS)
    vocab.save(tmp_path / "vocab.json")
    again = Vocab.load(tmp_path / "vocab.json")
    assert again.tokens == vocab.tokens and again.counts == vocab.counts


def test_nearest_known_chord():
    vocab = Vocab(["e", "60,64,67", "62,65,69", "72"], [5, 3, 3, 9])
    assert vocab.decode([vocab.nearest_id("60,64,68")]) == ["60,64,67"]  # one semitone off
    assert vocab.decode([vocab.nearest_id("62,65")]) == ["62,65,69"]
    assert vocab.decode([vocab.nearest_id("73")]) == ["72"]
    assert vocab.oov_share(["72", "73", "e", "61"]) == 0.5


def test_a_chord_never_becomes_a_rest():
    vocab = Vocab(["e", "100"], [100, 1])
    assert vocab.nearest_id("20") == 1


@pytest.mark.parametrize("text, words", [
    ('{"tokens": [{"token": "60", "id": 0}]}', "rest token"),
    ('{"tokens": [{"token": "e", "id": 0}, {"token": "60", "id": 2}]}', "without gaps"),
    ('{"tokens": [{"token": "e", "id": 0}, {"token": "C,D", "id": 1}]}', "not a frame token"),
    ("[1, 2", "not a musicgen vocabulary"),
])
def test_bad_vocabulary_files_are_refused_with_a_reason(text, words):
    with pytest.raises(VocabError, match=words):
        Vocab.from_json(text)
