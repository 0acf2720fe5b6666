"""`quotewire certify`: the configuration, the SLO verdict, a short real run against the
venue simulator on loopback (files, HdrHistogram logs, exit status) and the HTML report
opened in headless Chromium (charts decoded, verdict rendered)."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("quotewire._core")
hdrh_histogram = pytest.importorskip("hdrh.histogram")
hdrh_log = pytest.importorskip("hdrh.log")

from quotewire import certify  # noqa: E402
from quotewire.cli import main  # noqa: E402
from quotewire.errors import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUN_SECONDS = 2.0
INTERVAL_S = 0.5
STAGES = ("tick_to_trade", "feed", "quote", "round_trip")

# Limits no machine can miss (60 s, the histograms' ceiling) or meet (0.1 ns: every
# sample is at least 1 ns), so the verdicts below never depend on this machine's speed.
PASSING_SLOS = """
tick_to_trade_p99_us = 60000000
tick_to_trade_p9999_us = 60000000
feed_p50_us = 60000000
round_trip_max_us = 60000000
"""
FAILING_SLOS = """
tick_to_trade_p99_us = 60000000
feed_p50_us = 0.0001
"""


def _histogram(values_ns: list[int]) -> Any:
    h = hdrh_histogram.HdrHistogram(1, 60_000_000_000, 3)
    for v in values_ns:
        h.record_value(v)
    return h


def _config(tmp: Path, name: str, slos: str) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(
        f"duration_s = {RUN_SECONDS}\ninterval_s = {INTERVAL_S}\ninstruments = 2\n"
        "[market]\nlimit_rate = 600.0\nmarket_rate = 60.0\ncancel_rate = 6.0\n"
        f"[slo]\n{slos}",
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------- configuration


def test_example_config_loads_with_the_issue_slos() -> None:
    config = certify.CertConfig.load(ROOT / "examples" / "cert.toml")
    limits = {s.key: s.limit_us for s in config.slos}
    assert limits["tick_to_trade_p99_us"] == 50
    assert limits["tick_to_trade_p9999_us"] == 1000
    assert "round_trip_p99_us" in limits
    assert config.journal is True
    assert config.to_dict()["slo"] == limits


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[slo]\ntick_to_trade_p98_us = 5\n", "slo.tick_to_trade_p98_us"),
        ("[slo]\nbook_p99_us = 5\n", "slo.book_p99_us"),
        ("[slo]\nfeed_p99_us = -1\n", "slo.feed_p99_us"),
        ("[slo]\nfeed_p99_us = '5'\n", "slo.feed_p99_us"),
        ("durations = 5\n[slo]\nfeed_p99_us = 5\n", "durations"),
        ("[market]\nlimit_rat = 5\n[slo]\nfeed_p99_us = 5\n", "limit_rat"),
        ("[quoting]\nlevels = 9\n[slo]\nfeed_p99_us = 5\n", "quoting.levels"),
        ("duration_s = 1\n", "slo: no objective"),
    ],
)
def test_config_refuses_bad_entries_naming_them(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        certify.CertConfig.load(path)


# --------------------------------------------------------------------------- verdict logic


def test_slo_passes_at_or_under_the_limit_and_fails_above_it() -> None:
    hist = _histogram([1_000 * v for v in range(1, 1001)])  # 1..1000 us, evenly
    p99_us = hist.get_value_at_percentile(99) / 1_000
    slos = [
        certify.Slo("tick_to_trade", "p99", p99_us),
        certify.Slo("tick_to_trade", "p99", p99_us - 1),
        certify.Slo("tick_to_trade", "max", 2_000),
    ]
    at, under, mx = certify.evaluate_slos({"tick_to_trade": hist}, slos)
    assert at.passed and at.value_us == p99_us and at.samples == 1000
    assert not under.passed
    assert mx.passed and mx.value_us == pytest.approx(1_000, rel=1e-3)


def test_slo_on_a_stage_without_samples_fails() -> None:
    empty = _histogram([])
    (result,) = certify.evaluate_slos({"quote": empty}, [certify.Slo("quote", "p50", 1e9)])
    assert not result.passed and result.value_us is None and "no samples" in result.note


def test_unresolved_percentile_is_graded_on_the_maximum_and_says_so() -> None:
    hist = _histogram([1_000] * 98 + [800_000, 900_000])
    (result,) = certify.evaluate_slos(
        {"round_trip": hist}, [certify.Slo("round_trip", "p9999", 500)]
    )
    assert not result.passed
    assert result.value_us == pytest.approx(900, rel=1e-3)
    assert "do not resolve p99.99" in result.note


def test_percentile_curve_runs_from_the_minimum_to_the_resolution() -> None:
    hist = _histogram(list(range(1_000, 11_000)))
    xs, ys = certify.percentile_curve(hist)
    assert xs[0] == 1.0 and xs[-1] == pytest.approx(10_000)
    assert ys == sorted(ys)
    assert ys[0] == hist.get_min_value()


# --------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, Path, list[str]]]:
    """Two short certifications (passing and failing objectives) through the CLI."""
    tmp = tmp_path_factory.mktemp("certify")
    out: dict[str, tuple[int, Path, list[str]]] = {}
    for name, slos in (("pass", PASSING_SLOS), ("fail", FAILING_SLOS)):
        argv = ["certify", "--config", str(_config(tmp, name, slos)), "--out", str(tmp / name)]
        out[name] = (main(argv), tmp / name, argv)
    return out


def _record(report: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report / "certification.json").read_text())
    return data


def test_passing_run_exits_0_and_writes_the_whole_report(runs: dict[str, Any]) -> None:
    code, report, argv = runs["pass"]
    assert code == 0
    rec = _record(report)
    assert rec["verdict"] == "pass" and rec["run_problems"] == []
    assert all(s["pass"] for s in rec["slos"]) and len(rec["slos"]) == 4
    expected = {
        "report.html",
        "certification.json",
        "machine.json",
        "command.txt",
        "percentiles.png",
        "over_time.png",
        *(f"{s}.png" for s in STAGES),
        *(f"{s}.hlog" for s in STAGES),
        "round_trip.intervals.hlog",
        "tick_to_quote.intervals.hlog",
    }
    assert expected <= {p.name for p in report.iterdir()}
    assert set(rec["files"]) == expected
    for png in report.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report / "command.txt").read_text().strip() == "quotewire " + " ".join(argv)
    machine = json.loads((report / "machine.json").read_text())
    assert machine["cpu"] and machine["kernel"] and machine["cores"]
    assert machine["tuning"]["checks"], "the doctor's checks describe the tuning state"
    assert rec["stages"]["feed"]["count"] > 0 and rec["stages"]["tick_to_trade"]["count"] > 0


def test_failing_objective_exits_1_and_names_it(runs: dict[str, Any]) -> None:
    code, report, _ = runs["fail"]
    assert code == 1
    rec = _record(report)
    assert rec["verdict"] == "fail"
    by_key = {s["key"]: s for s in rec["slos"]}
    assert by_key["tick_to_trade_p99_us"]["pass"] is True
    assert by_key["feed_p50_us"]["pass"] is False
    assert by_key["feed_p50_us"]["value_us"] > by_key["feed_p50_us"]["limit_us"]


def test_stage_logs_hold_the_engines_whole_run_histograms(runs: dict[str, Any]) -> None:
    _, report, _ = runs["pass"]
    rec = _record(report)
    for stage in STAGES:
        reader = hdrh_log.HistogramLogReader(
            str(report / f"{stage}.hlog"), hdrh_histogram.HdrHistogram(1, 60_000_000_000, 3)
        )
        hist = reader.get_next_interval_histogram()
        assert hist is not None
        figures = rec["stages"][stage]
        assert hist.get_total_count() == figures["count"]
        if figures["count"]:
            assert hist.get_value_at_percentile(99) == figures["p99_ns"]
        assert reader.get_next_interval_histogram() is None


def test_interval_logs_hold_one_histogram_per_interval(runs: dict[str, Any]) -> None:
    _, report, _ = runs["pass"]
    rows = _record(report)["over_time"]["rows"]
    assert len(rows) == int(RUN_SECONDS / INTERVAL_S)
    assert sum(r["datagrams"] for r in rows) > 0
    for series in ("round_trip", "tick_to_quote"):
        reader = hdrh_log.HistogramLogReader(
            str(report / f"{series}.intervals.hlog"),
            hdrh_histogram.HdrHistogram(1, 60_000_000_000, 3),
        )
        counts = []
        while (hist := reader.get_next_interval_histogram()) is not None:
            counts.append(hist.get_total_count())
        assert counts == [r[f"{series}_count"] for r in rows]
    assert sum(r["round_trip_count"] for r in rows) > 0


def test_json_flag_prints_the_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "json", "feed_p50_us = 60000000\n")
    code = main(["certify", "--config", str(config), "--out", str(tmp_path / "r"), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["verdict"] == "pass"
    assert printed["slos"][0]["key"] == "feed_p50_us"


# --------------------------------------------------------------------------- Chromium

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (scripts/setup.sh installs it in CI)",
)


class _Dom(HTMLParser):
    """Collects the attributes of the elements the checks need."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.images: list[dict[str, str | None]] = []
        self.verdict: dict[str, str | None] | None = None
        self.verdict_text = ""
        self._in_verdict = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "img" and "chart" in (a.get("class") or ""):
            self.images.append(a)
        elif a.get("id") == "verdict":
            self.verdict, self._in_verdict = a, True

    def handle_endtag(self, tag: str) -> None:
        self._in_verdict = False

    def handle_data(self, data: str) -> None:
        if self._in_verdict:
            self.verdict_text += data


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


