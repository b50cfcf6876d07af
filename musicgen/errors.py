"""Errors that carry their reason in words, for the CLI and the page to show as they are."""
from __future__ import annotations


class ModelError(ValueError):
    """A model that cannot be loaded, with the reason in words."""


class HubUnreachable(ModelError):
    """The Hub could not be reached (or a download broke off) and no cached copy exists."""
