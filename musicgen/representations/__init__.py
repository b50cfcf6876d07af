"""Token tables: `events.py` (miditok's REMI with our conditions and grammar); the frame scheme's
table is `musicgen.vocab`. Which one a model uses is picked once, by `musicgen.schemes.scheme_for`."""
