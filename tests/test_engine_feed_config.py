"""The engine's feed transport in the Python configuration: `transport = "udp" | "dpdk"`
and the `[feed.dpdk]` table (`DpdkPort`), validated, written to TOML and read back, and
sent to the core in its JSON shape. The live DPDK path itself is tested in Rust
(rust_core/engine/tests/dpdk_feed_veth.rs: it needs root, a veth pair and a DPDK build)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from quotewire.demo import demo_traded
from quotewire.engine import (
    DpdkPort,
    EngineConfig,
    FeedEndpoint,
    OuchEndpoint,
)
from quotewire.errors import ConfigError

PORT = DpdkPort(
    device="net_af_packet0",
    vdevs=["net_af_packet0,iface=veth0"],
    no_huge=True,
    no_pci=True,
    memory_mb=256,
    eal_args=["--no-telemetry"],
)


def config(feed: FeedEndpoint) -> EngineConfig:
    return EngineConfig(
        instruments=[
            demo_traded("AAPL", 1),
        ],
        feed=feed,
        ouch=OuchEndpoint(addr="127.0.0.1:15000", username="MM", password="pw"),
    )


def test_dpdk_feed_round_trips_through_toml_and_reaches_the_core_as_a_table(
    tmp_path: Path,
) -> None:
    c = config(
        FeedEndpoint(
            bind="239.1.1.1:26400",
            multicast_group="239.1.1.1",
            retransmit="10.1.0.9:26401",
            transport="dpdk",
            dpdk=PORT,
        )
    ).validate()
    path = c.save(tmp_path / "engine.toml")
    assert "[feed.dpdk]" in path.read_text(encoding="utf-8")
    loaded = EngineConfig.load(path)
    assert loaded == c
    assert loaded.feed.dpdk == PORT
    core = json.loads(c.to_json())
    assert core["feed"]["transport"] == "dpdk"
    assert core["feed"]["dpdk"]["vdevs"] == ["net_af_packet0,iface=veth0"]
    assert core["feed"]["dpdk"]["burst"] == 32
    assert "file_prefix" not in core["feed"]["dpdk"]


def test_udp_is_the_default_transport_and_needs_no_dpdk_table() -> None:
    c = config(FeedEndpoint(bind="127.0.0.1:26400")).validate()
    assert c.feed.transport == "udp"
    assert "dpdk" not in json.loads(c.to_json())["feed"]


@pytest.mark.parametrize(
    ("feed", "problem"),
    [
        pytest.param(
            FeedEndpoint(bind="127.0.0.1:1", transport="rdma"), "feed.transport", id="transport"
        ),
        pytest.param(
            FeedEndpoint(bind="127.0.0.1:1", transport="dpdk"), "feed.dpdk", id="no-table"
        ),
        pytest.param(
            FeedEndpoint(bind="127.0.0.1:1", transport="dpdk", dpdk=replace(PORT, burst=65)),
            "feed.dpdk.burst",
            id="burst",
        ),
        pytest.param(
            FeedEndpoint(bind="127.0.0.1:1", transport="dpdk", dpdk=replace(PORT, device="")),
            "feed.dpdk.device",
            id="device",
        ),
        pytest.param(
            FeedEndpoint(bind="127.0.0.1:1", transport="dpdk", dpdk=replace(PORT, mbufs=100)),
            "feed.dpdk.mbufs",
            id="mbufs",
        ),
    ],
)
def test_bad_feed_transport_settings_are_refused_by_name(feed: FeedEndpoint, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        config(feed).validate()


def test_unknown_key_in_the_dpdk_table_is_refused(tmp_path: Path) -> None:
    c = config(FeedEndpoint(bind="127.0.0.1:26400", transport="dpdk", dpdk=PORT))
    text = c.to_toml().replace("[feed.dpdk]\n", "[feed.dpdk]\nqueues = 2\n")
    path = tmp_path / "engine.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"feed\.dpdk: unknown key"):
        EngineConfig.load(path)
