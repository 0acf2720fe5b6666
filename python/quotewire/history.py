"""Query an exported history (`quotewire export`) with DuckDB.

    import quotewire.history
    quotewire.history.open("hist").bbo("AAPL").df()

`open(dir)` registers every table of `quotewire.export` (`itch`, `bbo`, `l2`, `trades`,
`orders`, `fills`) as a DuckDB view over its Parquet files, with the Hive partition columns
`date` (DATE, UTC) and `symbol` (VARCHAR) added; a table the export left empty is an empty
view with the same columns. Methods return lazy `duckdb.DuckDBPyRelation`s: chain
`.filter()`, `.aggregate()`, ... or finish with `.df()`, `.fetchnumpy()`, `.arrow()`.
Filtering by `symbol` and `date` reads only those partitions.

Results come in time order (`ts`, then the order rows were written in). `ts` is a
`TIMESTAMP_NS` holding UTC; prices are both exact DECIMAL(18,4) (`price`) and raw BIGINT
with four implied decimals (`price_raw`); `.df()` and `.fetchnumpy()` turn decimals into
floats, so use the `_raw` columns for exact work in NumPy.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import duckdb
import pyarrow as pa

from quotewire import itch
from quotewire.errors import ConfigError
from quotewire.export import PARTITIONING, SCHEMAS, TABLES

__all__ = ["History", "open"]

DateLike = str | dt.date

_HIVE_TYPES: Final = "{'date': DATE, 'symbol': VARCHAR}"
# Columns DuckDB adds to order rows as written; never part of a view.
_ORDER_COLUMNS: Final = "filename, file_row_number"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _date(value: DateLike) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ConfigError(f"date must be a date or 'YYYY-MM-DD', not the datetime {value!r}")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad date {value!r}: expected YYYY-MM-DD") from e


class History:
    """An exported history directory opened in DuckDB (see `open`)."""

    def __init__(
        self, root: str | os.PathLike[str], connection: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        """Register the tables under `root` as views on `connection` (a new in-memory
        database when None)."""
        self._root = Path(root)
        if not self._root.is_dir():
            raise FileNotFoundError(f"no such history directory: {self._root}")
        self._con = connection if connection is not None else duckdb.connect()
        self._present: dict[str, bool] = {}
        for name in TABLES:
            self._register(name)

    def _register(self, name: str) -> None:
        files = self._root / name
        present = files.is_dir() and any(files.rglob("*.parquet"))
        self._present[name] = present
        if present:
            glob = _quote(str(files / "**" / "*.parquet"))
            self._con.execute(
                f"CREATE OR REPLACE VIEW _{name}_files AS SELECT * FROM read_parquet({glob}, "
                f"hive_partitioning = true, hive_types = {_HIVE_TYPES}, union_by_name = true, "
                "filename = true, file_row_number = true)"
            )
        else:
            # No files: an empty table with the columns an export would have written.
            empty = pa.schema(
                [
                    *SCHEMAS[name],
                    *PARTITIONING,
                    ("filename", pa.string()),
                    ("file_row_number", pa.int64()),
                ]
            ).empty_table()
            self._con.register(f"_{name}_empty", empty)
            self._con.execute(
                f"CREATE OR REPLACE VIEW _{name}_files AS SELECT * FROM _{name}_empty"
            )
        self._con.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * EXCLUDE ({_ORDER_COLUMNS}) "
            f"FROM _{name}_files"
        )

    # ------------------------------------------------------------------ plumbing

    @property
    def root(self) -> Path:
        """The history directory."""
        return self._root

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection holding the views."""
        return self._con

    @property
    def tables(self) -> Mapping[str, bool]:
        """Table name -> whether it has any file (an absent table is an empty view)."""
        return dict(self._present)

    def refresh(self) -> None:
        """Pick up files exported since `open` (a new day, a re-export)."""
        for name in TABLES:
            self._register(name)

    def close(self) -> None:
        """Close the DuckDB connection; relations from it stop working."""
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        present = ", ".join(n for n, p in self._present.items() if p) or "no tables"
        return f"History({str(self._root)!r}: {present})"

    def sql(self, query: str, params: Collection[object] | None = None) -> duckdb.DuckDBPyRelation:
        """Run `query` (with `?` `params`) over the views `itch`, `bbo`, `l2`, `trades`,
        `orders`, `fills`."""
        if params is None:
            return self._con.sql(query)
        return self._con.sql(query, params=list(params))

    def _select(
        self, table: str, where: list[str], params: list[object]
    ) -> duckdb.DuckDBPyRelation:
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return self.sql(
            f"SELECT * EXCLUDE ({_ORDER_COLUMNS}) FROM _{table}_files{clause} "
            f"ORDER BY ts, {_ORDER_COLUMNS}",
            params,
        )

    def _by(self, table: str, symbol: str | None, date: DateLike | None) -> duckdb.DuckDBPyRelation:
        where: list[str] = []
        params: list[object] = []
        if symbol is not None:
            where.append("symbol = ?")
            params.append(symbol.strip())
        if date is not None:
            where.append("date = ?")
            params.append(_date(date))
        return self._select(table, where, params)

    # ------------------------------------------------------------------ tables

    def bbo(self, symbol: str, date: DateLike | None = None) -> duckdb.DuckDBPyRelation:
        """Top of book of `symbol` after every change (on `date`, or every day)."""
        return self._by("bbo", symbol, date)

    def trades(self, symbol: str, date: DateLike | None = None) -> duckdb.DuckDBPyRelation:
        """The feed's executions and prints of `symbol`, with their prices."""
        return self._by("trades", symbol, date)

    def l2(self, symbol: str, date: DateLike | None = None) -> duckdb.DuckDBPyRelation:
        """`symbol`'s book levels, one row per level of each snapshot."""
        return self._by("l2", symbol, date)

    def itch(
        self,
        symbol: str | None = None,
        date: DateLike | None = None,
        types: Collection[str] | None = None,
    ) -> duckdb.DuckDBPyRelation:
        """Order-book messages, of one symbol or all, of some types (tags such as `"A"` or
        names such as `"add_order"`) or all."""
        rel_where: list[str] = []
        params: list[object] = []
        if symbol is not None:
            rel_where.append("symbol = ?")
            params.append(symbol.strip())
        if date is not None:
            rel_where.append("date = ?")
            params.append(_date(date))
        if types is not None:
            tags = sorted({_tag(t) for t in types})
            rel_where.append(f"type IN ({', '.join('?' for _ in tags)})" if tags else "false")
            params += tags
        return self._select("itch", rel_where, params)

    def orders(self, symbol: str | None = None) -> duckdb.DuckDBPyRelation:
        """Our order requests (of one symbol, or all)."""
        return self._by("orders", symbol, None)

    def fills(self, symbol: str | None = None) -> duckdb.DuckDBPyRelation:
        """Our executions and broken trades (of one symbol, or all)."""
        return self._by("fills", symbol, None)

    def symbols(self) -> list[str]:
        """Every symbol with market data, sorted."""
        rows = self.sql(
            "SELECT DISTINCT symbol FROM itch UNION SELECT DISTINCT symbol FROM bbo ORDER BY 1"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def dates(self) -> list[dt.date]:
        """Every date with data in any table, sorted."""
        union = " UNION ".join(f"SELECT DISTINCT date FROM {n}" for n in TABLES)
        return [r[0] for r in self.sql(f"{union} ORDER BY 1").fetchall()]


_ITCH_TYPES: Final = frozenset("AFECXDUPQ")


def _tag(name: str) -> str:
    """An order-book message type as its one-character tag."""
    tag = name if len(name) == 1 else itch.TAGS.get(name, name)
    if tag not in _ITCH_TYPES:
        raise ConfigError(
            f"{name!r} is not an order-book message type of the itch table "
            f"(tags {''.join(sorted(_ITCH_TYPES))} or their names)"
        )
    return tag


def open(
    root: str | os.PathLike[str],
) -> History:
    """Open an exported history directory: `quotewire.history.open(d).bbo("AAPL").df()`."""
    return History(root)
