"""Stored forecast runs: what ``python -m forecasting`` writes and the app reads (DESIGN §5).

One run is one ``forecast_runs`` row (kind ``plan`` or ``backtest``; status ``done`` only once every
row of it is written) with its ``forecasts`` (daily P50/P90 per SKU), ``forecast_accuracy`` (backtest
figures per SKU), ``restock_plan`` rows and ``forecast_residuals``, all in one transaction: a reader
sees the previous run until the commit, then the whole new one.

``forecast_residuals`` (schema 3) keeps, for plan runs only, the backtest errors behind each SKU's
safety stock: ``Forecast.residuals`` as it is (sku, date, error = forecast − actual in units, one
row per SKU and in-stock backtest day of its chosen method: a few backtest windows of ``horizon``
days per SKU, the same order of size as the run's ``forecasts``); backtest runs store none. With
them, :func:`replan` re-plans a stored run exactly as it was planned (σ_L from the same errors). A
run stored before schema 3 has none, and its re-plan sizes safety stock by the policy's fallback
σ_d·√L. A plan run's ``params`` also record the ``lead_time_days`` override it was planned with
(null = per product).

Retention: every stored run (here and in the app's background job, forecasting/jobs.py) prunes,
in the transaction that stores it, the rows of :data:`RUN_TABLES` of the finished runs older than
the newest :data:`KEEP_RUNS` of their kind; their ``forecast_runs`` row stays (when, who, horizon,
accuracy figures) with status ``pruned``. A plan run is a few rows per SKU and forecast day, so
without this a daily run on 5,000 SKUs adds about half a million rows a day.
"""
from __future__ import annotations

import json
import math

import duckdb
import polars as pl

from forecasting import policy


RUN_TABLES = ("forecasts", "forecast_accuracy", "restock_plan", "forecast_residuals")  # a run's rows
KEEP_RUNS = 50  # finished runs of each kind that keep their rows


def prune(con: duckdb.DuckDBPyConnection, keep: int | None = None) -> int:
    """Delete the :data:`RUN_TABLES` rows of the finished runs older than the newest ``keep``
    (default :data:`KEEP_RUNS`) of their kind (plan, backtest) and mark those runs ``pruned``,
    inside the caller's transaction; return how many were pruned."""
    keep = KEEP_RUNS if keep is None else keep
    old = [r[0] for r in con.execute(
        """select run_id from (select run_id, row_number() over (partition by kind order by run_id desc) as n
                               from forecast_runs where status = 'done') where n > ?""", [keep]).fetchall()]
    if old:
        for t in RUN_TABLES:
            con.execute(f"delete from {t} where run_id in (select unnest(?::integer[]))", [old])
        con.execute("update forecast_runs set status = 'pruned', message = ? where run_id in "
                    "(select unnest(?::integer[]))",
                    [f"rows removed: only the newest {keep} finished runs of a kind keep their forecasts and plans",
                     old])
    return len(old)


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
             service_level: float | None = None, user: str | None = None,
             lead_time_days: int | None = None) -> int:
    """Store one run (``plan`` None for a backtest) in one transaction, pruning old runs
    (:func:`prune`); return its run_id.
    ``service_level`` and ``lead_time_days`` are the overrides the plan was made with (None = none)."""
    params = {**forecast.params, "lead_time_days": lead_time_days} if kind == "plan" else forecast.params
    con.execute("begin transaction")
    try:
        run_id = con.execute(
            """insert into forecast_runs (created_at, kind, horizon, service_level, params, accuracy, skus,
                                          status, user_name)
               values (current_timestamp, ?, ?, ?, ?, ?, ?, 'running', ?) returning run_id""",
            [kind, forecast.horizon, service_level, _json(params), _json(forecast.accuracy),
             forecast.skus.height, user]).fetchall()[0][0]
        if kind == "plan":
            _insert(con, "forecasts", forecast.daily.select(
                pl.lit(run_id, pl.Int32).alias("run_id"), "sku", "date", "p50", "p90", "method"))
            _insert(con, "forecast_residuals", forecast.residuals.select(
                pl.lit(run_id, pl.Int32).alias("run_id"), "sku", pl.col("date").cast(pl.Date),
                pl.col("error").cast(pl.Float64)))
        _insert(con, "forecast_accuracy", forecast.skus.select(
            pl.lit(run_id, pl.Int32).alias("run_id"), "sku", "method", "abc", "wape", "mase",
            "actual_units", "forecast_units"))
        if plan is not None:
            policy.store_plan(con, run_id, plan)
        con.execute("update forecast_runs set status = 'done', finished_at = current_timestamp where run_id = ?",
                    [run_id])
        prune(con)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return run_id


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pl.DataFrame:
    cur = con.cursor()
    try:
        return cur.sql(sql, params=params).pl()
    finally:
        cur.close()


def load_forecast(con: duckdb.DuckDBPyConnection, run_id: int):
    """A stored plan run read back as a :class:`forecasting.run.Forecast` (daily forecasts, the
    plan's SKUs with their ABC class, the stored residuals — empty for a run made before schema 3 —
    ``as_of`` and ``params``), for :func:`forecasting.policy.plan`. Raises LookupError for a run_id
    that is not a finished plan run."""
    from datetime import date

    from forecasting.run import Forecast
    row = con.execute("select horizon, params from forecast_runs where run_id = ? and kind = 'plan' "
                      "and status = 'done'", [run_id]).fetchall()
    if not row:
        raise LookupError(f"forecast run #{run_id} is not a finished plan run")
    horizon, params = row[0][0], json.loads(row[0][1] or "{}")
    daily = _frame(con, "select sku, date, p50, p90, method from forecasts where run_id = ? order by sku, date",
                   [run_id])
    skus = _frame(con, "select sku, abc from restock_plan where run_id = ? order by sku", [run_id])
    residuals = _frame(con, "select sku, date, error from forecast_residuals where run_id = ? order by sku, date",
                       [run_id])
    as_of = date.fromisoformat(params["as_of"]) if params.get("as_of") else None
    return Forecast(daily, skus, residuals, {}, as_of, horizon or 28, params=params)


def replan(con: duckdb.DuckDBPyConnection, run_id: int, service_level: float | None = None,
           lead_time_days: int | None = None) -> pl.DataFrame:
    """:func:`forecasting.policy.plan` over stored run ``run_id`` (:func:`load_forecast`); None
    keeps the run's own setting (its stored service-level / lead-time override, else by ABC class /
    per product). With the run's settings and unchanged warehouse inputs (settings, products,
    stock, order history) it equals the stored plan; a run without stored residuals uses the
    fallback σ_d·√L (module docstring)."""
    f = load_forecast(con, run_id)
    if service_level is None:
        service_level = con.execute("select service_level from forecast_runs where run_id = ?",
                                    [run_id]).fetchall()[0][0]
    if lead_time_days is None:
        lead_time_days = f.params.get("lead_time_days")
    return policy.plan(f, con, service_level=service_level, lead_time_days=lead_time_days)
