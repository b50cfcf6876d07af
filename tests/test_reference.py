"""The original study's corpus (../shared/datasets/jjlin-pool), when it is beside the checkout."""
from musicgen.config import Config
from musicgen.midi import key_shift
from musicgen.vocab import Vocab
from train.data import load_midi_folder, prepared_tokens, split_by_song, training_tokens


def test_every_reference_song_loads_and_moves_to_c_major_or_a_minor(reference_corpus):
    corpus = load_midi_folder(reference_corpus, "first", 5, progress=False)
    assert len(corpus.songs) == 22 and corpus.skipped == []
    config = Config()
    for song in corpus.songs:
        assert any(token != "e" for token in song.tokens), song.name
        assert key_shift(prepared_tokens(song.tokens, config)) == 0, song.name


def test_the_default_recipe_keeps_unseen_chords_rare_on_held_out_songs(reference_corpus):
    """Key normalization and transpositions are what bring the OOV share under 10% (docs/measurements/frames-quality.md)."""
    corpus = load_midi_folder(reference_corpus, "first", 5, progress=False)
    train_songs, held_out = split_by_song(corpus.songs, 0.15, seed=0)

    def oov_share(config):
        vocab = Vocab.build(training_tokens(train_songs, config), config.min_count)
        frames = [token for song in held_out for token in prepared_tokens(song.tokens, config)]
        return sum(token not in vocab for token in frames) / len(frames)

    ours = oov_share(Config())
    assert ours < 0.10
    assert ours < oov_share(Config(key_normalize=False, transpose_augment=0))
