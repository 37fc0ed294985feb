"""The DuckDB warehouse: one file, its schema, migrations, settings and the connection helper.

Path: env ``STOREBOARD_DB``, default ``data/warehouse.duckdb``. Every table of DESIGN §2 is
created idempotently by :func:`migrate`; ``schema_migrations`` records the version reached.

Keys are enforced by the loader (``data.load``: dedupe in the file, delete-then-insert on the
key inside one transaction) rather than by index constraints, which keeps bulk loads of
millions of lines fast; :func:`audit_duplicate_keys` is the data check that proves it (zero
rows = pass). Timestamps are naive ``TIMESTAMP`` in the store's time zone (setting ``timezone``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

DEFAULT_PATH = Path(__file__).resolve().parent / "warehouse.duckdb"


class WarehouseBusy(RuntimeError):
    """The warehouse file is held by another process (usually the running app)."""


class BadSetting(ValueError):
    """A stored setting is not valid JSON (edited outside the app); the message names it and says
    where to fix it."""


# Table key columns: the grain of each canonical table (DESIGN §2).
KEYS: dict[str, tuple[str, ...]] = {
    "order_lines": ("order_id", "line_no"),
    "traffic": ("date", "channel", "page"),
    "inventory": ("snapshot_date", "sku", "location"),
    "products": ("sku",),
    "nps_responses": ("response_id",),
    "experiment_users": ("experiment", "variant", "user_id"),
    "experiment_metrics": ("experiment", "variant", "user_id", "metric"),
    "experiment_summary": ("experiment", "variant"),
    "promotions": ("name", "start_date", "end_date", "sku"),
}

# Each migration is a list of statements; index + 1 is the schema version it brings.
MIGRATIONS: list[list[str]] = [
    [
        """create table if not exists order_lines (
            order_id varchar not null, line_no integer not null, ordered_at timestamp,
            customer_id varchar, channel varchar, status varchar not null, sku varchar,
            product_name varchar, quantity double not null, unit_price double not null,
            discount double not null default 0, refund_amount double not null default 0,
            shipping double not null default 0, unit_cost double, currency varchar,
            is_return boolean not null default false, ingest_id integer)""",
        """create table if not exists traffic (
            date date not null, channel varchar not null, page varchar not null default '',
            visitors bigint, sessions bigint, pageviews bigint, add_to_cart bigint, bounces bigint,
            buyers bigint, ingest_id integer)""",
        """create table if not exists inventory (
            snapshot_date date not null, sku varchar not null, location varchar not null default '',
            on_hand double not null, on_order double, unit_cost double, ingest_id integer)""",
        """create table if not exists products (
            sku varchar not null, name varchar, category varchar, unit_price double, unit_cost double,
            lead_time_days integer, moq integer, pack_size integer, supplier varchar, ingest_id integer)""",
        """create table if not exists nps_responses (
            response_id varchar not null, responded_at timestamp, score integer not null,
            customer_id varchar, channel varchar, comment varchar, ingest_id integer)""",
        """create table if not exists experiment_users (
            experiment varchar not null, variant varchar not null, user_id varchar not null,
            assigned_at timestamp, converted integer, revenue double, pre_metric double, ingest_id integer)""",
        """create table if not exists experiment_metrics (
            experiment varchar not null, variant varchar not null, user_id varchar not null,
            metric varchar not null, value double, ingest_id integer)""",
        """create table if not exists experiment_summary (
            experiment varchar not null, variant varchar not null, users bigint not null,
            conversions bigint, revenue_sum double, revenue_sum_sq double, ingest_id integer)""",
        """create table if not exists promotions (
            name varchar not null, start_date date not null, end_date date not null, sku varchar,
            discount_pct double, ingest_id integer)""",
        "create sequence if not exists ingest_id_seq start 1",
        """create table if not exists ingest_log (
            id integer primary key default nextval('ingest_id_seq'), file_name varchar, sha256 varchar,
            kind varchar, encoding varchar, mapping varchar, status varchar, message varchar,
            rows_read bigint, inserted bigint, updated bigint, rejected bigint,
            started_at timestamp, finished_at timestamp, user_name varchar)""",
        """create table if not exists settings (
            key varchar primary key, value varchar not null, updated_at timestamp, updated_by varchar)""",
        """create table if not exists column_mappings (
            header_set varchar primary key, kind varchar not null, mapping varchar not null,
            saved_at timestamp)""",
        """create or replace view orders as
            select order_id, min(ordered_at) as ordered_at, any_value(customer_id) as customer_id,
                   any_value(channel) as channel, any_value(status) as status,
                   sum(quantity) as items, sum(quantity * unit_price) as gross_sales,
                   sum(discount) as discounts, sum(refund_amount) as refunds,
                   sum(quantity * unit_price) - sum(discount) - sum(refund_amount) as net_sales,
                   sum(quantity * unit_cost) as cogs, sum(shipping) as shipping,
                   any_value(currency) as currency
            from order_lines group by order_id""",
    ],
    [  # 2: stored forecast runs (forecasting/ writes, the app reads) and the settings audit trail
        "create sequence if not exists forecast_run_seq start 1",
        """create table if not exists forecast_runs (
            run_id integer primary key default nextval('forecast_run_seq'), created_at timestamp,
            finished_at timestamp, kind varchar, horizon integer, service_level double,
            params varchar, accuracy varchar, skus integer, status varchar, message varchar,
            user_name varchar)""",
        """create table if not exists forecasts (
            run_id integer not null, sku varchar not null, date date not null, p50 double,
            p90 double, method varchar)""",
        """create table if not exists forecast_accuracy (
            run_id integer not null, sku varchar not null, method varchar, abc varchar,
            wape double, mase double, actual_units double, forecast_units double)""",
        """create table if not exists restock_plan (
            run_id integer not null, sku varchar not null, name varchar, abc varchar,
            on_hand double, on_order double, lead_time_days integer, service_level double,
            forecast_daily double, forecast_lead_time double, safety_stock double,
            reorder_point double, order_up_to double, recommended_qty double, order_by date,
            days_of_cover double, flags varchar)""",
        """create table if not exists settings_log (
            changed_at timestamp not null, key varchar not null, old_value varchar,
            new_value varchar, user_name varchar)""",
    ],
    [  # 3: the backtest errors behind a plan run's safety stock (the Inventory what-if re-plans from them)
        """create table if not exists forecast_residuals (
            run_id integer not null, sku varchar not null, date date not null, error double)""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)