@needs_chromium
@pytest.mark.parametrize("name", ["pass", "fail"])
def test_chromium_renders_the_verdict_and_decodes_every_chart(
    runs: dict[str, Any], tmp_path: Path, name: str
) -> None:
    _, report, _ = runs[name]
    done = _chromium(tmp_path, "--dump-dom", (report / "report.html").as_uri())
    dom = _Dom()
    dom.feed(done.stdout)
    charts = [f for f in _record(report)["files"] if f.endswith(".png")]
    assert len(dom.images) == len(charts) == 6
    # Set by the page's script from each image's naturalWidth once loaded: 0 would mean
    # the browser could not decode the embedded PNG.
    assert dom.body.get("data-charts-decoded") == f"{len(charts)}/{len(charts)}"
    for img in dom.images:
        assert (img.get("src") or "").startswith("data:image/png;base64,")
        assert int(img.get("data-natural-width") or 0) > 300
        assert int(img.get("data-natural-height") or 0) > 200
    assert dom.verdict is not None and dom.verdict.get("data-verdict") == name
    assert dom.verdict_text.strip() == name.upper()
    assert 'id="slos"' in done.stdout and 'id="stages"' in done.stdout


@needs_chromium
def test_chromium_screenshot_of_the_report_is_not_blank(
    runs: dict[str, Any], tmp_path: Path
) -> None:
    image = pytest.importorskip("PIL.Image")
    _, report, _ = runs["fail"]
    shot = tmp_path / "report.png"
    _chromium(
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1200,1800",
        (report / "report.html").as_uri(),
    )
    with image.open(shot) as img:
        assert img.size == (1200, 1800)
        pixels = np.asarray(img.convert("RGB"), dtype=np.int16).reshape(-1, 3)
    non_white = int((pixels.min(axis=1) < 235).sum())
    assert non_white > 0.02 * len(pixels), "the page rendered (almost) nothing"
    assert len(np.unique(pixels, axis=0)) > 50, "no charts: too few distinct colours"
    # The FAIL banner's background (#f8d7d7) is on screen.
    banner = np.abs(pixels - np.array([0xF8, 0xD7, 0xD7])).max(axis=1) < 6
    assert banner.sum() > 500
