"""quotewire: a low-latency market-making appliance with a Rust hot core.

Python is the control plane: it configures, orchestrates and reports, while every
per-event loop runs in the compiled core `quotewire._core`.

Modules:
    quotewire.itch    ITCH 5.0 sessions as NumPy arrays, summaries, books and replays.
    quotewire.venue   The venue simulator (matching, OUCH, FIX, ITCH): config and runner.
    quotewire.bench   End-to-end benchmarks with machine, revision and HDR histograms.
    quotewire.errors  The exception hierarchy (`QuotewireError` and its subclasses).
    quotewire.cli     The `quotewire` command line.
"""

from quotewire import bench, errors, itch, venue
from quotewire._core import version as _core_version
from quotewire.errors import ConfigError, DataError, ProtocolError, QuotewireError
from quotewire.venue import Venue, VenueConfig

__version__: str = _core_version()

__all__ = [
    "ConfigError",
    "DataError",
    "ProtocolError",
    "QuotewireError",
    "Venue",
    "VenueConfig",
    "__version__",
    "bench",
    "errors",
    "itch",
    "venue",
]
