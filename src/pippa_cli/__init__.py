"""pippa: turn a sentence into a short video from your shell."""

__version__ = "0.1.0"
