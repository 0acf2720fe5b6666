"""The venue simulator from Python: configuration, TOML files, a running venue spoken to
over real sockets on 127.0.0.1 (MoldUDP64/ITCH, SoupBinTCP), its background market, the
`venue` command and `bench venue`."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import RunCli, last_json_line

pytest.importorskip("quotewire._core", reason="the compiled core is not built")

from quotewire import _core, bench
from quotewire.errors import ConfigError, ProtocolError
from quotewire.venue import (
    BACKGROUND_LOT,
    Background,
    BackgroundInstrument,
    Endpoints,
    Faults,
    FixConfig,
    FixSession,
    Instrument,
    ItchConfig,
    OuchAccount,
    OuchConfig,
    Replay,
    Venue,
    VenueConfig,
    price_to_raw,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "venue.toml"
TIMEOUT_S = 5.0

MOLD_HEADER = struct.Struct(">10sQH")  # session, sequence number, message count
END_OF_SESSION = 0xFFFF
# A file's one valid instrument, which file cases below extend.
_ONE_INSTRUMENT = '[[instruments]]\nsymbol="A"\nid=1\ntick="0.01"\nband_low="1"\nband_high="2"\n'
# ITCH 5.0 Add Order: type, locate, tracking, timestamp (6), order ref, side, shares, stock,
# price (4 implied decimals).
ADD_ORDER = struct.Struct(">cHH6sQcI8sI")


# --------------------------------------------------------------------------- helpers


def _valid() -> VenueConfig:
    """A small valid configuration with every part enabled; cases below break one field."""
    return VenueConfig(
        instruments=[
            Instrument("AAPL", 1, "0.01", "100.00", "300.00"),
            Instrument("MSFT", 2, "0.01", "300.00", "600.00"),
        ],
        ouch=OuchConfig([OuchAccount("alice", "pw", 1), OuchAccount("bob", "pw2", 2)]),
        fix=FixConfig([FixSession("CLIENT", "VENUE", 3)]),
        itch=ItchConfig("127.0.0.1:26477"),
        background=Background(
            [
                BackgroundInstrument(
                    "AAPL", "200.00", 1.0, limit_rate=200.0, market_rate=20.0, mean_size=200
                )
            ],
            seed=7,
            first_firm=100,
            firms=4,
        ),
    )


def _with_background(**changes: object) -> VenueConfig:
    c = _valid()
    assert c.background is not None
    return dataclasses.replace(c, background=dataclasses.replace(c.background, **changes))


def _with_flow(**changes: object) -> VenueConfig:
    """`_valid()` with its background instrument changed (`BackgroundInstrument` has a
    custom `__init__`, so the fields are passed again rather than `replace`d)."""
    c = _valid()
    assert c.background is not None
    first = c.background.instruments[0]
    fields = {f.name: getattr(first, f.name) for f in dataclasses.fields(first)}
    fields.update(changes)
    flow = BackgroundInstrument(**fields)  # type: ignore[arg-type]
    return _with_background(instruments=[flow, *c.background.instruments[1:]])


def _with_replay(**changes: object) -> VenueConfig:
    """`_valid()` replaying a (readable, if not an ITCH) file: validation only."""
    return dataclasses.replace(_valid(), replay=dataclasses.replace(Replay(EXAMPLE), **changes))


def _with_instrument(**changes: object) -> VenueConfig:
    c = _valid()
    first = c.instruments[0]
    fields = {
        "symbol": first.symbol,
        "id": first.id,
        "tick": first.tick,
        "band_low": first.band_low,
        "band_high": first.band_high,
        "max_order_qty": first.max_order_qty,
    }
    fields.update(changes)
    return dataclasses.replace(c, instruments=[Instrument(**fields), *c.instruments[1:]])


def _with_account(**changes: object) -> VenueConfig:
    c = _valid()
    assert c.ouch is not None
    accounts = [dataclasses.replace(c.ouch.accounts[0], **changes), *c.ouch.accounts[1:]]
    return dataclasses.replace(c, ouch=dataclasses.replace(c.ouch, accounts=accounts))


def _with_part(part: str, **changes: object) -> VenueConfig:
    c = _valid()
    return dataclasses.replace(c, **{part: dataclasses.replace(getattr(c, part), **changes)})


def _for_test(
    config: VenueConfig, itch_destination: tuple[str, int], *, background: bool = False
) -> VenueConfig:
    """`config` with every listening port 0 and the ITCH feed sent to a test socket;
    without its background flow unless `background` (so the feed and counters are the
    test's own)."""
    assert config.ouch is not None and config.fix is not None and config.itch is not None
    host, port = itch_destination
    return dataclasses.replace(
        config,
        background=config.background if background else None,
        ouch=dataclasses.replace(config.ouch, listen="127.0.0.1:0"),
        fix=dataclasses.replace(config.fix, listen="127.0.0.1:0"),
        itch=dataclasses.replace(
            config.itch, destination=f"{host}:{port}", retransmit_bind="127.0.0.1:0"
        ),
    )


def _mold_messages(datagram: bytes) -> tuple[bytes, int, int, list[bytes]]:
    """(session, sequence, count, messages) of one MoldUDP64 packet."""
    session, sequence, count = MOLD_HEADER.unpack_from(datagram)
    messages: list[bytes] = []
    offset = MOLD_HEADER.size
    if count != END_OF_SESSION:
        for _ in range(count):
            (length,) = struct.unpack_from(">H", datagram, offset)
            messages.append(datagram[offset + 2 : offset + 2 + length])
            offset += 2 + length
        assert offset == len(datagram), "trailing bytes after the last message block"
    return session, sequence, count, messages


def _recv_until(sock: socket.socket, done: object, timeout: float = TIMEOUT_S) -> list[bytes]:
    """Datagrams received until `done(datagram)` is true for one; fails after `timeout`."""
    assert callable(done)
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(65_535))
        except TimeoutError:
            break
        if done(got[-1]):
            return got
    pytest.fail(f"no matching datagram within {timeout} s ({len(got)} received)")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def _soup_login(
    address: tuple[str, int], username: str, password: str, session: str = ""
) -> tuple[bytes, bytes]:
    """Send a SoupBinTCP Login Request; returns (packet type, payload) of the reply."""
    payload = (
        b"L"
        + username.encode().ljust(6)
        + password.encode().ljust(10)
        + session.encode().ljust(10)  # spaces: the current session
        + b"1".rjust(20)  # next sequence number wanted
    )
    with socket.create_connection(address, timeout=TIMEOUT_S) as tcp:
        tcp.sendall(struct.pack(">H", len(payload)) + payload)
        (length,) = struct.unpack(">H", _recv_exact(tcp, 2))
        body = _recv_exact(tcp, length)
    return body[:1], body[1:]


