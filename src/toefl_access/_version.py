"""The package version (one place: the client's user agent and ``--version`` read it)."""

__version__ = "0.1.0"
