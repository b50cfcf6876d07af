"""Publishing: a model folder to the Hugging Face Hub with its card and a sample, the app to a
Space, or a folder as the app's embedded default (`python -m publish`)."""


class PublishError(RuntimeError):
    """A push that did not happen; the message says why and how to retry. The folder is untouched."""