@pytest.fixture
def itch_socket() -> Iterator[socket.socket]:
    """A UDP socket on 127.0.0.1 to receive the venue's ITCH feed."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(TIMEOUT_S)
        yield sock


@pytest.fixture
def running(itch_socket: socket.socket) -> Iterator[Venue]:
    """The example venue on free ports without its background flow, its feed sent to
    `itch_socket`."""
    config = _for_test(VenueConfig.load(EXAMPLE), itch_socket.getsockname())
    venue = Venue(config)
    try:
        yield venue
    finally:
        venue.stop()


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("0.01", 100),
        ("100.00", 1_000_000),
        (" 1.5 ", 15_000),
        ("0.0001", 1),
        (Decimal("123.4500"), 1_234_500),
        (5, 50_000),
        ("1e2", 1_000_000),
        ("12345678901234567890123456789.0001", 123456789012345678901234567890001),
    ],
)
def test_prices_in_currency_units_convert_exactly_to_four_decimal_raw(text, raw):
    assert price_to_raw(text) == raw


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("0.00001", "more than 4 decimals"),
        (Decimal("1.23456"), "more than 4 decimals"),
        (0.01, "float"),
        ("ten", "not a decimal number"),
        ("NaN", "not a finite number"),
        (True, "bool"),
    ],
)
def test_inexact_or_non_numeric_prices_are_refused_naming_the_field(value, needle):
    with pytest.raises(ConfigError, match="tick") as err:
        Instrument("AAPL", 1, value, "100", "200")
    assert needle in str(err.value)


def test_instrument_prices_compare_equal_whatever_form_they_were_given_in():
    a = Instrument("AAPL", 1, "0.01", "100", "300.0")
    b = Instrument("AAPL", 1, Decimal("0.0100"), 100, Decimal("300.00"))
    assert a == b
    assert (a.tick_raw, a.band_low_raw, a.band_high_raw) == (100, 1_000_000, 3_000_000)
    assert str(a.band_low) == "100.00"


INVALID = [
    ("tick-zero", lambda: _with_instrument(tick="0"), "instruments[0].tick: 0 is not > 0"),
    ("symbol-long", lambda: _with_instrument(symbol="TOOLONGSY"), "instruments[0].symbol"),
    ("symbol-empty", lambda: _with_instrument(symbol=""), "instruments[0].symbol: ''"),
    ("symbol-space", lambda: _with_instrument(symbol="BRK A"), "instruments[0].symbol"),
    ("symbol-ascii", lambda: _with_instrument(symbol="ÄPPL"), "instruments[0].symbol"),
    ("id-zero", lambda: _with_instrument(id=0), "instruments[0].id: 0 is not in 1..65535"),
    ("id-big", lambda: _with_instrument(id=65_536), "instruments[0].id: 65536 is not in 1..65535"),
    ("id-dup", lambda: _with_instrument(id=2), "instruments: id 2 appears more than once"),
    ("sym-dup", lambda: _with_instrument(symbol="MSFT"), "instruments: symbol 'MSFT' appears"),
    (
        "band-off-tick",
        lambda: _with_instrument(band_low="100.005"),
        "instruments[0].band_low: 100.005 is not a multiple of the tick 0.01",
    ),
    (
        "band-low-zero",
        lambda: _with_instrument(band_low="0"),
        "instruments[0].band_low: 0 is not > 0",
    ),
    (
        "band-inverted",
        lambda: _with_instrument(band_low="300", band_high="100"),
        "instruments[0].band_high: 100.00 is not > band_low 300.00",
    ),
    (
        "band-too-wide",
        lambda: _with_instrument(band_low="0.01", band_high="655.37"),
        "holds 65,537 prices",
    ),
    (
        "qty-zero",
        lambda: _with_instrument(max_order_qty=0),
        "instruments[0].max_order_qty: 0 is not in 1..4294967295",
    ),
    ("qty-big", lambda: _with_instrument(max_order_qty=2**32), "instruments[0].max_order_qty"),
    ("no-instruments", lambda: VenueConfig(instruments=[]), "instruments: empty"),
    ("max-orders", lambda: dataclasses.replace(_valid(), max_orders=0), "max_orders: 0"),
    (
        "self-match",
        lambda: dataclasses.replace(_valid(), self_match="cancel_all"),
        "self_match: 'cancel_all' is not one of",
    ),
    ("user-long", lambda: _with_account(username="charlie"), "ouch.accounts[0].username"),
    ("user-space", lambda: _with_account(username="a b"), "ouch.accounts[0].username: 'a b'"),
    ("password-long", lambda: _with_account(password="x" * 11), "ouch.accounts[0].password"),
    ("firm-dup", lambda: _with_account(firm=2), "ouch.accounts: firm 2 appears more than once"),
    ("user-dup", lambda: _with_account(username="bob"), "ouch.accounts: username 'bob'"),
    ("ouch-session", lambda: _with_part("ouch", session="ELEVENCHARS"), "ouch.session"),
    ("ouch-listen-port", lambda: _with_part("ouch", listen="127.0.0.1"), "ouch.listen"),
    ("ouch-listen-name", lambda: _with_part("ouch", listen="localhost:1"), "ouch.listen"),
    ("ouch-no-accounts", lambda: _with_part("ouch", accounts=[]), "ouch.accounts: empty"),
    (
        "comp-id-long",
        lambda: _with_part("fix", sessions=[FixSession("C" * 33, "VENUE", 3)]),
        "fix.sessions[0].sender_comp_id",
    ),
    (
        "comp-id-empty",
        lambda: _with_part("fix", sessions=[FixSession("CLIENT", "", 3)]),
        "fix.sessions[0].target_comp_id",
    ),
    (
        "fix-firm-dup",
        lambda: _with_part("fix", sessions=[FixSession("A", "V", 3), FixSession("B", "V", 3)]),
        "fix.sessions: firm 3",
    ),
    (
        "drop-ppm",
        lambda: _with_part("itch", faults=Faults(drop_ppm=1_000_001)),
        "itch.faults.drop_ppm: 1000001 is not in 0..1000000",
    ),
    (
        "reorder-negative",
        lambda: _with_part("itch", faults=Faults(reorder_ppm=-1)),
        "itch.faults.reorder_ppm: -1 is not in 0..1000000",
    ),
    (
        "history-zero",
        lambda: _with_part("itch", history=0),
        "itch.history: 0 is not in 1..4294967295",
    ),
    ("itch-session", lambda: _with_part("itch", session=""), "itch.session"),
    (
        "itch-ipv6",
        lambda: _with_part("itch", destination="[::1]:26477"),
        "itch.destination: '[::1]:26477' is not IPv4:port",
    ),
    ("itch-port-0", lambda: _with_part("itch", destination="127.0.0.1:0"), "itch.destination"),
    (
        "retransmit-name",
        lambda: _with_part("itch", retransmit_bind="localhost:0"),
        "itch.retransmit_bind",
    ),
]

_FLOW = "background.instruments[0]"
INVALID_BACKGROUND = [
    (
        "bg-not-background",
        lambda: dataclasses.replace(_valid(), background={"seed": 1}),
        "background: {'seed': 1} is not a Background or None",
    ),
    (
        "bg-seed-negative",
        lambda: _with_background(seed=-1),
        "background.seed: -1 is not in 0..18446744073709551615",
    ),
    ("bg-seed-big", lambda: _with_background(seed=2**64), "background.seed: 18446744073709551616"),
    (
        "bg-firms-zero",
        lambda: _with_background(firms=0),
        "background.firms: 0 is not in 1..4294967295",
    ),
    (
        "bg-first-firm-negative",
        lambda: _with_background(first_firm=-1),
        "background.first_firm: -1 is not in 0..4294967295",
    ),
    (
        "bg-firm-range-overflows",
        lambda: _with_background(first_firm=2**32 - 4, firms=5),
        "background.firms: first_firm 4294967292 + firms 5 = 4,294,967,297 is not <= 4,294,967,296",
    ),
    (
        "bg-firms-bool",
        lambda: _with_background(firms=True),
        "background.firms: True is not an integer",
    ),
    (
        "bg-firm-is-ouch",
        lambda: _with_background(first_firm=0, firms=2),
        "background.first_firm: the flow's firms 0..1 include ouch.accounts[0].firm 1",
    ),
    (
        "bg-firm-is-fix",
        lambda: _with_background(first_firm=3, firms=1),
        "background.first_firm: the flow's firms 3..3 include fix.sessions[0].firm 3",
    ),
    (
        "bg-no-instruments",
        lambda: _with_background(instruments=[]),
        "background.instruments: empty",
    ),
    (
        "bg-not-instrument",
        lambda: _with_background(instruments=["AAPL"]),
        "background.instruments[0]: 'AAPL' is not a BackgroundInstrument",
    ),
    (
        "bg-symbol-dup",
        lambda: _with_background(
            instruments=[BackgroundInstrument("AAPL", "200"), BackgroundInstrument("AAPL", "201")]
        ),
        "background.instruments: symbol 'AAPL' appears more than once",
    ),
    (
        "bg-symbol-unknown",
        lambda: _with_flow(symbol="TSLA"),
        f"{_FLOW}.symbol: 'TSLA' is not a configured instrument (configured: 'AAPL', 'MSFT')",
    ),
    (
        "bg-mid-off-tick",
        lambda: _with_flow(start_mid="200.005"),
        f"{_FLOW}.start_mid: 200.005 is not a multiple of AAPL's tick 0.01",
    ),
    (
        "bg-mid-at-band-low",
        lambda: _with_flow(start_mid="100.00"),
        f"{_FLOW}.start_mid: 100.00 is not strictly inside AAPL's band 100.00..300.00",
    ),
    (
        "bg-mid-at-band-high",
        lambda: _with_flow(start_mid="300"),
        f"{_FLOW}.start_mid: 300.00 is not strictly inside AAPL's band 100.00..300.00",
    ),
    (
        "bg-mid-below-band",
        lambda: _with_flow(start_mid="0.01"),
        f"{_FLOW}.start_mid: 0.01 is not strictly inside AAPL's band",
    ),
    (
        "bg-lot-above-max-qty",
        lambda: dataclasses.replace(
            _with_flow(),
            instruments=[Instrument("AAPL", 1, "0.01", "100", "300", max_order_qty=99)],
        ),
        f"{_FLOW}.symbol: 'AAPL' has max_order_qty 99, not >= the background flow's lot of 100",
    ),
    *[
        (
            f"bg-{name}-{label}",
            lambda name=name, value=value: _with_flow(**{name: value}),
            f"{_FLOW}.{name}: {value!r} is not a finite number >= 0",
        )
        for name in ("volatility_ticks_per_sqrt_s", "limit_rate", "market_rate", "cancel_rate")
        for label, value in (("negative", -0.5), ("nan", float("nan")), ("inf", float("inf")))
    ],
    (
        "bg-rate-string",
        lambda: _with_flow(limit_rate="200"),
        f"{_FLOW}.limit_rate: '200' is not a number",
    ),
    (
        "bg-rate-bool",
        lambda: _with_flow(market_rate=True),
        f"{_FLOW}.market_rate: True is not a number",
    ),
    (
        "bg-mean-size-below-lot",
        lambda: _with_flow(mean_size=99),
        f"{_FLOW}.mean_size: 99 is not in 100..18446744073709551615",
    ),
    ("bg-mean-size-zero", lambda: _with_flow(mean_size=0), f"{_FLOW}.mean_size: 0 is not in"),
    (
        "bg-mean-size-float",
        lambda: _with_flow(mean_size=200.0),
        f"{_FLOW}.mean_size: 200.0 is not an integer",
    ),
    ("bg-symbol-type", lambda: _with_flow(symbol=1), f"{_FLOW}.symbol: 1 is not a string"),
]


INVALID_REPLAY = [
    (
        "replay-not-replay",
        lambda: dataclasses.replace(_valid(), replay={"path": "x"}),
        "replay: {'path': 'x'} is not a Replay or None",
    ),
    (
        "replay-missing-file",
        lambda: _with_replay(path="/nonexistent/capture.itch"),
        "replay.path: '/nonexistent/capture.itch' does not exist",
    ),
    (
        "replay-directory",
        lambda: _with_replay(path=EXAMPLE.parent),
        f"replay.path: {str(EXAMPLE.parent)!r} is not a file",
    ),
    ("replay-path-type", lambda: _with_replay(path=3), "replay.path: 3 is not a path"),
    (
        "replay-negative-speed",
        lambda: _with_replay(speed=-1),
        "replay.speed: -1.0 is not a finite number >= 0",
    ),
    (
        "replay-nan-speed",
        lambda: _with_replay(speed=float("nan")),
        "replay.speed: nan is not a finite number >= 0",
    ),
    (
        "replay-inf-speed",
        lambda: _with_replay(speed=float("inf")),
        "replay.speed: inf is not a finite number >= 0",
    ),
    ("replay-speed-type", lambda: _with_replay(speed="1"), "replay.speed: '1' is not a number"),
    (
        "replay-unknown-symbol",
        lambda: _with_replay(symbols=("AAPL", "TSLA")),
        "replay.symbols[1]: 'TSLA' is not a configured instrument (configured: 'AAPL', 'MSFT')",
    ),
    (
        "replay-symbol-type",
        lambda: _with_replay(symbols=(1,)),
        "replay.symbols[0]: 1 is not a string",
    ),
    (
        "replay-symbols-str",
        lambda: _with_replay(symbols="AAPL"),
        "replay.symbols: 'AAPL' is not a list of symbols or None",
    ),
    (
        "replay-symbols-empty",
        lambda: _with_replay(symbols=()),
        "replay.symbols: empty; give None to replay every instrument",
    ),
    (
        "replay-symbols-repeated",
        lambda: _with_replay(symbols=["MSFT", "MSFT"]),
        "replay.symbols: symbol 'MSFT' appears more than once",
    ),
    (
        "replay-firm-negative",
        lambda: _with_replay(firm=-1),
        "replay.firm: -1 is not in 0..4294967295",
    ),
    ("replay-firm-big", lambda: _with_replay(firm=2**32), "replay.firm: 4294967296 is not in"),
    ("replay-firm-bool", lambda: _with_replay(firm=True), "replay.firm: True is not an integer"),
    (
        "replay-firm-ouch",
        lambda: _with_replay(firm=2),
        "replay.firm: 2 is also ouch.accounts[1].firm; give the replay a firm of its own",
    ),
    (
        "replay-firm-fix",
        lambda: _with_replay(firm=3),
        "replay.firm: 3 is also fix.sessions[0].firm",
    ),
    (
        "replay-firm-background",
        lambda: _with_replay(firm=103),
        "replay.firm: 103 is also one of the background flow's firms 100..103",
    ),
]


@pytest.mark.parametrize(
    ("make", "needle"),
    [c[1:] for c in INVALID + INVALID_BACKGROUND + INVALID_REPLAY],
    ids=[c[0] for c in INVALID + INVALID_BACKGROUND + INVALID_REPLAY],
)
def test_invalid_config_is_refused_naming_the_field_and_value(make, needle):
    config = make()
    assert any(needle in p for p in config.problems()), config.problems()
    with pytest.raises(ConfigError) as err:
        config.validate()
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_config_never_reaches_the_core(monkeypatch):
    def core_venue(_json: str) -> None:
        raise AssertionError("the core was called with an invalid configuration")

    monkeypatch.setattr(_core, "Venue", core_venue)
    with pytest.raises(ConfigError, match=r"instruments\[0\]\.tick: 0 is not > 0"):
        Venue(_with_instrument(tick="0"))


def test_every_problem_is_listed_at_once():
    config = dataclasses.replace(_with_instrument(id=0, tick="0"), max_orders=0)
    with pytest.raises(ConfigError) as err:
        config.validate()
    message = str(err.value)
    for needle in ("max_orders", "instruments[0].id", "instruments[0].tick"):
        assert needle in message


def test_the_core_accepts_the_json_of_a_valid_config_with_every_key():
    data = json.loads(_valid().to_json())
    assert set(data) == {
        "max_orders",
        "self_match",
        "instruments",
        "ouch",
        "fix",
        "itch",
        "background",
        "replay",
    }
    assert data["replay"] is None
    assert data["instruments"][0] == {
        "id": 1,
        "symbol": "AAPL",
        "tick": 100,
        "band_low": 1_000_000,
        "band_high": 3_000_000,
        "max_order_qty": 1_000_000,
    }
    assert data["itch"]["faults"] == {
        "drop_ppm": 0,
        "duplicate_ppm": 0,
        "reorder_ppm": 0,
        "seed": 1,
    }
    disabled = json.loads(
        dataclasses.replace(_valid(), ouch=None, fix=None, itch=None, background=None).to_json()
    )
    assert disabled["ouch"] is disabled["fix"] is disabled["itch"] is None
    assert disabled["background"] is None


def test_background_json_names_the_instrument_by_id_with_a_raw_start_mid():
    data = json.loads(_valid().to_json())
    assert data["background"] == {
        "seed": 7,
        "first_firm": 100,
        "firms": 4,
        "instruments": [
            {
                "id": 1,
                "start_mid": 2_000_000,
                "volatility_ticks_per_sqrt_s": 1.0,
                "limit_rate": 200.0,
                "market_rate": 20.0,
                "cancel_rate": 0.5,
                "mean_size": 200,
            }
        ],
    }
    spy = dataclasses.replace(
        _valid(),
        instruments=[*_valid().instruments, Instrument("SPY", 42, "0.01", "400", "700")],
        background=Background([BackgroundInstrument("SPY", "550.25")]),
    )
    flow = json.loads(spy.to_json())["background"]
    assert flow["instruments"][0]["id"] == 42
    assert flow["instruments"][0]["start_mid"] == 5_502_500
    assert (flow["seed"], flow["first_firm"], flow["firms"]) == (1, 1000, 4)


def test_replay_json_maps_each_symbol_to_its_instrument_id(tmp_path: Path):
    capture = tmp_path / "day.itch"
    capture.write_bytes(b"")
    everything = json.loads(dataclasses.replace(_valid(), replay=Replay(str(capture))).to_json())
    assert everything["replay"] == {
        "path": str(capture),
        "firm": 900,
        "speed": 1.0,
        "symbols": [["AAPL", 1], ["MSFT", 2]],  # None: every configured instrument
    }
    one = Replay(capture, firm=7, speed=10, symbols=["MSFT"])
    assert one.path == capture and one.speed == 10.0 and type(one.speed) is float
    assert one.symbols == ("MSFT",)
    data = json.loads(dataclasses.replace(_valid(), replay=one).to_json())["replay"]
    assert data == {"path": str(capture), "firm": 7, "speed": 10.0, "symbols": [["MSFT", 2]]}
    # str and Path name the same file
    assert Replay(str(capture)) == Replay(capture)
    assert _with_replay(firm=0, speed=0).problems() == []  # firm 0 is free in _valid()


def test_background_instrument_defaults_and_exact_forms():
    flow = BackgroundInstrument("AAPL", "200")
    assert flow.start_mid == Decimal("200.00") and flow.start_mid_raw == 2_000_000
    assert (flow.volatility_ticks_per_sqrt_s, flow.limit_rate, flow.market_rate) == (1.0, 50.0, 5.0)
    assert (flow.cancel_rate, flow.mean_size) == (0.5, BACKGROUND_LOT)
    # ints become the equal float, so the JSON and TOML do not depend on the form given
    same = BackgroundInstrument("AAPL", Decimal("200.0000"), 1, 50, 5)
    assert same == flow and type(same.limit_rate) is float
    with pytest.raises(ConfigError, match=r"start_mid: 0\.2 is a float"):
        BackgroundInstrument("AAPL", 0.2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"start_mid: '1\.00001' has more than 4 decimals"):
        BackgroundInstrument("AAPL", "1.00001")
    assert Background([flow]).firm_range == range(1000, 1004)


def test_background_firms_just_below_the_firm_id_limit_are_valid():
    assert _with_background(first_firm=2**32 - 4, firms=4).problems() == []
    assert _with_background(first_firm=0, firms=1).problems() == []  # firm 0 is free here
    assert _with_background(firms=1).problems() == []  # allowed, only not recommended


def test_background_problems_of_a_broken_instrument_are_not_repeated():
    config = dataclasses.replace(_with_instrument(tick="0"), background=_valid().background)
    problems = config.problems()
    assert problems == ["instruments[0].tick: 0 is not > 0"]


# --------------------------------------------------------------------------- TOML files


def test_example_loads_with_three_instruments_two_ouch_accounts_and_one_fix_session():
    config = VenueConfig.load(EXAMPLE)
    assert [i.symbol for i in config.instruments] == ["AAPL", "MSFT", "SPY"]
    assert all(i.tick == Decimal("0.01") for i in config.instruments)
    assert config.ouch is not None and len(config.ouch.accounts) == 2
    assert config.fix is not None and len(config.fix.sessions) == 1
    assert config.itch is not None and config.itch.destination == "127.0.0.1:26477"
    assert config.itch.faults == Faults()
    assert config.background is not None
    assert [f.symbol for f in config.background.instruments] == ["AAPL", "SPY"]
    assert config.background.firm_range == range(1000, 1004)


def test_save_then_load_gives_an_equal_config(tmp_path: Path):
    for config in (VenueConfig.load(EXAMPLE), _valid(), VenueConfig([Instrument("X", 9, 1, 1, 2)])):
        path = config.save(tmp_path / "venue.toml")
        assert VenueConfig.load(path) == config
        assert VenueConfig.load(path).to_json() == config.to_json()


def test_background_round_trips_through_a_toml_file(tmp_path: Path):
    config = _valid()
    path = config.save(tmp_path / "venue.toml")
    data = tomllib.loads(path.read_text())
    assert data["background"]["first_firm"] == 100
    assert data["background"]["instruments"] == [
        {
            "symbol": "AAPL",
            "start_mid": "200.00",
            "volatility_ticks_per_sqrt_s": 1.0,
            "limit_rate": 200.0,
            "market_rate": 20.0,
            "cancel_rate": 0.5,
            "mean_size": 200,
        }
    ]
    again = VenueConfig.load(path)
    assert again == config and again.background == config.background
    assert again.to_json() == config.to_json()
    # an awkward float survives exactly
    odd = _with_flow(volatility_ticks_per_sqrt_s=0.1 + 0.2, cancel_rate=1e-7, limit_rate=0.0)
    assert VenueConfig.load(odd.save(tmp_path / "odd.toml")) == odd


def test_replay_round_trips_through_a_toml_file(tmp_path: Path):
    capture = tmp_path / "day.itch"
    capture.write_bytes(b"")
    for replay in (
        Replay(capture),
        Replay(capture, firm=0, speed=0.1 + 0.2, symbols=("MSFT", "AAPL")),
        Replay(capture, speed=0),
    ):
        config = dataclasses.replace(_valid(), replay=replay)
        path = config.save(tmp_path / "venue.toml")
        data = tomllib.loads(path.read_text())
        assert data["replay"]["path"] == str(capture)
        assert data["replay"]["firm"] == replay.firm and data["replay"]["speed"] == replay.speed
        assert data["replay"].get("symbols") == (
            None if replay.symbols is None else list(replay.symbols)
        )
        again = VenueConfig.load(path)
        assert again == config and again.replay == replay
        assert again.to_json() == config.to_json()


def test_replay_section_with_only_a_path_takes_the_defaults(tmp_path: Path):
    capture = tmp_path / "day.itch"
    capture.write_bytes(b"")
    path = tmp_path / "v.toml"
    path.write_text(_ONE_INSTRUMENT + f"[replay]\npath = {json.dumps(str(capture))}\nspeed = 2\n")
    config = VenueConfig.load(path)
    assert config.replay == Replay(capture, firm=900, speed=2.0, symbols=None)
    assert type(config.replay.speed) is float


def test_background_section_with_only_required_keys_takes_the_defaults(tmp_path: Path):
    path = tmp_path / "v.toml"
    path.write_text(
        '[[instruments]]\nsymbol="A"\nid=1\ntick="0.01"\nband_low="1"\nband_high="2"\n'
        '[background]\n[[background.instruments]]\nsymbol="A"\nstart_mid="1.50"\n'
        "limit_rate = 3  # an integer is a fine rate\n"
    )
    config = VenueConfig.load(path)
    assert config.background == Background([BackgroundInstrument("A", "1.5", limit_rate=3.0)])
    assert config.background.seed == 1 and config.background.firms == 4


def test_saved_prices_are_exact_strings(tmp_path: Path):
    path = _valid().save(tmp_path / "v.toml")
    data = tomllib.loads(path.read_text())
    assert data["instruments"][0]["tick"] == "0.01"
    assert data["instruments"][0]["band_high"] == "300.00"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            '[[instruments]]\nsymbol="A"\nid=1\ntick=0.01\nband_low="1"\nband_high="2"\n',
            "instruments[0].tick: 0.01 is not a price",
        ),
        (
            '[[instruments]]\nsymbol="A"\nid="1"\ntick="0.01"\nband_low="1"\nband_high="2"\n',
            "instruments[0].id: '1' is not an integer",
        ),
        (
            '[[instruments]]\nsymbol="A"\nid=1\ntikc="0.01"\ntick="0.01"\nband_low="1"\nband_high="2"\n',
            "instruments[0].tikc: unknown key",
        ),
        (
            '[[instruments]]\nid=1\ntick="0.01"\nband_low="1"\nband_high="2"\n',
            "instruments[0].symbol: missing",
        ),
        (
            '[[instruments]]\nsymbol="A"\nid=1\ntick="0.00001"\nband_low="1"\nband_high="2"\n',
            "instruments[0].tick",
        ),
        (
            'max_order=5\n[[instruments]]\nsymbol="A"\nid=1\ntick="0.01"\nband_low="1"\nband_high="2"\n',
            "max_order: unknown key",
        ),
        (
            '[itch]\ndestination="127.0.0.1:1"\n[itch.faults]\ndrop=1\n',
            "itch.faults.drop: unknown key",
        ),
        ("max_orders = [", "not valid TOML"),
        (
            _ONE_INSTRUMENT + '[background]\nsed=1\n[[background.instruments]]\nsymbol="A"\n'
            'start_mid="1.5"\n',
            "background.sed: unknown key",
        ),
        (
            _ONE_INSTRUMENT + '[[background.instruments]]\nsymbol="A"\nstart_mid="1.5"\nrate=2.0\n',
            "background.instruments[0].rate: unknown key",
        ),
        (
            _ONE_INSTRUMENT + '[[background.instruments]]\nsymbol="A"\nstart_mid=1.5\n',
            "background.instruments[0].start_mid: 1.5 is not a price",
        ),
        (
            _ONE_INSTRUMENT + '[[background.instruments]]\nsymbol="A"\nstart_mid="1.5"\n'
            'limit_rate="20"\n',
            "background.instruments[0].limit_rate: '20' is not a number",
        ),
        (
            _ONE_INSTRUMENT + '[[background.instruments]]\nstart_mid="1.5"\n',
            "background.instruments[0].symbol: missing",
        ),
        (
            _ONE_INSTRUMENT + '[[background.instruments]]\nsymbol="A"\nstart_mid="1.5"\n'
            "cancel_rate=nan\n",
            "background.instruments[0].cancel_rate: nan is not a finite number >= 0",
        ),
        (
            _ONE_INSTRUMENT + '[[background.instruments]]\nsymbol="B"\nstart_mid="1.5"\n',
            "background.instruments[0].symbol: 'B' is not a configured instrument",
        ),
        (_ONE_INSTRUMENT + "[background]\nseed=1\n", "background.instruments: empty"),
        (_ONE_INSTRUMENT + "[replay]\nfirm=5\n", "replay.path: missing"),
        (
            _ONE_INSTRUMENT + f'[replay]\npath="{EXAMPLE}"\nspeeed=1.0\n',
            "replay.speeed: unknown key",
        ),
        (
            _ONE_INSTRUMENT + f'[replay]\npath="{EXAMPLE}"\nsymbols="A"\n',
            "replay.symbols: 'A' is not an array of strings",
        ),
        (
            _ONE_INSTRUMENT + f'[replay]\npath="{EXAMPLE}"\nsymbols=["A", 1]\n',
            "replay.symbols: ['A', 1] is not an array of strings",
        ),
        (
            _ONE_INSTRUMENT + f'[replay]\npath="{EXAMPLE}"\nsymbols=["B"]\n',
            "replay.symbols[0]: 'B' is not a configured instrument",
        ),
        (
            _ONE_INSTRUMENT + '[replay]\npath="/nonexistent/day.itch"\n',
            "replay.path: '/nonexistent/day.itch' does not exist",
        ),
        (
            _ONE_INSTRUMENT + f'[replay]\npath="{EXAMPLE}"\nspeed=-0.5\n',
            "replay.speed: -0.5 is not a finite number >= 0",
        ),
    ],
)
def test_bad_file_is_refused_naming_the_file_and_key(tmp_path: Path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        VenueConfig.load(path)
    assert str(path) in str(err.value)
    assert needle in str(err.value)


# Printable ASCII without spaces, quotes and backslashes included: TOML escaping matters.
_PRINTABLE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8
)


@st.composite
def _instrument(draw: st.DrawFn, ident: int, symbol: str) -> Instrument:
    tick = draw(st.integers(1, 10_000))
    low = tick * draw(st.integers(1, 1_000))
    high = low + tick * draw(st.integers(1, 65_535))
    qty = draw(st.integers(1, 2**32 - 1))
    raw = lambda r: Decimal(r).scaleb(-4)  # noqa: E731
    return Instrument(symbol, ident, raw(tick), raw(low), raw(high), qty)


@st.composite
def _configs(draw: st.DrawFn) -> VenueConfig:
    symbols = draw(st.lists(_PRINTABLE, min_size=1, max_size=4, unique=True))
    ids = draw(
        st.lists(st.integers(1, 65_535), min_size=len(symbols), max_size=len(symbols), unique=True)
    )
    instruments = [draw(_instrument(i, s)) for i, s in zip(ids, symbols, strict=True)]
    ouch = None
    if draw(st.booleans()):
        users = draw(st.lists(_PRINTABLE.map(lambda s: s[:6]), min_size=1, max_size=3, unique=True))
        ouch = OuchConfig(
            [
                OuchAccount(u, draw(_PRINTABLE), firm, draw(st.booleans()))
                for firm, u in enumerate(users, start=1)
            ],
            listen=f"127.0.0.1:{draw(st.integers(0, 65_535))}",
            session=draw(_PRINTABLE),
            heartbeat_ms=draw(st.integers(1, 60_000)),
        )
    fix = None
    if draw(st.booleans()):
        fix = FixConfig([FixSession(draw(_PRINTABLE), draw(_PRINTABLE), 7)], listen="[::1]:0")
    itch = None
    if draw(st.booleans()):
        ppm = st.integers(0, 1_000_000)
        itch = ItchConfig(
            f"239.1.1.{draw(st.integers(0, 255))}:{draw(st.integers(1, 65_535))}",
            history=draw(st.integers(1, 1 << 20)),
            faults=Faults(draw(ppm), draw(ppm), draw(ppm), draw(st.integers(0, 2**64 - 1))),
        )
    background = None
    # A flow needs a start mid strictly inside the band (at least two ticks of band) and an
    # instrument that accepts an order of one lot.
    roomy = [
        i
        for i in instruments
        if i.band_high_raw - i.band_low_raw >= 2 * i.tick_raw and i.max_order_qty >= BACKGROUND_LOT
    ]
    if roomy and draw(st.booleans()):
        rate = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
        flows = []
        for inst in draw(st.lists(st.sampled_from(roomy), min_size=1, unique=True)):
            ticks = (inst.band_high_raw - inst.band_low_raw) // inst.tick_raw
            mid = inst.band_low_raw + inst.tick_raw * draw(st.integers(1, ticks - 1))
            flows.append(
                BackgroundInstrument(
                    inst.symbol,
                    Decimal(mid).scaleb(-4),
                    draw(rate),
                    draw(rate),
                    draw(rate),
                    draw(rate),
                    draw(st.integers(BACKGROUND_LOT, 2**64 - 1)),
                )
            )
        firms = draw(st.integers(1, 1_000))
        # Gateway firms above are 1..3 and 7; keep clear of them.
        first = draw(st.integers(8, 2**32 - firms))
        background = Background(flows, draw(st.integers(0, 2**64 - 1)), first, firms)
    replay = None
    if draw(st.booleans()):
        symbols = [i.symbol for i in instruments]
        chosen = draw(st.none() | st.lists(st.sampled_from(symbols), min_size=1, unique=True))
        replay = Replay(
            draw(st.sampled_from([EXAMPLE, str(EXAMPLE)])),  # validation only needs a file
            draw(st.integers(4, 6)),  # clear of the gateway (1..3, 7) and flow (8..) firms
            draw(st.floats(0, 1e6, allow_nan=False, allow_infinity=False)),
            None if chosen is None else tuple(chosen),
        )
    modes = st.sampled_from(["cancel_oldest", "cancel_newest", "cancel_both", "decrement"])
    return VenueConfig(
        instruments, draw(st.integers(1, 10**7)), draw(modes), ouch, fix, itch, background, replay
    )


@settings(max_examples=150, deadline=None)
@given(_configs())
def test_any_valid_config_round_trips_through_toml(config: VenueConfig):
    assert config.problems() == []
    again = VenueConfig.from_dict(tomllib.loads(config.to_toml()))
    assert again == config
    assert again.to_json() == config.to_json()


# --------------------------------------------------------------------------- a running venue


def test_example_venue_starts_and_reports_its_endpoints(running: Venue, itch_socket):
    e = running.endpoints
    assert isinstance(e, Endpoints)
    assert e.ouch is not None and e.ouch[0] == "127.0.0.1" and e.ouch[1] > 0
    assert e.fix is not None and e.fix[1] > 0 and e.fix != e.ouch
    assert e.itch == itch_socket.getsockname()
    assert e.itch_retransmit is not None and e.itch_retransmit[1] > 0
    assert running.running
    assert running.stats()["commands"] == 0


def test_itch_feed_opens_with_start_of_messages_then_the_stock_directory(running, itch_socket):
    datagram = itch_socket.recv(65_535)
    session, sequence, count, messages = _mold_messages(datagram)
    assert session == b"QWITCH0001"
    assert sequence == 1
    assert count >= 1 and count == len(messages)
    first = messages[0]
    assert first[:1] == b"S" and len(first) == 12
    _locate, _tracking = struct.unpack_from(">HH", first, 1)
    assert first[11:12] == b"O"  # start of messages
    directory = {
        m[11:19].rstrip().decode(): struct.unpack_from(">H", m, 1)[0]
        for m in messages
        if m[:1] == b"R"
    }
    assert directory == {"AAPL": 1, "MSFT": 2, "SPY": 3}


def _add_orders(datagram: bytes) -> list[tuple[int, bytes, int, str, int]]:
    """(locate, side, shares, stock, price) of each Add Order in one MoldUDP64 packet."""
    out = []
    for m in _mold_messages(datagram)[3]:
        if m[:1] == b"A":
            assert len(m) == ADD_ORDER.size
            _, locate, _, _, _, side, shares, stock, price = ADD_ORDER.unpack(m)
            out.append((locate, side, shares, stock.rstrip().decode(), price))
    return out


@pytest.mark.parametrize("source", ["example", "custom"])
def test_background_flow_publishes_add_orders_within_two_seconds(itch_socket, source):
    base = VenueConfig.load(EXAMPLE) if source == "example" else _valid()
    config = _for_test(base, itch_socket.getsockname(), background=True)
    assert config.background is not None
    bands = {
        i.id: (i.symbol, i.tick_raw, i.band_low_raw, i.band_high_raw) for i in config.instruments
    }
    flowing = {f.symbol for f in config.background.instruments}
    with Venue(config) as venue:
        packets = _recv_until(itch_socket, _add_orders, timeout=2.0)
        adds = [a for d in packets for a in _add_orders(d)]
        assert adds
        for locate, side, shares, stock, price in adds:
            symbol, tick, low, high = bands[locate]
            assert stock == symbol and symbol in flowing
            assert side in (b"B", b"S")
            assert shares > 0 and shares % BACKGROUND_LOT == 0
            assert low <= price <= high and price % tick == 0
        # The core publishes its command counter after each loop pass, and ITCH leaves
        # during the pass, so the counter may trail the first Add Order by a moment.
        deadline = time.monotonic() + 2.0
        while venue.stats()["commands"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert venue.stats()["commands"] > 0


# A synthetic capture: 3 instruments SYM00001..SYM00003 with prices well inside
# 0.01..655.35 (the widest band of tick 0.01 the venue takes, 65,535 prices).
_CAPTURE_SYMBOLS = ("SYM00001", "SYM00002", "SYM00003")


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "session.itch"
    _core.generate_session(str(path), messages=20_000, instruments=3, seed=3)
    return path


def _replay_venue(
    capture: Path, itch_destination: tuple[str, int], **replay: object
) -> VenueConfig:
    host, port = itch_destination
    return VenueConfig(
        instruments=[
            Instrument(symbol, n, "0.01", "0.01", "655.35")
            for n, symbol in enumerate(_CAPTURE_SYMBOLS, start=1)
        ],
        itch=ItchConfig(f"{host}:{port}"),
        replay=Replay(capture, **replay),  # type: ignore[arg-type]
    )


def _replay_progress(venue: Venue, done: object, timeout: float = TIMEOUT_S) -> dict[str, int]:
    """The venue's counters once `done(stats)` holds; fails after `timeout`."""
    assert callable(done)
    deadline = time.monotonic() + timeout
    while not done(stats := venue.stats()):
        if time.monotonic() > deadline:
            pytest.fail(f"replay made no such progress within {timeout} s: {stats}")
        time.sleep(0.01)
    return stats


