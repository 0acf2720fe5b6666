"""Our FIX 4.4 initiator (`FixClient`) against QuickFIX as the acceptor.

QuickFIX (the `quickfix-py` wheel) runs a `SocketAcceptor` with its FIX44.xml data dictionary
validating every message we send (user-defined fields, field order and values checked, unknown
fields refused); its application answers orders with ExecutionReports itself. Our side is
`rust_core/gateway/examples/fix_session.rs`, driven through stdin, printing JSON lines.

The session: Logon, a NewOrderSingle (accepted, then partly filled), a replace, a forced resend
each way (QuickFIX skips MsgSeqNums so the client must ask; the client skips so QuickFIX asks), a
disconnect by QuickFIX and the client's reconnect with continued sequence numbers, a cancel, a
Logout, and a restart of the client process on the same state file. Every wait is bounded.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import quickfix as fix  # quickfix-py: a dev dependency, installed by scripts/setup.sh

from fixkit import cargo_example, fix44_dictionary, fix_fields, free_port

WAIT = 10.0


class Venue(fix.Application):  # type: ignore[misc]
    """A tiny order book behind QuickFIX: acknowledges, fills 40 of order `1`, replaces, cancels.

    QuickFIX calls it from its own thread; the test reads what it recorded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.session_id: Any = None
        self.app_in: list[dict[int, str]] = []
        self.app_out: list[dict[int, str]] = []
        self.admin_in: list[dict[int, str]] = []
        self.admin_out: list[dict[int, str]] = []
        self.logons = 0
        self.logged_on = threading.Event()
        self.orders: dict[str, dict[str, Any]] = {}
        self.next_id = 0

    def onCreate(self, session_id: Any) -> None:  # noqa: N802 (QuickFIX's names)
        self.session_id = session_id

    def onLogon(self, session_id: Any) -> None:  # noqa: N802
        self.logons += 1
        self.logged_on.set()

    def onLogout(self, session_id: Any) -> None:  # noqa: N802
        self.logged_on.clear()

    def toAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        self.admin_out.append(fix_fields(message.toString()))

    def fromAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        self.admin_in.append(fix_fields(message.toString()))

    def toApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        self.app_out.append(fix_fields(message.toString()))

    def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        f = fix_fields(message.toString())
        self.app_in.append(f)
        if f.get(43) == "Y" and f.get(11) in self.orders:
            return  # a resent copy of a request already handled
        if f[35] == "D":
            self._new(f)
        elif f[35] == "G":
            self._replace(f)
        elif f[35] == "F":
            self._cancel(f)

    def _id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def _report(self, o: dict[str, Any], exec_type: str, status: str, **extra: Any) -> None:
        msg = fix.Message()
        msg.getHeader().setField(fix.BeginString("FIX.4.4"))
        msg.getHeader().setField(fix.MsgType("8"))
        msg.setField(fix.OrderID(o["order_id"]))
        msg.setField(fix.ClOrdID(extra.get("cl", o["cl"])))
        if "orig" in extra:
            msg.setField(fix.OrigClOrdID(extra["orig"]))
        msg.setField(fix.ExecID(self._id()))
        msg.setField(fix.ExecType(exec_type))
        msg.setField(fix.OrdStatus(status))
        msg.setField(fix.Symbol(o["symbol"]))
        msg.setField(fix.Side(o["side"]))
        msg.setField(fix.OrderQty(o["qty"]))
        msg.setField(fix.OrdType(fix.OrdType_LIMIT))
        msg.setField(fix.Price(o["price"]))
        if "last" in extra:
            msg.setField(fix.LastQty(extra["last"][0]))
            msg.setField(fix.LastPx(extra["last"][1]))
        msg.setField(fix.LeavesQty(extra.get("leaves", o["qty"] - o["cum"])))
        msg.setField(fix.CumQty(o["cum"]))
        msg.setField(fix.AvgPx(o["price"] if o["cum"] else 0))
        msg.setField(fix.TransactTime())
        assert fix.Session.sendToTarget(msg, self.session_id)

    def _new(self, f: dict[int, str]) -> None:
        o = {
            "cl": f[11],
            "order_id": "V" + self._id(),
            "symbol": f[55],
            "side": f[54],
            "qty": int(f[38]),
            "price": float(f[44]),
            "cum": 0,
        }
        self.orders[f[11]] = o
        self._report(o, fix.ExecType_NEW, fix.OrdStatus_NEW)
        if f[11] == "1":
            o["cum"] = 40
            self._report(
                o, fix.ExecType_TRADE, fix.OrdStatus_PARTIALLY_FILLED, last=(40, o["price"])
            )

    def _replace(self, f: dict[int, str]) -> None:
        o = self.orders[f[41]]
        o.update(cl=f[11], order_id="V" + self._id(), qty=int(f[38]), price=float(f[44]))
        self.orders[f[11]] = o
        status = fix.OrdStatus_PARTIALLY_FILLED if o["cum"] else fix.OrdStatus_NEW
        self._report(o, fix.ExecType_REPLACED, status, orig=f[41])

    def _cancel(self, f: dict[int, str]) -> None:
        o = self.orders[f[41]]
        self.orders[f[11]] = o
        self._report(
            o, fix.ExecType_CANCELED, fix.OrdStatus_CANCELED, cl=f[11], orig=f[41], leaves=0
        )


