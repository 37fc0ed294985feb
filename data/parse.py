"""Typed values from text cells, in bulk with Polars: numbers, integers, booleans, dates, ids.

Each parser takes a text ``pl.Series`` and returns the typed Series; a cell that had text but
gives null is a rejected value, and the caller reports it with :data:`REASONS`.

Conventions (documented for users in the README):
- numbers accept currency signs, spaces, thousands separators, ``(12.50)`` negatives, ``3.25%``
  (→ 0.0325) and spreadsheet-safe ``="…"`` wrappers; a decimal comma is chosen per file when
  the values prove it (``1,5`` or ``1.234,56``), otherwise a comma groups thousands (``1,701``);
- dates accept ISO, ``YYYYMMDD``, ``YYYY/MM/DD``, Chinese ``YYYY年MM月DD日``, US ``MM/DD/YYYY``
  and day-first ``DD/MM/YYYY``, ``DD.MM.YYYY``, ``DD-MM-YYYY`` (with optional times); the day/month
  order is inferred from the data (a first field above 12 is a day); when every date is ambiguous,
  dots mean day-first and slashes month-first. Values with a UTC offset are converted to the
  store's time zone and stored without zone; values without offset are taken as store-local time.
"""
from __future__ import annotations

import polars as pl

REASONS = {
    "number": "not a number",
    "integer": "not a whole number",
    "bool": "not a yes/no value (TRUE/FALSE, 1/0, yes/no)",
    "datetime": "not a date in the file's date format",
    "date": "not a date in the file's date format",
}

_TIMES = ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"]
_ISO = ([f"%Y-%m-%d {t}{z}" for t in _TIMES for z in ("%#z", " %#z", "")]
        + [f"%Y-%m-%dT{t}{z}" for t in _TIMES for z in ("%#z", "")]
        + ["%Y-%m-%d", "%Y%m%d"] + [f"%Y/%m/%d {t}" for t in _TIMES] + ["%Y/%m/%d"]
        + ["%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日"])


def _with_times(date_fmt: str) -> list[str]:
    return [f"{date_fmt} {t}" for t in _TIMES] + [date_fmt]


_MONTH_FIRST = _with_times("%m/%d/%Y") + _with_times("%m/%d/%y") + _with_times("%m-%d-%Y")
_DAY_FIRST = (_with_times("%d/%m/%Y") + _with_times("%d/%m/%y") + _with_times("%d.%m.%Y")
              + _with_times("%d.%m.%y") + _with_times("%d-%m-%Y"))
_TRUE = ["true", "yes", "y", "1", "1.0", "t", "是", "√", "x"]
_FALSE = ["false", "no", "n", "0", "0.0", "f", "否", ""]


def clean_text(s: pl.Series) -> pl.Series:
    """Trimmed text; empty becomes null."""
    out = s.str.strip_chars()
    return out.replace("", None) if out.dtype == pl.String else out


def clean_id(s: pl.Series) -> pl.Series:
    """An identifier: trimmed, without ``="…"`` wrappers, a leading apostrophe or a float's ``.0``."""
    out = s.str.strip_chars()
    if out.str.contains(r"^[='\t]").any() or out.str.ends_with(".0").any():
        out = (out.str.replace(r'^="?(.*?)"?$', "$1").str.replace(r"^[' \t]+", "")
               .str.replace(r"^(-?\d+)\.0+$", "$1"))
    return out.replace("", None)


def decimal_comma(columns: list[pl.Series]) -> bool:
    """True when the numbers of a file prove a decimal comma (``1,5``, ``1.234,56``)."""
    comma = dot = 0
    for s in columns:
        v = s.drop_nulls().head(20000).str.strip_chars()
        comma += v.str.contains(r"\d,\d{1,2}\s*%?$|\d,\d{4,}\s*%?$|\d\.\d{3},\d").sum()
        dot += v.str.contains(r"\d\.\d{1,2}\s*%?$|\d\.\d{4,}\s*%?$|\d,\d{3}\.\d").sum()
    return comma > dot