def test_capture_replay_publishes_add_orders_of_every_symbol(capture: Path, itch_socket):
    config = _replay_venue(capture, itch_socket.getsockname(), speed=0)
    seen: set[str] = set()

    def all_symbols(datagram: bytes) -> bool:
        seen.update(stock for _, _, _, stock, _ in _add_orders(datagram))
        return seen >= set(_CAPTURE_SYMBOLS)

    with Venue(config) as venue:
        # The counters exist from the start.
        assert {"replay_messages", "replay_commands", "replay_finished"} <= set(venue.stats())
        packets = _recv_until(itch_socket, all_symbols)
        for locate, side, shares, stock, price in (a for d in packets for a in _add_orders(d)):
            assert stock == _CAPTURE_SYMBOLS[locate - 1]
            assert side in (b"B", b"S") and shares > 0
            assert 100 <= price <= 6_553_500 and price % 100 == 0
        # At speed 0 the whole capture is released at once; the venue's command counter
        # is published after the loop pass that ran them.
        stats = _replay_progress(
            venue,
            lambda s: s["replay_finished"] == 1 and s["commands"] >= s["replay_commands"],
        )
        assert stats["replay_messages"] == 20_000
        assert 0 < stats["replay_commands"] <= stats["commands"]
        assert stats["itch_messages"] > 0
    final = venue.stats()
    assert final["replay_finished"] == 1 and final["replay_messages"] == 20_000


