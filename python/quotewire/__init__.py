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

import importlib as _importlib
import os as _os
from typing import TYPE_CHECKING

# NumPy's OpenBLAS starts spinning worker threads by default; on a host whose cores belong
# to the fast path they only steal cycles. The control plane never needs parallel BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

if TYPE_CHECKING:
    from quotewire import bench, engine, errors, itch, venue
    from quotewire.backtesting import Latency, backtest
    from quotewire.engine import Engine, EngineConfig
    from quotewire.errors import ConfigError, DataError, ProtocolError, QuotewireError
    from quotewire.venue import Venue, VenueConfig

    __version__: str

# The package's names are loaded on first use (PEP 562), so that importing a light module
# of it (the console script's launcher, `quotewire._launch`) does not load the compiled core
# and NumPy: name -> module that defines it ("" for the submodule of that name).
_LAZY: dict[str, str] = {
    "bench": "",
    "engine": "",
    "errors": "",
    "itch": "",
    "venue": "",
    "Engine": "engine",
    "EngineConfig": "engine",
    "ConfigError": "errors",
    "DataError": "errors",
    "ProtocolError": "errors",
    "QuotewireError": "errors",
    "Venue": "venue",
    "VenueConfig": "venue",
    # `quotewire.backtest(...)` and `quotewire.Latency` load pyarrow.
    "backtest": "backtesting",
    "Latency": "backtesting",
}


def __getattr__(name: str) -> object:
    if name == "__version__":
        version: str = _importlib.import_module("quotewire._core").version()
        globals()[name] = version
        return version
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'quotewire' has no attribute {name!r}")
    module = _importlib.import_module(f"quotewire.{home or name}")
    value = module if not home else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
