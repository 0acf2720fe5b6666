"""The quotewire exception hierarchy.

Every error quotewire raises on purpose is a `QuotewireError`, so a caller can catch one
class. The compiled core raises these same classes (the Rust side imports them from this
module with `pyo3::import_exception!`), so there is one hierarchy, defined here.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "ProtocolError", "QuotewireError"]


class QuotewireError(Exception):
    """Base class of every error raised by quotewire."""


class ConfigError(QuotewireError):
    """A configuration or argument is invalid (bad size, unknown option, bad time...)."""


class ProtocolError(QuotewireError):
    """Bytes on the wire or in a file break the protocol (ITCH, MoldUDP64, OUCH...)."""


class DataError(QuotewireError):
    """The data does not hold what was asked for (unknown symbol, empty session...)."""
