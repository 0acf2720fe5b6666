"""Time and price helpers of `quotewire.itch`: exact, and round-tripping."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("quotewire._core", reason="the compiled core is not built")

from quotewire import itch
from quotewire.errors import ConfigError

DAY_NS = 24 * 3600 * 1_000_000_000


@given(st.integers(min_value=0, max_value=10 * DAY_NS))
def test_format_then_parse_hms_returns_the_same_nanoseconds(ns):
    assert itch.parse_hms(itch.format_hms(ns)) == ns


@given(
    st.integers(0, 99),
    st.integers(0, 59),
    st.integers(0, 59),
    st.text(alphabet="0123456789", min_size=0, max_size=9),
)
def test_parse_then_format_hms_normalises_to_nine_fraction_digits(h, m, s, frac):
    text = f"{h:02d}:{m:02d}:{s:02d}" + (f".{frac}" if frac else "")
    ns = itch.parse_hms(text)
    assert itch.format_hms(ns) == f"{h:02d}:{m:02d}:{s:02d}.{frac.ljust(9, '0')}"


def test_parse_hms_reads_fractions_as_left_aligned_digits():
    assert itch.parse_hms("09:30:00") == 34_200 * 10**9
    assert itch.parse_hms("09:30:00.5") == 34_200 * 10**9 + 500_000_000
    assert itch.parse_hms("00:00:00.000000001") == 1


@pytest.mark.parametrize(
    "text", ["", "9:30", "09:60:00", "09:00:60", "09:30:00.", "09:30:00.1234567890", "a:b:c"]
)
def test_parse_hms_rejects_malformed_times_with_config_error(text):
    with pytest.raises(ConfigError):
        itch.parse_hms(text)


def test_format_hms_rejects_negative_times():
    with pytest.raises(ConfigError):
        itch.format_hms(-1)


def test_prices_have_four_implied_decimals():
    assert itch.PRICE_SCALE == 10_000
    assert itch.price_to_float(1_234_500) == pytest.approx(123.45)
    assert itch.price_to_decimal(12_345) == Decimal("1.2345")
    assert itch.format_price(1_234_500) == "123.4500"
    assert itch.format_price(5) == "0.0005"
    assert itch.format_price(-12_345) == "-1.2345"
    arr = itch.price_to_float(np.array([10_000, 25_000], dtype=np.int64))
    assert arr.tolist() == [1.0, 2.5]


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_format_price_is_exact_for_every_int64(raw):
    text = itch.format_price(raw)
    assert int(Decimal(text) * itch.PRICE_SCALE) == raw
