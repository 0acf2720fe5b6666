"""quotewire: a low-latency market-making appliance with a Rust hot core."""

from quotewire._core import version as _core_version

__version__: str = _core_version()

__all__ = ["__version__"]
