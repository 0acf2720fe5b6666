"""The quotewire exception hierarchy.

Every error quotewire raises on purpose is a `QuotewireError`, so a caller can catch one
class::

    QuotewireError          base of them all
    ├── ConfigError         a configuration value or argument was refused
    ├── ProtocolError       bytes did not follow the protocol (ITCH, MoldUDP64, pcap...)
    └── DataError           a data file could not be used (unreadable, unknown format,
                            unknown symbol...)

The classes are created by the compiled core (`create_exception!` in `rust_core/py`), which
maps each Rust error enum onto them, and are re-exported here so that Python code raises
and catches the very same classes.
"""

from __future__ import annotations

from quotewire._core import ConfigError, DataError, ProtocolError, QuotewireError

__all__ = ["ConfigError", "DataError", "ProtocolError", "QuotewireError"]