def number(s: pl.Series, comma_decimal: bool = False) -> pl.Series:
    """Float64 from text; see the module docstring for the accepted forms."""
    fast = s.cast(pl.Float64, strict=False)
    if fast.null_count() == s.null_count():
        return fast
    t = (s.str.strip_chars().str.replace(r'^="?(.*?)"?$', "$1")
         .str.replace(r"^\((.*)\)$", "-$1")
         .str.replace_all(r"[\s\u00a0\u202f¥￥$€£元']|CNY|RMB|USD|EUR|GBP", ""))
    percent = t.str.ends_with("%")
    t = t.str.strip_suffix("%")
    t = t.str.replace_all(r"\.", "").str.replace(",", ".") if comma_decimal else t.str.replace_all(",", "")
    value = t.cast(pl.Float64, strict=False)
    return pl.select(pl.when(percent).then(value / 100).otherwise(value)).to_series().rename(s.name)


def integer(s: pl.Series, comma_decimal: bool = False) -> pl.Series:
    """Int64 from text; a value with a fractional part is rejected (null)."""
    v = number(s, comma_decimal)
    return pl.select(pl.when(v == v.round(0)).then(v).otherwise(None).cast(pl.Int64)).to_series().rename(s.name)


def boolean(s: pl.Series) -> pl.Series:
    """0/1 (Int8) from TRUE/FALSE, yes/no, 1/0, 是/否."""
    low = s.str.strip_chars().str.to_lowercase()
    return pl.select(pl.when(low.is_in(_TRUE)).then(1).when(low.is_in(_FALSE)).then(0)
                     .otherwise(None).cast(pl.Int8)).to_series().rename(s.name)


def date_formats(s: pl.Series) -> list[str]:
    """The formats that read the column, best first, with the day/month order fixed by the data."""
    values = s.drop_nulls()
    spread = values.gather_every(max(values.len() // 20000, 1))  # the whole file, thinly: days above 12
    sample = pl.concat([values.head(20000), spread]).unique().head(5000).str.strip_chars()
    if sample.len() == 0:
        return []
    hits = {f: sample.str.to_datetime(f, strict=False).null_count() for f in _ISO + _MONTH_FIRST + _DAY_FIRST}
    hits = {f: sample.len() - misses for f, misses in hits.items() if misses < sample.len()}
    month = sum(v for f, v in hits.items() if f in _MONTH_FIRST)
    day = sum(v for f, v in hits.items() if f in _DAY_FIRST)
    if month and day:
        if month == day:  # every value ambiguous: dots mean day-first, slashes month-first
            dotted = sample.str.contains(r"^\d{1,2}\.\d{1,2}\.").mean() > 0.5
            drop = _MONTH_FIRST if dotted else _DAY_FIRST
        else:
            drop = _DAY_FIRST if month > day else _MONTH_FIRST
        hits = {f: v for f, v in hits.items() if f not in drop}
    return sorted(hits, key=lambda f: -hits[f])


def datetime(s: pl.Series, timezone: str = "UTC", formats: list[str] | None = None) -> pl.Series:
    """Naive Datetime in the store's time zone; offsets converted, naive values kept as they are."""
    formats = date_formats(s) if formats is None else formats
    out = _with_formats(s, formats, timezone)
    if out.null_count() > s.null_count():  # messy cells: trim spaces and ="…" wrappers, try again
        out = out.fill_null(_with_formats(s.str.strip_chars().str.replace(r'^="?(.*?)"?$', "$1"), formats, timezone))
    return out


def _with_formats(s: pl.Series, formats: list[str], timezone: str) -> pl.Series:
    out = pl.Series(s.name, [None] * s.len(), dtype=pl.Datetime("us"))
    for f in formats:
        if out.null_count() == s.null_count():
            break
        parsed = s.str.to_datetime(f, strict=False, time_unit="us")
        if parsed.dtype.time_zone is not None:
            parsed = parsed.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
        out = out.fill_null(parsed)
    return out


def date(s: pl.Series, formats: list[str] | None = None) -> pl.Series:
    """A calendar Date (times, if any, are dropped)."""
    return datetime(s, formats=formats).dt.date()
