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
_CLOCK12 = ["%I:%M:%S %p", "%I:%M %p"]
_ISO = ([f"%Y-%m-%d {t}{z}" for t in _TIMES for z in ("%#z", " %#z", "")]
        + [f"%Y-%m-%dT{t}{z}" for t in _TIMES for z in ("%#z", "")]
        + [f"%Y-%m-%d {t}" for t in _CLOCK12]
        + ["%Y-%m-%d", "%Y%m%d"] + [f"%Y/%m/%d {t}" for t in _TIMES] + ["%Y/%m/%d"]
        + ["%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日"])


def _with_times(date_fmt: str) -> list[str]:
    """The date alone and with every time form; two-digit years before four (chrono's %Y would
    read ``24`` as the year 24)."""
    forms = [date_fmt.replace("%Y", "%y"), date_fmt] if "%Y" in date_fmt else [date_fmt]
    return [f"{d} {t}" for d in forms for t in _TIMES + _CLOCK12] + forms


_MONTH_FIRST = _with_times("%m/%d/%Y") + _with_times("%m-%d-%Y")
_DAY_FIRST = _with_times("%d/%m/%Y") + _with_times("%d.%m.%Y") + _with_times("%d-%m-%Y")
_TRUE = ["true", "yes", "y", "1", "1.0", "t", "是", "√", "x"]
_FALSE = ["false", "no", "n", "0", "0.0", "f", "否", ""]


def _tidy(c: pl.Expr) -> pl.Expr:
    """Trim spaces, unwrap ``="…"`` and a leading apostrophe; empty becomes null."""
    t = c.str.strip_chars().str.replace(r'^="?(.*?)"?$', "$1").str.replace(r"^'+", "")
    return pl.when(t != "").then(t)


def fast(kind: str, c: pl.Expr, formats: list[str] = (), timezone: str = "UTC") -> pl.Expr:
    """Typing that suffices for clean exports (no string copies); see :func:`thorough`."""
    if kind == "number":
        return c.cast(pl.Float64, strict=False)
    if kind == "integer":
        return _integral(c.cast(pl.Float64, strict=False))
    if kind == "bool":
        return boolean(c)
    if kind in ("datetime", "date"):
        return _dates(c, formats, timezone, kind)
    return c  # id, text


def thorough(kind: str, c: pl.Expr, comma: bool = False, formats: list[str] = (), timezone: str = "UTC") -> pl.Expr:
    """Typing for messy cells: spaces, wrappers, currency signs, separators, percents, float ids."""
    t = _tidy(c)
    if kind in ("number", "integer"):
        v = number(t, comma)
        return _integral(v) if kind == "integer" else v
    if kind == "bool":
        return boolean(t)
    if kind in ("datetime", "date"):
        return _dates(t, formats, timezone, kind)
    if kind == "id":
        return t.str.replace(r"^(-?\d+)\.0+$", "$1")
    return pl.when(c.str.strip_chars() != "").then(c.str.strip_chars())  # text keeps its apostrophes


def needs_thorough(kind: str, raw: pl.Expr, typed: pl.Expr) -> pl.Expr:
    """True (one value) when some cell of the column needs :func:`thorough`."""
    if kind == "text":
        return raw.str.contains(r"^\s|\s$").any()
    if kind == "id":
        return raw.str.contains(r"^[\s='\t]|\s$|^-?\d+\.0+$").any()
    return (raw.is_not_null() & typed.is_null()).any()


def _integral(v: pl.Expr) -> pl.Expr:
    return pl.when(v == v.round(0)).then(v).cast(pl.Int64)


def decimal_comma(columns: list[pl.Series]) -> bool:
    """True when the numbers of a file prove a decimal comma (``1,5``, ``1.234,56``)."""
    comma = dot = 0
    for s in columns:
        v = s.head(20000).drop_nulls().str.strip_chars()
        comma += v.str.contains(r"\d,\d{1,2}\s*%?$|\d,\d{4,}\s*%?$|\d\.\d{3},\d").sum()
        dot += v.str.contains(r"\d\.\d{1,2}\s*%?$|\d\.\d{4,}\s*%?$|\d,\d{3}\.\d").sum()
    return comma > dot


def number(t: pl.Expr, comma_decimal: bool = False) -> pl.Expr:
    """Float64 from tidied text; see the module docstring for the accepted forms."""
    t = t.str.replace(r"^\((.*)\)$", "-$1").str.replace_all(r"[\s\u00a0\u202f¥￥$€£元']|CNY|RMB|USD|EUR|GBP", "")
    percent = t.str.ends_with("%")
    t = t.str.strip_suffix("%")
    t = t.str.replace_all(r"\.", "").str.replace(",", ".") if comma_decimal else t.str.replace_all(",", "")
    value = t.cast(pl.Float64, strict=False)
    return pl.when(percent).then(value / 100).otherwise(value)


def boolean(c: pl.Expr) -> pl.Expr:
    """0/1 (Int8) from TRUE/FALSE, yes/no, 1/0, 是/否."""
    low = c.str.strip_chars().str.to_lowercase()
    return pl.when(low.is_in(_TRUE)).then(1).when(low.is_in(_FALSE)).then(0).otherwise(None).cast(pl.Int8)


def metric(c: pl.Expr) -> pl.Expr:
    """An experiment metric cell as Float64: yes/no as 1/0, else a number (null if neither)."""
    return pl.coalesce(boolean(c), thorough("number", c)).cast(pl.Float64)


def date_formats(s: pl.Series) -> list[str]:
    """The fewest formats that read a sample of the column, best first, with the day/month order
    fixed by the data."""
    spread = s.gather_every(max(s.len() // 20000, 1))  # the whole file, thinly: finds days above 12
    sample = pl.concat([s.head(20000), spread]).drop_nulls().unique().head(5000).str.strip_chars() \
        .str.replace(r'^="?(.*?)"?$', "$1")
    if sample.len() == 0:
        return []
    parsed = {f: sample.str.to_datetime(f, strict=False) for f in _ISO + _MONTH_FIRST + _DAY_FIRST}
    hits = {f: sample.len() - p.null_count() for f, p in parsed.items()}
    hits = {f: v for f, v in hits.items() if v}
    month = sum(v for f, v in hits.items() if f in _MONTH_FIRST)
    day = sum(v for f, v in hits.items() if f in _DAY_FIRST)
    if month and day:
        if month == day:  # every value ambiguous: dots mean day-first, slashes month-first
            dotted = sample.str.contains(r"^\d{1,2}\.\d{1,2}\.").mean() > 0.5
            drop = _MONTH_FIRST if dotted else _DAY_FIRST
        else:
            drop = _DAY_FIRST if month > day else _MONTH_FIRST
        hits = {f: v for f, v in hits.items() if f not in drop}
    chosen, covered = [], pl.Series([False] * sample.len())
    for f in sorted(hits, key=lambda f: -hits[f]):  # greedy cover: usually one format
        new = parsed[f].is_not_null() & ~covered
        if new.any():
            chosen.append(f)
            covered = covered | new
    return chosen


def _dates(c: pl.Expr, formats: list[str], timezone: str, kind: str) -> pl.Expr:
    """Naive Datetime in the store's time zone (offsets converted, naive values kept), or a Date."""
    parts = []
    for f in formats:
        p = c.str.to_datetime(f, strict=False, time_unit="us")
        if "%z" in f or "%#z" in f:
            p = p.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
        parts.append(p)
    out = pl.coalesce(parts) if len(parts) > 1 else parts[0] if parts else pl.lit(None, pl.Datetime("us"))
    return out.dt.date() if kind == "date" else out