def test_capture_replay_of_some_symbols_in_real_time_progresses(capture: Path, itch_socket):
    config = _replay_venue(capture, itch_socket.getsockname(), symbols=("SYM00002",), firm=5)
    with Venue(config) as venue:
        packets = _recv_until(itch_socket, _add_orders)
        adds = [a for d in packets for a in _add_orders(d)]
        assert adds and {stock for *_, stock, _ in adds} == {"SYM00002"}
        _replay_progress(venue, lambda s: s["replay_messages"] > 0 and s["replay_commands"] > 0)


def test_a_venue_without_replay_reports_no_replay_counters(running: Venue):
    assert not any(k.startswith("replay_") for k in running.stats())


def test_a_capture_the_core_cannot_read_is_a_config_error(tmp_path: Path):
    # Python validation checks the file; one gone by the time the core starts is still an
    # error, not a crash.
    capture = tmp_path / "gone.itch"
    capture.write_bytes(b"")
    config = VenueConfig(
        [Instrument("A", 1, "0.01", "1", "2")], replay=Replay(capture, symbols=("A",))
    )
    data = json.loads(config.to_json())
    capture.unlink()
    with pytest.raises(ConfigError, match=r"capture replay: .*gone\.itch"):
        _core.Venue(json.dumps(data))