@pytest.fixture(scope="module")
def session_binary() -> Path:
    return cargo_example("quotewire-gateway", "fix_session")


# QuickFIX acceptors of finished tests (see `quickfix_acceptor`).
_KEPT: list[tuple[Any, ...]] = []


@pytest.fixture
def quickfix_acceptor(tmp_path: Path) -> Iterator[tuple[int, Venue]]:
    port = free_port()
    cfg = tmp_path / "acceptor.cfg"
    cfg.write_text(
        "\n".join(
            [
                "[DEFAULT]",
                "ConnectionType=acceptor",
                f"SocketAcceptPort={port}",
                "SocketReuseAddress=Y",
                f"FileStorePath={tmp_path / 'store'}",
                "StartTime=00:00:00",
                "EndTime=00:00:00",
                "UseDataDictionary=Y",
                f"DataDictionary={fix44_dictionary()}",
                "ValidateUserDefinedFields=Y",
                "ValidateFieldsOutOfOrder=Y",
                "ValidateFieldsHaveValues=Y",
                "AllowUnknownMsgFields=N",
                "CheckLatency=Y",
                "MaxLatency=120",
                "[SESSION]",
                "BeginString=FIX.4.4",
                "SenderCompID=VENUE",
                "TargetCompID=CLIENT",
                "",
            ]
        )
    )
    settings = fix.SessionSettings(str(cfg))
    app = Venue()
    # QuickFIX keeps raw pointers to these: they must outlive the acceptor.
    store = fix.FileStoreFactory(settings)
    log = fix.ScreenLogFactory(False, False, False)
    acceptor = fix.SocketAcceptor(app, store, settings, log)
    acceptor.start()
    yield port, app
    # Not stopped: QuickFIX's stop closes its sockets from this thread while its own
    # thread may still be touching them (gdb: `SocketServer::close` walking the socket
    # map as the acceptor thread changed it), a crash in one run in five to ten here
    # whatever the timing of the stop, and once in CI. The acceptor (an idle thread and
    # a port, the client gone) lives until the test process ends, its C++ objects never
    # deleted (nor the raw-pointed store, log and settings).
    acceptor.thisown = False
    _KEPT.append((acceptor, app, store, log, settings))


class Client:
    """The `fix_session` example: commands in, JSON lines out (read by a thread)."""

    def __init__(self, binary: Path, port: int, state: Path) -> None:
        args = ["--port", str(port), "--sender", "CLIENT", "--target", "VENUE"]
        args += ["--symbol", "AAPL", "--account", "ACC1", "--state", str(state)]
        args += ["--heartbeat", "2"]
        self.proc = subprocess.Popen(
            [str(binary), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, what: str, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next line matching `pred` (earlier lines are kept in `seen`)."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no {what} within {WAIT} s; the client printed {self.seen}")
            self.seen.append(line)
            assert "error" not in line, line
            if pred(line):
                return line

    def report(self, kind: str, cl: int) -> dict[str, Any]:
        return self.wait_for(
            f"{kind} report for {cl}", lambda x: x.get("report") == kind and x.get("cl") == cl
        )

    def event(self, kind: str) -> dict[str, Any]:
        return self.wait_for(f"{kind} event", lambda x: x.get("event") == kind)

    def finish(self) -> dict[str, Any]:
        self.command("logout")
        done = self.wait_for("the final counters", lambda x: x.get("done") is True)
        assert self.proc.wait(timeout=WAIT) == 0
        return done

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=WAIT)


def _wait(what: str, cond: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(WAIT * 100)):
        if cond():
            return
        done.wait(0.01)
    pytest.fail(f"timed out waiting for {what}")


