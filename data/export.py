"""Downloads that are safe to open in a spreadsheet.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would run as a formula
in Excel or LibreOffice (CSV injection); such text cells get a leading apostrophe. Numbers are
left as numbers, so a negative amount stays a number.
"""
from __future__ import annotations

import polars as pl

_FORMULA_START = r"^[=+\-@\t\r]"


def neutralise(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text cell that could start a formula prefixed by an apostrophe."""
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in frame.columns if frame.schema[c] == pl.String)


def safe_csv(frame: pl.DataFrame) -> str:
    """CSV text of ``frame`` with formulas neutralised (UTF-8; prepend a BOM for Excel if needed)."""
    return neutralise(frame).write_csv()
