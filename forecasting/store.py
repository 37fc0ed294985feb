"""Stored forecast runs: what ``python -m forecasting`` writes and the app reads (DESIGN §5).

One run is one ``forecast_runs`` row (kind ``plan`` or ``backtest``; status ``done`` only once every
row of it is written) with its ``forecasts`` (daily P50/P90 per SKU), ``forecast_accuracy`` (backtest
figures per SKU) and ``restock_plan`` rows, all in one transaction: a reader sees the previous run
until the commit, then the whole new one.
"""
from __future__ import annotations

import json
import math

import duckdb
import polars as pl

from forecasting import policy


def finite(value):
    """``value`` with every NaN/inf float (nested in dicts and lists) replaced by None, for JSON."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(value) -> str:
    return json.dumps(finite(value), default=str, allow_nan=False)


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    name = f"_store_{table}"
    con.register(name, frame.to_arrow())
    try:
        con.execute(f"insert into {table} by name select * from {name}")
    finally:
        con.unregister(name)


def save_run(con: duckdb.DuckDBPyConnection, forecast, plan: pl.DataFrame | None, kind: str,
             service_level: float | None = None, user: str | None = None) -> int:
    """Store one run (``plan`` None for a backtest) in one transaction; return its run_id."""
    con.execute("begin transaction")
    try:
        run_id = con.execute(
            """insert into forecast_runs (created_at, kind, horizon, service_level, params, accuracy, skus,
                                          status, user_name)
               values (current_timestamp, ?, ?, ?, ?, ?, ?, 'running', ?) returning run_id""",
            [kind, forecast.horizon, service_level, _json(forecast.params), _json(forecast.accuracy),
             forecast.skus.height, user]).fetchall()[0][0]
        if kind == "plan":
            _insert(con, "forecasts", forecast.daily.select(
                pl.lit(run_id, pl.Int32).alias("run_id"), "sku", "date", "p50", "p90", "method"))
        _insert(con, "forecast_accuracy", forecast.skus.select(
            pl.lit(run_id, pl.Int32).alias("run_id"), "sku", "method", "abc", "wape", "mase",
            "actual_units", "forecast_units"))
        if plan is not None:
            policy.store_plan(con, run_id, plan)
        con.execute("update forecast_runs set status = 'done', finished_at = current_timestamp where run_id = ?",
                    [run_id])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return run_id