def test_fix_client_trades_resends_and_reconnects_against_quickfix(
    session_binary: Path, quickfix_acceptor: tuple[int, Venue], tmp_path: Path
) -> None:
    port, venue = quickfix_acceptor
    state = tmp_path / "client.fixstate"
    client = Client(session_binary, port, state)
    try:
        assert client.event("logged_in")["next_seq"] == 2
        assert client.event("ready")["next_cl"] == 1
        assert venue.logged_on.wait(WAIT), "QuickFIX did not see a Logon"
        logon = next(m for m in venue.admin_in if m[35] == "A")
        assert (logon[34], logon[108], logon[98]) == ("1", "2", "0")
        assert 141 not in logon, "no ResetSeqNumFlag unless configured"

        # A new order: acknowledged, then 40 of 100 filled.
        client.command("new 1 buy 100.25 100")
        accepted = client.report("accepted", 1)
        assert (accepted["price"], accepted["qty"]) == ("100.25", 100)
        assert accepted["venue_id"] == 0, "QuickFIX's OrderIDs here are not decimal"
        fill = client.report("executed", 1)
        assert (fill["qty"], fill["price"]) == (40, "100.25")
        assert fill["match_number"] > 0
        new = next(m for m in venue.app_in if m[35] == "D")
        assert (new[11], new[1], new[55], new[54]) == ("1", "ACC1", "AAPL", "1")
        assert (new[38], new[40], new[44], new[59]) == ("100", "2", "100.25", "0")
        assert 60 in new

        # Replace to 50 open: FIX OrderQty is the new total, 90 (40 filled).
        client.command("replace 1 2 buy 101 50")
        replaced = client.report("replaced", 2)
        assert (replaced["orig"], replaced["qty"], replaced["price"]) == (1, 50, "101")
        g = next(m for m in venue.app_in if m[35] == "G")
        assert (g[41], g[11], g[38], g[44], g[40]) == ("1", "2", "90", "101", "2")

        # Forced resend 1: QuickFIX skips three MsgSeqNums; the client must ask.
        session = fix.Session.lookupSession(venue.session_id)
        skipped_from = session.getExpectedSenderNum()
        session.setNextSenderMsgSeqNum(skipped_from + 3)
        client.command("new 3 sell 102 10")
        client.report("accepted", 3)
        asks = [m for m in venue.admin_in if m[35] == "2"]
        assert len(asks) == 1, asks
        assert (asks[0][7], asks[0][16]) == (str(skipped_from), "0")
        gap_fills = [m for m in venue.admin_out if m[35] == "4"]
        assert gap_fills and gap_fills[0].get(123) == "Y"

        # Forced resend 2: the client skips four numbers; QuickFIX asks, the order is resent.
        client.command("skip 4")
        client.command("new 4 sell 103 10")
        client.report("accepted", 4)
        asked = [m for m in venue.admin_out if m[35] == "2"]
        assert len(asked) == 1, asked
        ours = [m for m in venue.admin_in if m[35] == "4"]
        assert len(ours) == 1 and ours[0][123] == "Y" and ours[0][43] == "Y"
        assert int(ours[0][36]) == int(ours[0][34]) + 4
        assert [m[11] for m in venue.app_in if m[35] == "D"] == ["1", "3", "4"]

        # QuickFIX drops the connection; the client reconnects, numbers continue.
        before = next(line for line in reversed(client.seen) if line.get("event") == "logged_in")
        first_logon_seq = int(logon[34])
        session.disconnect()
        assert client.event("lost")["reason"] == "PeerClosed"
        again = client.event("logged_in")
        assert again["next_seq"] > before["next_seq"]
        client.event("ready")
        _wait("the second QuickFIX logon", lambda: venue.logons == 2)
        logons = [m for m in venue.admin_in if m[35] == "A"]
        assert len(logons) == 2
        assert int(logons[1][34]) > first_logon_seq + 4
        assert 141 not in logons[1]

        # Cancel the replaced order: 50 open shares go.
        client.command("cancel 2 buy")
        canceled = client.report("canceled", 2)
        assert (canceled["qty"], canceled["reason"]) == (50, "User")
        f = next(m for m in venue.app_in if m[35] == "F")
        assert f[41] == "2" and f[11].startswith("2C")

        done = client.finish()
    finally:
        client.kill()
    assert (done["status"], done["connected"]) == ("Ended", False)
    stats = done["fix_stats"]
    assert stats["rejects_received"] == 0
    assert stats["resend_requests_sent"] == 1
    assert stats["resend_requests_received"] == 1
    assert stats["messages_resent"] == 1
    assert stats["garbled_frames"] == 0 and stats["malformed"] == 0
    assert stats["logouts_received"] == 1
    assert done["stats"]["logins"] == 2

    # QuickFIX validated every message against FIX44.xml and refused none.
    rejects = [m for m in venue.admin_out if m[35] == "3"]
    assert not rejects, f"QuickFIX sent Reject(3): {rejects}"
    business = [m for m in venue.app_out if m[35] == "j"]
    assert not business, f"QuickFIX sent BusinessMessageReject(j): {business}"
    logouts = [m for m in venue.admin_out if m[35] == "5"]
    assert all(58 not in m for m in logouts), logouts

    # A new client process on the same state file logs on where the last one stopped.
    sent_before = max(int(m[34]) for m in venue.admin_in + venue.app_in)
    restarted = Client(session_binary, port, state)
    try:
        restarted.event("logged_in")
        assert restarted.event("ready")["next_cl"] == 5
        restarted.command("new 5 buy 99 10")
        restarted.report("accepted", 5)
        done = restarted.finish()
    finally:
        restarted.kill()
    logons = [m for m in venue.admin_in if m[35] == "A"]
    assert int(logons[-1][34]) == sent_before + 1
    assert not [m for m in venue.admin_out if m[35] in ("2", "3")][1:], "no new gap or reject"
    assert done["fix_stats"]["resend_requests_sent"] == 0
    assert done["fix_stats"]["resend_requests_received"] == 0
