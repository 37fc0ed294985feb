"""Unit tests of the value parsers (data/parse.py): each expected value is written out by hand."""
from datetime import datetime

import polars as pl
import pytest

from data import parse


def dates(values, timezone="UTC"):
    s = pl.Series(values)
    formats = parse.date_formats(s)
    return pl.select(parse.thorough("datetime", pl.lit(s), formats=formats, timezone=timezone)).to_series().to_list()


def numbers(values, comma=None):
    s = pl.Series(values)
    comma = parse.decimal_comma([s]) if comma is None else comma
    return pl.select(parse.thorough("number", pl.lit(s), comma)).to_series().to_list()


@pytest.mark.parametrize("values, expected", [
    (["04.03.24", "13.03.24"], [datetime(2024, 3, 4), datetime(2024, 3, 13)]),            # two-digit years
    (["3/5/2024 2:15 PM", "3/15/2024 11:05 AM"], [datetime(2024, 3, 5, 14, 15), datetime(2024, 3, 15, 11, 5)]),
    (["05/03/2024", "13/03/2024"], [datetime(2024, 3, 5), datetime(2024, 3, 13)]),        # a day above 12
    (["03/05/2024", "03/13/2024"], [datetime(2024, 3, 5), datetime(2024, 3, 13)]),        # a month-first file
    (["05/03/2024", "06/03/2024"], [datetime(2024, 5, 3), datetime(2024, 6, 3)]),         # ambiguous slashes
    (["05.03.2024", "06.03.2024"], [datetime(2024, 3, 5), datetime(2024, 3, 6)]),         # ambiguous dots
    (["20240305", "20240306"], [datetime(2024, 3, 5), datetime(2024, 3, 6)]),             # GA4
    (["2024年3月5日", "2024年3月6日"], [datetime(2024, 3, 5), datetime(2024, 3, 6)]),
    (['="2024-03-05 10:00:00"', " 2024-03-06 11:00:00 "], [datetime(2024, 3, 5, 10), datetime(2024, 3, 6, 11)]),
])
def test_dates_in_the_forms_exports_use(values, expected):
    assert dates(values) == expected


def test_offsets_are_converted_to_the_store_zone_and_naive_times_kept():
    got = dates(["2024-03-05T14:22:10+01:00", "2024-03-05T14:22:10Z", "2024-03-05 14:22:10"], "Europe/Berlin")
    # 13:22:10 UTC is 14:22:10 in Berlin (CET, +1); 14:22:10 UTC is 15:22:10; the naive value stays.
    assert got == [datetime(2024, 3, 5, 14, 22, 10), datetime(2024, 3, 5, 15, 22, 10), datetime(2024, 3, 5, 14, 22, 10)]


@pytest.mark.parametrize("values, expected", [
    (["1,701", "12,345.50", "3.25%"], [1701.0, 12345.5, 0.0325]),
    (["1.234,56", "3,5", "48,39 %"], [1234.56, 3.5, 0.4839]),
    (["(12.50)", "€ 9.99", "¥1,000", "1 980"], [-12.5, 9.99, 1000.0, 1980.0]),
    (['="42"', "abc", None], [42.0, None, None]),
])
def test_numbers_in_the_forms_exports_use(values, expected):
    got = numbers(values)
    assert [g is None for g in got] == [e is None for e in expected]
    assert [g for g in got if g is not None] == pytest.approx([e for e in expected if e is not None])


def test_a_comma_groups_thousands_unless_the_values_prove_a_decimal_comma():
    assert parse.decimal_comma([pl.Series(["1,701", "2,000"])]) is False
    assert parse.decimal_comma([pl.Series(["1,5", "2,25"])]) is True