def test_soupbintcp_login_with_a_good_password_is_accepted(running: Venue):
    assert running.endpoints.ouch is not None
    kind, payload = _soup_login(running.endpoints.ouch, "mm01", "secret01")
    assert kind == b"A"
    assert payload[:10] == b"S1".ljust(10)
    assert int(payload[10:30]) >= 1


@pytest.mark.parametrize(("user", "password"), [("mm01", "wrong"), ("nobody", "secret01")])
def test_soupbintcp_login_with_bad_credentials_is_rejected(running: Venue, user, password):
    assert running.endpoints.ouch is not None
    kind, payload = _soup_login(running.endpoints.ouch, user, password)
    assert kind == b"J"
    assert payload == b"A"  # not authorized


def test_stop_is_idempotent_and_ends_the_itch_session(running: Venue, itch_socket):
    running.stop()
    running.stop()
    assert not running.running
    packets = _recv_until(itch_socket, lambda d: MOLD_HEADER.unpack_from(d)[2] == END_OF_SESSION)
    session, sequence, count, _ = _mold_messages(packets[-1])
    assert session == b"QWITCH0001" and count == END_OF_SESSION
    assert sequence > 1
    assert running.stats()["itch_messages"] >= 1  # the counters outlive the venue
    assert running.endpoints.ouch is not None  # and so do its endpoints


