"""quotewire: a low-latency market-making appliance with a Rust hot core.

Python is the control plane: it configures, orchestrates and reports, while every
per-event loop runs in the compiled core `quotewire._core`.

Modules:
    quotewire.itch    ITCH 5.0 sessions as NumPy arrays, summaries, books and replays.
    quotewire.venue   The venue simulator (matching, OUCH, FIX, ITCH): config and runner.
    quotewire.engine  The trading engine: typed config, start/stop, live control, summaries.
    quotewire.demo    The main job: the engine making markets against the simulator.
    quotewire.bench   End-to-end benchmarks with machine, revision and HDR histograms.
    quotewire.errors  The exception hierarchy (`QuotewireError` and its subclasses).
    quotewire.export  A journal as Parquet tables (needs the `history` extra; not imported here).
    quotewire.history Those tables queried with DuckDB.
    quotewire.backtesting  History replayed through the live strategy code
                      (`quotewire.backtest(...)`, loaded on first use).
    quotewire.cli     The `quotewire` command line.
"""

import os as _os
from typing import TYPE_CHECKING

# NumPy's OpenBLAS starts spinning worker threads by default; on a host whose cores belong
# to the fast path they only steal cycles. The control plane never needs parallel BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

from quotewire import bench, engine, errors, itch, venue  # noqa: E402
from quotewire._core import version as _core_version  # noqa: E402
from quotewire.engine import Engine, EngineConfig  # noqa: E402
from quotewire.errors import ConfigError, DataError, ProtocolError, QuotewireError  # noqa: E402
from quotewire.venue import Venue, VenueConfig  # noqa: E402

__version__: str = _core_version()

if TYPE_CHECKING:
    from quotewire.backtesting import Latency, backtest


def __getattr__(name: str) -> object:
    # `quotewire.backtest(...)` and `quotewire.Latency` load pyarrow: only on first use.
    if name in ("backtest", "Latency"):
        from quotewire import backtesting

        return getattr(backtesting, name)
    raise AttributeError(f"module 'quotewire' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DataError",
    "Engine",
    "EngineConfig",
    "Latency",
    "ProtocolError",
    "QuotewireError",
    "Venue",
    "VenueConfig",
    "__version__",
    "backtest",
    "bench",
    "engine",
    "errors",
    "itch",
    "venue",
]
