"""Streamlit plumbing shared by app.py and the pages: the warehouse connection and queries.

Pages import this module, never each other (DESIGN §1). The app process holds one DuckDB
connection per warehouse file (``st.cache_resource``) and every query runs on its own cursor
(DESIGN §2). Opening the file raises :class:`data.warehouse.WarehouseBusy` when another process
holds it; app.py shows that message in words.
"""
from __future__ import annotations

import duckdb
import polars as pl
import streamlit as st

from data import warehouse


@st.cache_resource(show_spinner=False)
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    return warehouse.connect(path)


def connection() -> duckdb.DuckDBPyConnection:
    """The app's connection to the warehouse at STOREBOARD_DB (keyed on the path, so tests that
    point STOREBOARD_DB elsewhere get their own)."""
    return _connection(str(warehouse.db_path()))


def query(sql: str, params: list | None = None) -> pl.DataFrame:
    """Run one read query on its own cursor and return the result as a Polars frame."""
    with connection().cursor() as cur:
        return cur.sql(sql, params=params).pl()