def test_context_manager_stops_the_venue(itch_socket):
    config = _for_test(VenueConfig.load(EXAMPLE), itch_socket.getsockname())
    with Venue(config) as venue:
        assert venue.running
    assert not venue.running
    _recv_until(itch_socket, lambda d: MOLD_HEADER.unpack_from(d)[2] == END_OF_SESSION)


def test_a_port_in_use_is_a_config_error_not_a_crash(itch_socket):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _for_test(VenueConfig.load(EXAMPLE), itch_socket.getsockname())
        assert config.ouch is not None
        port = taken.getsockname()[1]
        busy = dataclasses.replace(
            config, ouch=dataclasses.replace(config.ouch, listen=f"127.0.0.1:{port}")
        )
        with pytest.raises(ConfigError, match="OUCH"):
            Venue(busy)


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize("command", [["venue"], ["bench", "venue"]], ids=" ".join)
def test_help_prints_usage_and_exits_zero(run_cli: RunCli, command):
    code, out, err = run_cli(*command, "--help")
    assert code == 0 and err == ""
    assert out.startswith(f"usage: quotewire {' '.join(command)}")


def test_venue_command_with_a_bad_config_is_a_one_line_error(run_cli: RunCli, tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(EXAMPLE.read_text().replace('tick = "0.01"', 'tick = "0"', 1))
    code, out, err = run_cli("venue", "--config", str(path))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("quotewire: error:")
    assert "instruments[0].tick: 0 is not > 0" in err


def test_venue_command_needs_a_config(run_cli: RunCli):
    code, _, err = run_cli("venue")
    assert code == 2 and "--config" in err


def _read_line(proc: subprocess.Popen[str], timeout: float = TIMEOUT_S) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            pytest.fail(f"no output within {timeout} s; stderr: {proc.communicate()[1]}")
    return proc.stdout.readline()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_venue_command_prints_endpoints_and_exits_zero_on_a_signal(
    tmp_path: Path, itch_socket, sig
):
    config = _for_test(VenueConfig.load(EXAMPLE), itch_socket.getsockname())
    path = config.save(tmp_path / "venue.toml")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quotewire.cli",
            "venue",
            "--config",
            str(path),
            "--json",
            "--stats-every",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "QUOTEWIRE_GIT_REV": "test"},
    )
    try:
        started = json.loads(_read_line(proc))
        assert started["event"] == "started"
        assert started["symbols"] == ["AAPL", "MSFT", "SPY"]
        endpoints = started["endpoints"]
        assert endpoints["itch"] == "{}:{}".format(*itch_socket.getsockname())
        host, port = endpoints["ouch"].rsplit(":", 1)
        kind, _ = _soup_login((host, int(port)), "arb01", "secret02")
        assert kind == b"A"
        assert json.loads(_read_line(proc))["event"] == "stats"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert err == ""
    stopped = json.loads(out.strip().splitlines()[-1])
    assert stopped["event"] == "stopped" and stopped["signal"] == sig.name
    assert stopped["stats"]["itch_messages"] >= 1
    _recv_until(itch_socket, lambda d: MOLD_HEADER.unpack_from(d)[2] == END_OF_SESSION)


