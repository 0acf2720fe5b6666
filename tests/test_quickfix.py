"""QuickFIX as a real FIX 4.4 initiator against the venue's FIX acceptor example.

Builds `rust_core/venue/examples/fix_acceptor.rs`, starts it on a free port, logs on with a
QuickFIX `SocketInitiator` (FileStore, FIX44.xml data dictionary validating every message we
send), enters, replaces and cancels an order, and logs out. Every wait is bounded.
"""

from __future__ import annotations

import queue
import select
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import quickfix as fix  # quickfix-py: a dev dependency, installed by scripts/setup.sh

from fixkit import cargo_example, fix44_dictionary, fix_fields, free_port

WAIT = 10.0


class Recorder(fix.Application):  # type: ignore[misc]
    """Keeps what the session sees; QuickFIX calls it from its own thread."""

    def __init__(self) -> None:
        super().__init__()
        self.session_id: object = None
        self.app: queue.Queue[dict[int, str]] = queue.Queue()
        self.admin_in: list[dict[int, str]] = []
        self.admin_out: list[dict[int, str]] = []
        self.logged_on = threading.Event()
        self.logged_out = threading.Event()

    def onCreate(self, session_id: object) -> None:  # noqa: N802 (QuickFIX's names)
        self.session_id = session_id

    def onLogon(self, session_id: object) -> None:  # noqa: N802
        self.logged_on.set()

    def onLogout(self, session_id: object) -> None:  # noqa: N802
        self.logged_out.set()

    def toAdmin(self, message: object, session_id: object) -> None:  # noqa: N802
        self.admin_out.append(fix_fields(message.toString()))

    def fromAdmin(self, message: object, session_id: object) -> None:  # noqa: N802
        self.admin_in.append(fix_fields(message.toString()))

    def toApp(self, message: object, session_id: object) -> None:  # noqa: N802
        pass

    def fromApp(self, message: object, session_id: object) -> None:  # noqa: N802
        self.app.put(fix_fields(message.toString()))

    def next_report(self) -> dict[int, str]:
        try:
            return self.app.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail(f"no application message within {WAIT} s")


@pytest.fixture(scope="module")
def acceptor_binary() -> Path:
    return cargo_example("quotewire-venue", "fix_acceptor")


@pytest.fixture
def acceptor(acceptor_binary: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    args = ["--port", str(port), "--sender", "CLIENT", "--target", "VENUE", "--symbol", "AAPL"]
    proc = subprocess.Popen(
        [str(acceptor_binary), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], WAIT)
        assert ready, "the acceptor did not print its port"
        assert int(proc.stdout.readline()) == port
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=WAIT)


def _settings(tmp_path: Path, port: int) -> fix.SessionSettings:
    cfg = tmp_path / "initiator.cfg"
    cfg.write_text(
        "\n".join(
            [
                "[DEFAULT]",
                "ConnectionType=initiator",
                "ReconnectInterval=60",
                f"FileStorePath={tmp_path / 'store'}",
                "StartTime=00:00:00",
                "EndTime=00:00:00",
                "UseDataDictionary=Y",
                f"DataDictionary={fix44_dictionary()}",
                "HeartBtInt=30",
                "SocketConnectHost=127.0.0.1",
                f"SocketConnectPort={port}",
                "[SESSION]",
                "BeginString=FIX.4.4",
                "SenderCompID=CLIENT",
                "TargetCompID=VENUE",
                "",
            ]
        )
    )
    return fix.SessionSettings(str(cfg))


def _message(msg_type: str, fields: list[object]) -> fix.Message:
    msg = fix.Message()
    msg.getHeader().setField(fix.BeginString("FIX.4.4"))
    msg.getHeader().setField(fix.MsgType(msg_type))
    for field in fields:
        msg.setField(field)
    msg.setField(fix.TransactTime())
    return msg


def test_quickfix_initiator_enters_replaces_cancels_and_logs_out(acceptor, tmp_path: Path):
    port, proc = acceptor
    app = Recorder()
    settings = _settings(tmp_path, port)
    initiator = fix.SocketInitiator(
        app, fix.FileStoreFactory(settings), settings, fix.ScreenLogFactory(False, False, False)
    )
    initiator.start()
    try:
        assert app.logged_on.wait(WAIT), "QuickFIX did not log on"
        sid = app.session_id

        new = _message(
            "D",
            [
                fix.ClOrdID("O1"),
                fix.Symbol("AAPL"),
                fix.Side(fix.Side_BUY),
                fix.OrderQty(100),
                fix.OrdType(fix.OrdType_LIMIT),
                fix.Price(100.25),
                fix.TimeInForce(fix.TimeInForce_DAY),
            ],
        )
        assert fix.Session.sendToTarget(new, sid)
        er = app.next_report()
        assert (er[35], er[150], er[39]) == ("8", "0", "0")
        assert er[11] == "O1"
        assert er[151] == "100" and er[14] == "0"
        assert er[44] == "100.25"
        first_order_id = er[37]
        assert first_order_id not in ("", "NONE")

        replace = _message(
            "G",
            [
                fix.OrigClOrdID("O1"),
                fix.ClOrdID("R1"),
                fix.Symbol("AAPL"),
                fix.Side(fix.Side_BUY),
                fix.OrderQty(150),
                fix.OrdType(fix.OrdType_LIMIT),
                fix.Price(101),
            ],
        )
        assert fix.Session.sendToTarget(replace, sid)
        er = app.next_report()
        assert (er[35], er[150], er[39]) == ("8", "5", "0")
        assert (er[11], er[41]) == ("R1", "O1")
        assert er[151] == "150" and er[38] == "150" and er[44] == "101"
        replaced_order_id = er[37]
        assert replaced_order_id != first_order_id, "a price change requeues the order"

        cancel = _message(
            "F",
            [
                fix.OrigClOrdID("R1"),
                fix.ClOrdID("C1"),
                fix.Symbol("AAPL"),
                fix.Side(fix.Side_BUY),
                fix.OrderQty(150),
            ],
        )
        assert fix.Session.sendToTarget(cancel, sid)
        er = app.next_report()
        assert (er[35], er[150], er[39]) == ("8", "4", "4")
        assert (er[11], er[41]) == ("C1", "R1")
        assert er[37] == replaced_order_id
        assert er[151] == "0"

        rejects = [m for m in app.admin_in if m.get(35) == "3"]
        assert not rejects, f"the acceptor sent Reject(3): {rejects}"
        complaints = [m for m in app.admin_out if m.get(35) in ("2", "3")]
        assert not complaints, f"QuickFIX refused or re-requested our messages: {complaints}"

        fix.Session.lookupSession(sid).logout("done")
        assert app.logged_out.wait(WAIT), "no Logout exchange"
        assert any(m.get(35) == "5" for m in app.admin_in), "the acceptor did not answer Logout"
    finally:
        initiator.stop()

    assert proc.poll() is None, "the acceptor died"
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=WAIT) == 0