# Defaults of DESIGN §3/§5; every one is a setting an admin can change.
DEFAULT_SETTINGS: dict[str, object] = {
    "currency": "EUR",
    "timezone": "UTC",
    "max_bad_row_share": 0.20,
    "default_lead_time_days": 7,
    "review_period_days": 7,
    "service_levels": {"A": 0.98, "B": 0.95, "C": 0.90},
    "targets": {"repurchase_rate": 0.25, "new_customer_share": 0.30, "gross_margin": 0.35,
                "aov_min": 100, "aov_max": 300},
    "conversion_alert_drop": 0.15,
    "low_stock_days": 3,
    "promo_cover_days": 15,
}

TABLES = ("order_lines", "traffic", "inventory", "products", "nps_responses", "experiment_users",
          "experiment_metrics", "experiment_summary", "promotions", "ingest_log", "settings")


def db_path(path: str | os.PathLike | None = None) -> Path:
    """The warehouse file: ``path``, else env ``STOREBOARD_DB``, else ``data/warehouse.duckdb``."""
    return Path(path or os.environ.get("STOREBOARD_DB") or DEFAULT_PATH)


def connect(path: str | os.PathLike | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and migrate, unless read-only) the warehouse; raise WarehouseBusy if another process holds it."""
    p = db_path(path)
    if read_only and not p.exists():
        raise FileNotFoundError(f"no warehouse at {p}: build one with `python -m data.demo` or upload files")
    if str(p) != ":memory:":
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(p), read_only=read_only)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise WarehouseBusy(
                f"the warehouse {p} is open for writing in another process (is the Storeboard app "
                "running?); upload through the app, or stop it and try again") from e
        raise
    # No progress bars on a CLI's output; bulk inserts need not keep row order (less memory).
    con.execute("set enable_progress_bar = false")
    con.execute("set preserve_insertion_order = false")
    if not read_only:
        migrate(con)
    return con


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema to SCHEMA_VERSION, one transaction per migration; return the version."""
    con.execute("create table if not exists schema_migrations (version integer primary key, applied_at timestamp)")
    current = scalar(con, "select coalesce(max(version), 0) from schema_migrations")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        con.execute("begin transaction")
        try:
            for statement in MIGRATIONS[version - 1]:
                con.execute(statement)
            con.execute("insert into schema_migrations values (?, current_timestamp)", [version])
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return SCHEMA_VERSION


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """The first value of a query's first row (None if no row), with the result fully consumed.

    DuckDB 2.0 keeps a result open after ``fetchone()`` and then refuses ``register``; fetching
    all rows closes it.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def get_setting(con: duckdb.DuckDBPyConnection, key: str):
    """A setting's value (JSON-decoded), or its default; BadSetting when the stored text is not JSON."""
    value = scalar(con, "select value from settings where key = ?", [key])
    if value is None:
        return DEFAULT_SETTINGS.get(key)
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise BadSetting(f"setting {key} in the warehouse is not valid JSON ({e.msg}, character {e.pos}): "
                         "set it again on the Settings page") from None


