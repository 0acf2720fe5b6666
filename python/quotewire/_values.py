"""Typed access to the plain dicts returned by `quotewire._core`.

The core returns `dict[str, object]`; these helpers check each value once at the boundary
so the rest of the package is typed, and a mismatch between the Python package and the
compiled core fails with a clear `ProtocolError` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping

from quotewire.errors import ProtocolError

__all__ = [
    "get_float",
    "get_int",
    "get_int_map",
    "get_number",
    "get_opt_int",
    "get_str",
    "get_str_list",
]


def _missing(key: str, what: str) -> ProtocolError:
    return ProtocolError(f"quotewire._core returned no {what} value for {key!r}")


def _get(data: Mapping[str, object], key: str, what: str) -> object:
    try:
        return data[key]
    except KeyError:
        raise _missing(key, what) from None


def get_int(data: Mapping[str, object], key: str) -> int:
    """Return `data[key]` as an `int` (bools refused)."""
    value = _get(data, key, "int")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"quotewire._core: {key!r} is {type(value).__name__}, not int")
    return value


def get_opt_int(data: Mapping[str, object], key: str) -> int | None:
    """Return `data[key]` as an `int`, or None when it is None or absent."""
    if data.get(key) is None:
        return None
    return get_int(data, key)


def get_number(data: Mapping[str, object], key: str) -> int | float:
    """Return `data[key]` as an `int` or `float`, keeping whichever the core produced."""
    value = _get(data, key, "number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"quotewire._core: {key!r} is {type(value).__name__}, not a number")
    return value


def get_float(data: Mapping[str, object], key: str) -> float:
    """Return `data[key]` as a `float`."""
    return float(get_number(data, key))


def get_str(data: Mapping[str, object], key: str) -> str:
    """Return `data[key]` as a `str`."""
    value = _get(data, key, "str")
    if not isinstance(value, str):
        raise ProtocolError(f"quotewire._core: {key!r} is {type(value).__name__}, not str")
    return value


def get_str_list(data: Mapping[str, object], key: str) -> list[str]:
    """Return `data[key]` as a `list[str]` (any sequence of str accepted)."""
    value = _get(data, key, "list")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"quotewire._core: {key!r} is not a list of str")
    return [str(v) for v in value]


def get_int_map(data: Mapping[str, object], key: str) -> dict[str, int]:
    """Return `data[key]` as a `dict[str, int]`; an absent key gives an empty dict."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProtocolError(f"quotewire._core: {key!r} is {type(value).__name__}, not dict")
    out: dict[str, int] = {}
    for k, v in value.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int):
            raise ProtocolError(f"quotewire._core: {key!r} is not a dict of str -> int")
        out[k] = v
    return out
