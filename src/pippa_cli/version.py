"""The version of pippa (one place: the package build reads it here too)."""

__version__ = "0.1.0"
