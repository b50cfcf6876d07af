"""`python -m train`: build the dataset from a MIDI folder, train, and write a model folder."""