def set_setting(con: duckdb.DuckDBPyConnection, key: str, value, user: str | None = None) -> None:
    """Store a setting (JSON-encoded), recording who changed it and when (also in settings_log)."""
    encoded = json.dumps(value)
    old = scalar(con, "select value from settings where key = ?", [key])
    con.execute("insert or replace into settings values (?, ?, current_timestamp, ?)", [key, encoded, user])
    if old != encoded:
        con.execute("insert into settings_log values (current_timestamp, ?, ?, ?, ?)", [key, old, encoded, user])


def version(con: duckdb.DuckDBPyConnection) -> str:
    """The warehouse version: changes with every ingest, setting change and stored forecast run
    (a cache key for pages)."""
    last_ingest, last_setting, last_run = con.execute(
        "select (select coalesce(max(id), 0) from ingest_log), (select max(updated_at) from settings), "
        "(select coalesce(max(run_id), 0) from forecast_runs where status = 'done')").fetchall()[0]
    return f"{last_ingest}:{last_setting}:{last_run}"


def data_span(con: duckdb.DuckDBPyConnection) -> tuple:
    """(first, last) day with data in order lines, traffic or NPS answers; (None, None) when empty.
    The last one is the app's "today" (so old exports still show something)."""
    row = con.execute("""
        with d as (select cast(min(ordered_at) as date) lo, cast(max(ordered_at) as date) hi from order_lines
                   union all select min(date), max(date) from traffic
                   union all select cast(min(responded_at) as date), cast(max(responded_at) as date)
                             from nps_responses)
        select min(lo), max(hi) from d""").fetchall()[0]
    return row[0], row[1]


def table_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """Row count of every canonical table, in DESIGN order."""
    union = " union all ".join(f"select {i}, '{t}', count(*) from {t}" for i, t in enumerate(TABLES))
    return [(t, int(n)) for _, t, n in con.execute(f"{union} order by 1").fetchall()]


def audit_duplicate_keys(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """Rows of ``table`` whose key appears more than once (a data check: zero rows = pass)."""
    keys = ", ".join(KEYS[table])
    return con.execute(f"select {keys}, count(*) from {table} group by all having count(*) > 1").fetchall()
