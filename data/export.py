"""Downloads that are safe to open in a spreadsheet.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would run as a formula
in Excel or LibreOffice (CSV injection); such text cells get a leading apostrophe. Text means
String, Categorical and Enum columns (the latter two come out as String) and the column names,
which can be user text too (a pivot by product name). Numbers are left as numbers, so a negative
amount stays a number.
"""
from __future__ import annotations

import re

import polars as pl

_FORMULA_START = r"^[=+\-@\t\r]"
_FORMULA_START_RE = re.compile(_FORMULA_START)


def _safe_name(name: str) -> str:
    return "'" + name if _FORMULA_START_RE.match(name) else name


def neutralise(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text cell (and column name) that could start a formula prefixed by an
    apostrophe."""
    text = [c for c, t in frame.schema.items() if t == pl.String or isinstance(t, (pl.Categorical, pl.Enum))]
    out = frame.with_columns(
        pl.when(pl.col(c).cast(pl.String).str.contains(_FORMULA_START))
        .then(pl.lit("'") + pl.col(c).cast(pl.String)).otherwise(pl.col(c).cast(pl.String)).alias(c)
        for c in text)
    return out.rename({c: _safe_name(c) for c in out.columns if _safe_name(c) != c})


def safe_csv(frame: pl.DataFrame) -> str:
    """CSV text of ``frame`` with formulas neutralised (UTF-8; prepend a BOM for Excel if needed)."""
    return neutralise(frame).write_csv()
