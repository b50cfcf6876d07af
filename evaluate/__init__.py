"""Evaluation: how a model scores songs it never trained on, against n-grams and real songs'
listening features, by judges the sampler does not select on (`python -m evaluate`)."""