def test_venue_command_text_output_names_every_endpoint(tmp_path: Path, itch_socket):
    path = _for_test(VenueConfig.load(EXAMPLE), itch_socket.getsockname()).save(tmp_path / "v.toml")
    proc = subprocess.Popen(
        [sys.executable, "-m", "quotewire.cli", "venue", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _read_line(proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert line.startswith("venue running with 3 instruments (AAPL, MSFT, SPY)")
    for needle in ("OUCH 127.0.0.1:", "FIX 127.0.0.1:", "ITCH -> 127.0.0.1:"):
        assert needle in line
    assert "venue stopped (SIGTERM)" in out


# --------------------------------------------------------------------------- bench venue


def _require_bench_venue() -> None:
    try:
        _core.bench_venue  # noqa: B018
    except AttributeError:
        pytest.skip("this build of quotewire._core has no bench_venue yet (rebuild: make build)")


def test_bench_venue_json_line_carries_the_required_keys(tmp_path: Path, monkeypatch):
    _require_bench_venue()
    pytest.importorskip("hdrh.histogram")
    from quotewire.cli import main

    monkeypatch.setenv("QUOTEWIRE_GIT_REV", "test123")
    hdr, report = tmp_path / "venue.hlog", tmp_path / "PERFORMANCE.md"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "bench",
                "venue",
                "--actions",
                "20000",
                "--instruments",
                "4",
                "--seed",
                "3",
                "--json",
                "--hdr-out",
                str(hdr),
                "--report",
                str(report),
            ]
        )
    assert code == 0
    record = last_json_line(out.getvalue())
    for key in (*bench.REQUIRED_KEYS, "itch_per_sec", "executions"):
        assert key in record, key
    assert record["bench"] == "venue" and record["git_rev"] == "test123"
    assert record["params"] == {"actions": 20_000, "instruments": 4, "seed": 3}
    assert record["count"] >= 20_000 and record["per_sec"] > 0 and record["itch_per_sec"] > 0
    assert 0 < record["p50_ns"] <= record["p99_ns"] <= record["p999_ns"] <= record["max_ns"]
    assert "Histogram log format version" in hdr.read_text()
    text = report.read_text()
    assert "bench venue @ test123" in text and "| actions |" in text


def test_bench_venue_text_output_shows_actions_and_itch_rates(run_cli: RunCli, monkeypatch):
    _require_bench_venue()
    monkeypatch.setenv("QUOTEWIRE_GIT_REV", "test123")
    code, out, err = run_cli("bench", "venue", "--actions", "5000", "--instruments", "2")
    assert code == 0, err
    assert out.startswith("bench venue: ")
    assert "M actions/s" in out and "ITCH out" in out and "executions" in out
    assert "p99.9" in out


def test_bench_venue_refuses_more_instruments_than_ids(run_cli: RunCli):
    code, _, err = run_cli("bench", "venue", "--instruments", "70000")
    assert code == 1
    assert "instruments: 70000 is not 1..65535" in err


def test_widest_band_python_accepts_also_starts_the_core() -> None:
    # 0.01 .. 655.36 at tick 0.01 holds exactly 65,536 prices: the core's limit.
    widest = Instrument("WIDE", 1, "0.01", "0.01", "655.36")
    with Venue(VenueConfig(instruments=(widest,))) as venue:
        assert venue.running
    too_wide = Instrument("WIDE", 1, "0.01", "0.01", "655.37")
    with pytest.raises(ConfigError, match="holds 65,537 prices"):
        VenueConfig(instruments=(too_wide,)).validate()


# --------------------------------------------------------------------------- firm ledger


def test_firm_states_of_the_background_firms_balance_and_an_unseen_firm_is_zero(itch_socket):
    flow = BackgroundInstrument("AAPL", "200.00", 1.0, limit_rate=2000.0, market_rate=400.0)
    config = dataclasses.replace(
        _for_test(_valid(), itch_socket.getsockname()),
        background=Background([flow], seed=3, first_firm=100, firms=4),
    )
    with Venue(config) as venue:
        _replay_progress(venue, lambda s: s["commands"] >= 2_000, timeout=30.0)
    states = [venue.firm_state(f) for f in range(100, 104)]
    # Every fill has a buyer and a seller among the background firms.
    assert sum(s["executions"] for s in states) > 0
    assert sum(s["bought"] for s in states) == sum(s["sold"] for s in states)
    assert sum(s["buy_notional"] for s in states) == sum(s["sell_notional"] for s in states)
    assert sum(s["positions"].get(1, 0) for s in states) == 0
    for s in states:
        assert set(s["positions"]) <= {1}
        assert sum(s["positions"].values()) == s["bought"] - s["sold"]
        assert s["open_orders"] == len(s["orders"])
        for o in s["orders"]:
            assert o["instrument"] == 1 and o["side"] in ("buy", "sell") and o["qty"] > 0
            assert isinstance(o["price"], Decimal) and o["price"] % Decimal("0.01") == 0
        keys = [(o["instrument"], o["side"], o["price"], o["ref"]) for o in s["orders"]]
        assert keys == sorted(keys), "by instrument, side (buy < sell), price, ref"
    assert sum(s["open_orders"] for s in states) > 0, "the background keeps orders resting"
    refs = [o["ref"] for s in states for o in s["orders"]]
    assert len(refs) == len(set(refs)), "an order rests for one firm only"
    assert venue.firm_state(1) == {
        "open_orders": 0,
        "bought": 0,
        "sold": 0,
        "executions": 0,
        "buy_notional": 0,
        "sell_notional": 0,
        "positions": {},
        "orders": [],
    }


# OUCH 5.0 Enter Order: type, UserRefNum, side, shares, symbol, price (4 implied decimals),
# time in force, display, capacity, ISO eligibility, cross type, ClOrdID, appendage length.
ENTER_ORDER = struct.Struct(">cIcI8sqccccc14sH")


def _ouch_login(address: tuple[str, int], username: str, password: str) -> socket.socket:
    """An open SoupBinTCP session after an accepted login (the caller closes it)."""
    payload = b"L" + username.encode().ljust(6) + password.encode().ljust(10)
    payload += b"".ljust(10) + b"1".rjust(20)
    tcp = socket.create_connection(address, timeout=TIMEOUT_S)
    tcp.sendall(struct.pack(">H", len(payload)) + payload)
    (length,) = struct.unpack(">H", _recv_exact(tcp, 2))
    assert _recv_exact(tcp, length)[:1] == b"A", f"{username} logged in"
    return tcp


def _enter(tcp: socket.socket, ref: int, side: bytes, qty: int, symbol: str, raw: int) -> None:
    message = ENTER_ORDER.pack(
        b"O", ref, side, qty, symbol.encode().ljust(8), raw, b"0", b"Y", b"P", b"N", b"N",
        f"T{ref}".encode().ljust(14), 0,
    )  # fmt: skip
    tcp.sendall(struct.pack(">H", 1 + len(message)) + b"U" + message)


def _state_when(venue: Venue, firm: int, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """`firm`'s state once `done(state)` holds; fails after TIMEOUT_S."""
    deadline = time.monotonic() + TIMEOUT_S
    while not done(state := venue.firm_state(firm)):
        if time.monotonic() > deadline:
            pytest.fail(f"firm {firm} never reached the state wanted: {state}")
        time.sleep(0.01)
    return state


def test_firm_state_shows_where_ouch_orders_rest_and_a_partial_fill_leaves_the_rest(
    running: Venue,
):
    assert running.endpoints.ouch is not None
    with _ouch_login(running.endpoints.ouch, "arb01", "secret02") as arb:
        _enter(arb, 1, b"B", 200, "AAPL", 1_995_000)
        _enter(arb, 2, b"S", 50, "MSFT", 4_001_000)
        _enter(arb, 3, b"B", 100, "AAPL", 1_997_500)
        state = _state_when(running, 2, lambda s: s["open_orders"] == 3)
        where = [(o["instrument"], o["side"], o["price"], o["qty"]) for o in state["orders"]]
        assert where == [
            (1, "buy", Decimal("199.50"), 200),
            (1, "buy", Decimal("199.75"), 100),
            (2, "sell", Decimal("400.10"), 50),
        ], "sorted by instrument, side, price"
        assert len({o["ref"] for o in state["orders"]}) == 3
        # Another firm sells 60 into the best bid: 40 of its 100 shares stay at 199.75.
        with _ouch_login(running.endpoints.ouch, "mm01", "secret01") as mm:
            _enter(mm, 1, b"S", 60, "AAPL", 1_997_500)
            state = _state_when(running, 2, lambda s: s["executions"] == 1)
            assert running.firm_state(1)["orders"] == [], "the sell filled in full"
        assert state["positions"] == {1: 60}
        assert [(o["price"], o["qty"]) for o in state["orders"]] == [
            (Decimal("199.50"), 200),
            (Decimal("199.75"), 40),
            (Decimal("400.10"), 50),
        ]


class _FakeCore:
    """Stands in for `_core.Venue` to test the wrapper's checks at the boundary."""

    def __init__(self, reply: dict[str, object]) -> None:
        self.reply = reply
        self.asked: list[int] = []

    def firm_state(self, firm: int) -> dict[str, object]:
        self.asked.append(firm)
        return self.reply


def _wrapped(reply: dict[str, object]) -> tuple[Venue, _FakeCore]:
    venue = Venue.__new__(Venue)
    core = _FakeCore(reply)
    venue._core = core  # type: ignore[assignment]
    return venue, core


_STATE = {
    "open_orders": 2,
    "bought": 300,
    "sold": 100,
    "executions": 3,
    "buy_notional": 300 * 2_000_000,
    "sell_notional": 100 * 2_010_000,
    "positions": {1: 200},
    "orders": [
        {"ref": 7, "instrument": 1, "side": "buy", "price": 1_995_000, "qty": 40},
        {"ref": 9, "instrument": 1, "side": "sell", "price": 2_010_050, "qty": 60},
    ],
}


@pytest.mark.parametrize("firm", [-1, 2**32, True, "7", 1.0])
def test_firm_state_refuses_a_firm_that_is_not_a_u32_before_the_core(firm):
    venue, core = _wrapped(_STATE)
    with pytest.raises(ConfigError, match="firm"):
        venue.firm_state(firm)
    assert core.asked == []


def test_firm_state_passes_the_core_reply_through_typed_with_order_prices_in_currency():
    venue, core = _wrapped(_STATE)
    state = venue.firm_state(2**32 - 1)
    assert state == {
        **_STATE,
        "orders": [
            {"ref": 7, "instrument": 1, "side": "buy", "price": Decimal("199.50"), "qty": 40},
            {"ref": 9, "instrument": 1, "side": "sell", "price": Decimal("201.005"), "qty": 60},
        ],
    }
    assert all(isinstance(o["price"], Decimal) for o in state["orders"])
    assert core.asked == [2**32 - 1]


@pytest.mark.parametrize(
    "broken",
    [
        {"bought": None},
        {"positions": {"1": 200}},
        {"positions": {1: True}},
        {"positions": None},
        {"orders": None},
        {"orders": [7]},
        {"orders": [{"ref": 7, "instrument": 1, "side": "B", "price": 1, "qty": 1}]},
        {"orders": [{"ref": 7, "instrument": 1, "side": "buy", "price": "1", "qty": 1}]},
        {"orders": [{"ref": 7, "instrument": 1, "side": "buy", "price": 1}]},
    ],
)
def test_firm_state_refuses_a_malformed_core_reply(broken):
    venue, _ = _wrapped({**_STATE, **broken})
    with pytest.raises(ProtocolError):
        venue.firm_state(5)


# --------------------------------------------------------------------------- set_background


class _BackgroundCore:
    """Stands in for `_core.Venue` to record what `set_background` hands the core."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, float | None]]] = []

    def set_background(self, instrument_id: int, **values: float | None) -> None:
        self.calls.append((instrument_id, values))


def _background_wrapped(config: VenueConfig | None = None) -> tuple[Venue, _BackgroundCore]:
    """A `Venue` around `config` (default `_valid()`: AAPL with a flow, MSFT without)."""
    venue = Venue.__new__(Venue)
    core = _BackgroundCore()
    venue._config = _valid() if config is None else config
    venue._core = core  # type: ignore[assignment]
    return venue, core


_FIELDS = ("volatility_ticks_per_sqrt_s", "limit_rate", "market_rate", "cancel_rate")


@pytest.mark.parametrize("field", _FIELDS)
@pytest.mark.parametrize("value", [float("nan"), -1.0, float("inf"), -float("inf"), "2", True])
def test_set_background_refuses_a_bad_value_naming_the_field_before_the_core(field, value):
    venue, core = _background_wrapped()
    with pytest.raises(ConfigError, match=field):
        # A valid field alongside is not sent either.
        others = {"cancel_rate": 1.0} if field != "cancel_rate" else {"limit_rate": 1.0}
        venue.set_background("AAPL", **{field: value, **others})
    assert core.calls == []


@pytest.mark.parametrize(
    ("symbol", "needle"),
    [
        ("NOPE", "'NOPE' is not a configured instrument"),
        ("MSFT", "'MSFT' has no background flow"),
        (7, "7 is not a configured instrument"),
    ],
)
def test_set_background_refuses_unknown_symbols_and_symbols_without_flow(symbol, needle):
    venue, core = _background_wrapped()
    with pytest.raises(ConfigError, match=needle):
        venue.set_background(symbol, volatility_ticks_per_sqrt_s=2.0)
    assert core.calls == []


def test_set_background_without_any_background_flow_is_refused():
    venue, core = _background_wrapped(dataclasses.replace(_valid(), background=None))
    with pytest.raises(ConfigError, match="'AAPL' has no background flow"):
        venue.set_background("AAPL", limit_rate=10.0)
    assert core.calls == []


def test_set_background_maps_the_symbol_to_its_id_and_ints_to_floats():
    venue, core = _background_wrapped()
    venue.set_background("AAPL", volatility_ticks_per_sqrt_s=10, cancel_rate=0.0)
    assert core.calls == [
        (1, {"volatility": 10.0, "limit_rate": None, "market_rate": None, "cancel_rate": 0.0})
    ]
    assert isinstance(core.calls[0][1]["volatility"], float)


def test_set_background_on_a_running_venue_changes_the_flow_it_reports(itch_socket):
    config = _for_test(_valid(), itch_socket.getsockname(), background=True)
    with Venue(config) as venue:
        before = venue.background("AAPL")
        assert before["volatility_ticks_per_sqrt_s"] == 1.0
        assert before["limit_rate"] == 200.0
        venue.set_background(
            "AAPL", volatility_ticks_per_sqrt_s=10.0, limit_rate=400.0, market_rate=0
        )
        after = venue.background("AAPL")
        assert after == {
            **before,
            "volatility_ticks_per_sqrt_s": 10.0,
            "limit_rate": 400.0,
            "market_rate": 0.0,
            "mid": after["mid"],
        }
        deadline = time.monotonic() + 2.0
        start = venue.stats()["commands"]
        while venue.stats()["commands"] <= start and time.monotonic() < deadline:
            time.sleep(0.01)
        assert venue.stats()["commands"] > start, "the flow keeps sending after the change"
        assert 100.0 < venue.background("AAPL")["mid"] < 300.0, "inside AAPL's band"
        # The core refuses on its own too, naming the field; MSFT has no flow.
        with pytest.raises(ConfigError, match="volatility_ticks_per_sqrt_s"):
            venue._core.set_background(1, volatility=-1.0)
        with pytest.raises(ConfigError, match="no background flow"):
            venue._core.set_background(2, limit_rate=1.0)
        assert venue._core.background(2) is None
        assert venue.background("AAPL")["volatility_ticks_per_sqrt_s"] == 10.0
