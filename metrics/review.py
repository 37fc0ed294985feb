"""The weekly review: a Monday–Sunday week against the week before, for a shared screen.

Definitions (choices the design leaves open):
- *Data date*: the last day with data in orders, traffic or NPS answers (the review's "today").
- *Weeks* are ISO weeks, Monday to Sunday. A week is *full* when it ends on or before the data
  date. The default week is the last full week; when the data is shorter than one full week,
  the week holding the data date.
- The KPI table lists the registry's overview KPIs (metrics/registry.py) that have a value this
  week or last, with metrics.compute.kpis for the week: value, previous week, delta,
  delta % and target status; ``trend`` says whether the move is good given the KPI's direction.
- Highlights (at most five, in this order): sales headline; the largest movers by GMV
  (metrics.analyses.top_movers); the most severe alert (metrics.alerts); experiment verdicts
  (metrics.experiments.from_warehouse, the first metric of each experiment); urgent restocks.
- *Urgent restocks*: lines of the latest stored restock plan (a finished run in forecast_runs)
  with a recommended quantity > 0 and an order-by date within 7 days after the week's end.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import polars as pl

from data import warehouse
from metrics import analyses, compute
from metrics.alerts import alerts
from metrics.experiments import from_warehouse
from metrics.filters import Filters
from metrics.formatting import fmt
from metrics.registry import KPIS

URGENT_DAYS = 7
MAX_HIGHLIGHTS = 5
KPI_COLUMNS = {"key": pl.String, "label": pl.String, "unit": pl.String, "value": pl.Float64,
               "previous": pl.Float64, "delta": pl.Float64, "delta_pct": pl.Float64, "target": pl.String,
               "status": pl.String, "trend": pl.String}


@dataclass(frozen=True)
class Highlight:
    """One sentence of the review; ``tone`` is good | bad | neutral."""
    kind: str   # sales | movers | alert | experiment | restock
    tone: str
    text: str


@dataclass
class Review:
    """Everything the page and the HTML export show for one week."""
    week_start: date
    week_end: date
    channels: tuple[str, ...]
    data_date: date | None
    currency: str
    is_demo: bool
    kpis: pl.DataFrame
    highlights: list[Highlight]
    daily: pl.DataFrame          # weekday, day, this_week, previous_week (net sales)
    channel_mix: pl.DataFrame    # metrics.analyses.channel_mix of the week
    movers: pl.DataFrame         # metrics.analyses.top_movers of the week (GMV)
    restocks: pl.DataFrame       # urgent restock lines (see module docstring)
    alerts: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------------------------ weeks

def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def weeks(con: duckdb.DuckDBPyConnection) -> list[date]:
    """Mondays of the weeks a review can show, newest first: the full weeks with data (or the one
    partial week when no week is full yet)."""
    first, last = warehouse.data_span(con)
    if last is None:
        return []
    newest = monday(last + timedelta(days=1)) - timedelta(days=7)  # the last week ending on or before `last`
    if newest + timedelta(days=6) < first:
        return [monday(last)]
    n = (newest - monday(first)).days // 7 + 1
    return [newest - timedelta(days=7 * i) for i in range(n)]


def default_week(con: duckdb.DuckDBPyConnection) -> date | None:
    """Monday of the last full week with data (see the module docstring)."""
    ws = weeks(con)
    return ws[0] if ws else None


def week_filters(week_start: date, channels: tuple[str, ...] = ()) -> Filters:
    if week_start.weekday() != 0:
        raise ValueError(f"a review week starts on a Monday; {week_start} is a {week_start:%A}")
    return Filters(week_start, week_start + timedelta(days=6), tuple(channels))


# ------------------------------------------------------------------------------------ KPI table

def kpi_table(con: duckdb.DuckDBPyConnection, week_start: date, channels: tuple[str, ...] = (),
              values: dict[str, compute.KpiValue] | None = None) -> pl.DataFrame:
    """One row per overview KPI with a value this week or last (columns: KPI_COLUMNS)."""
    values = compute.kpis(con, week_filters(week_start, channels)) if values is None else values
    rows = []
    for key, v in values.items():
        kpi = KPIS[key]
        if not kpi.overview or (v.value is None and v.previous is None):
            continue
        trend = None
        if v.delta is not None and kpi.higher_is_better is not None:
            trend = "flat" if abs(v.delta) < 1e-12 else \
                ("better" if (v.delta > 0) == kpi.higher_is_better else "worse")
        rows.append({"key": key, "label": kpi.label, "unit": kpi.unit, "value": v.value, "previous": v.previous,
                     "delta": v.delta, "delta_pct": v.delta_pct, "target": v.target, "status": v.target_status,
                     "trend": trend})
    return pl.DataFrame(rows, schema=KPI_COLUMNS)


def fmt_delta(unit: str, delta: float | None, currency: str = "EUR") -> str:
    """A change as text with its sign (ASCII, so st.metric reads it); ratio changes in percentage points."""
    if delta is None:
        return "—"
    sign = "+" if delta >= 0 else "-"
    if unit == "ratio":
        return f"{sign}{abs(delta) * 100:.2f} pp"
    return sign + fmt(unit, abs(delta), currency)


def fmt_pct(p: float | None) -> str:
    return "—" if p is None else f"{'+' if p >= 0 else '-'}{abs(p):.1%}"


def display_table(table: pl.DataFrame, currency: str) -> pl.DataFrame:
    """The KPI table as text for a screen: KPI, this week, previous week, change, change %, target, status."""
    rows = [{"KPI": r["label"], "This week": fmt(r["unit"], r["value"], currency),
             "Previous week": fmt(r["unit"], r["previous"], currency),
             "Change": fmt_delta(r["unit"], r["delta"], currency), "Change %": fmt_pct(r["delta_pct"]),
             "Target": r["target"] or "", "Status": _status_text(r["status"], r["trend"])}
            for r in table.iter_rows(named=True)]
    return pl.DataFrame(rows, schema={c: pl.String for c in
                                      ("KPI", "This week", "Previous week", "Change", "Change %", "Target", "Status")})


def _status_text(status: str | None, trend: str | None) -> str:
    if status == "met":
        return "✓ on target"
    if status in ("below", "above"):
        return f"⚠️ {status} target"
    return {"better": "▲ better", "worse": "▼ worse", "flat": "= flat"}.get(trend or "", "")


# ------------------------------------------------------------------------------------ highlights

def _sales_highlight(values: dict[str, compute.KpiValue], currency: str) -> Highlight | None:
    net, orders = values.get("net_sales"), values.get("orders")
    if net is None or net.value is None:
        return None
    text = f"Net sales {fmt('money', net.value, currency)}"
    if net.delta_pct is not None:
        text += (f", {'up' if net.delta >= 0 else 'down'} {abs(net.delta_pct):.1%} on the previous week "
                 f"({fmt('money', net.previous, currency)})")
    if orders is not None and orders.value is not None:
        text += f"; {orders.value:,.0f} orders"
        if orders.delta_pct is not None:
            text += f" ({fmt_pct(orders.delta_pct)})"
    tone = "neutral" if net.delta is None else ("good" if net.delta >= 0 else "bad")
    return Highlight("sales", tone, text + ".")


def _product(r: dict) -> str:
    return f"{r['name']} ({r['sku']})" if r["name"] else str(r["sku"])


def largest_mover(movers: pl.DataFrame) -> dict | None:
    """The row of ``movers`` (top_movers) with the largest absolute change."""
    if movers.height == 0:
        return None
    return movers.sort([pl.col("change").abs(), "sku"], descending=[True, False]).row(0, named=True)


def _movers_highlight(movers: pl.DataFrame, currency: str) -> Highlight | None:
    top = largest_mover(movers)
    if top is None:
        return None

    def say(r: dict) -> str:
        pct = f", {fmt_pct(r['change_pct'])}" if r["change_pct"] is not None else ", new this week"
        return (f"{_product(r)} {'up' if r['change'] > 0 else 'down'} {fmt('money', abs(r['change']), currency)} "
                f"GMV ({fmt('money', r['previous'], currency)} → {fmt('money', r['current'], currency)}{pct})")

    text = f"Largest mover: {say(top)}"
    other = movers.filter((pl.col("change") > 0) != (top["change"] > 0))
    if other.height:
        text += f". Largest {'drop' if top['change'] > 0 else 'rise'}: {say(other.row(0, named=True))}"
    return Highlight("movers", "good" if top["change"] > 0 else "bad", text + ".")


def _alert_highlight(found: list[dict]) -> Highlight | None:
    if not found:
        return None
    first = found[0]
    more = len(found) - 1
    text = first["message"] + (f" (and {more} more alert{'s' if more > 1 else ''})" if more else "")
    return Highlight("alert", "neutral" if first["severity"] == "info" else "bad", text + ".")


def _experiment_highlight(results: list[dict]) -> Highlight | None:
    """One line over every experiment: decisive verdicts (ship, harmful) of each experiment's first
    metric named, the others counted."""
    decisive, other = [], 0
    for e in results:
        metrics = e.get("metrics") or []
        if not metrics:
            continue
        m = metrics[0]
        for c in m.get("comparisons") or []:
            if c["verdict"] in ("ship", "harmful") and not e.get("srm_flag"):
                lift = f" ({m['metric']} {fmt_pct(c['rel_lift'])})" if c.get("rel_lift") is not None else ""
                decisive.append((c["verdict"], f"{e['name']} / {c['variant']}: {c['verdict']}{lift}"))
            else:
                other += 1
    if not decisive and not other:
        return None
    parts = [text for _, text in sorted(decisive, key=lambda d: d[0] != "harmful")]
    if other:
        parts.append(f"{other} other comparison{'s' if other > 1 else ''} still running or without a difference")
    tone = "bad" if any(v == "harmful" for v, _ in decisive) else "good" if decisive else "neutral"
    return Highlight("experiment", tone, "Experiments: " + "; ".join(parts) + ".")


def urgent_restocks(con: duckdb.DuckDBPyConnection, week_end: date, limit: int = 20) -> pl.DataFrame:
    """Urgent lines of the latest finished restock plan (module docstring), earliest order-by first."""
    run = warehouse.scalar(con, """select max(r.run_id) from forecast_runs r
                                   where r.status = 'done' and exists (select 1 from restock_plan p
                                                                       where p.run_id = r.run_id)""")
    cur = con.cursor()
    try:
        return cur.sql("""
            select sku, name, recommended_qty, order_by, on_hand, days_of_cover, flags
            from restock_plan where run_id = ? and recommended_qty > 0 and order_by <= ?
            order by order_by, days_of_cover nulls last, sku limit ?""",
                       params=[run, week_end + timedelta(days=URGENT_DAYS), limit]).pl()
    finally:
        cur.close()


def _restock_highlight(restocks: pl.DataFrame) -> Highlight | None:
    if restocks.height == 0:
        return None
    names = ", ".join(f"{_product(r)} × {r['recommended_qty']:,.0f}" for r in restocks.head(3).iter_rows(named=True))
    more = f" and {restocks.height - 3} more" if restocks.height > 3 else ""
    return Highlight("restock", "bad", f"Restock now: {restocks.height} SKU{'s' if restocks.height > 1 else ''} "
                                       f"to order by {restocks['order_by'].max()}: {names}{more}.")


def highlights(values: dict[str, compute.KpiValue], movers: pl.DataFrame, found: list[dict],
               experiments: list[dict], restocks: pl.DataFrame, currency: str) -> list[Highlight]:
    """Up to five highlights written from the week's numbers (order: module docstring)."""
    made = [_sales_highlight(values, currency), _movers_highlight(movers, currency), _alert_highlight(found),
            _experiment_highlight(experiments), _restock_highlight(restocks)]
    return [h for h in made if h is not None][:MAX_HIGHLIGHTS]


# ------------------------------------------------------------------------------------ the review

def build(con: duckdb.DuckDBPyConnection, week_start: date, channels: tuple[str, ...] = ()) -> Review:
    """The review of the week starting ``week_start`` (a Monday), sliced by ``channels``."""
    f = week_filters(week_start, channels)
    currency = warehouse.get_setting(con, "currency") or "EUR"
    values = compute.kpis(con, f)
    movers = analyses.top_movers(con, f, n=5, key="gmv")
    found = alerts(con, f, values)
    experiments = from_warehouse(con)
    restocks = urgent_restocks(con, f.end)
    both = Filters(f.previous().start, f.end, f.channels)
    trend = analyses.trend(con, both, "net_sales", "day")
    daily = (trend.with_columns(pl.col("bucket").dt.weekday().alias("n"))
             .group_by("n").agg(pl.col("bucket").max().alias("day"),
                                pl.col("value").filter(pl.col("bucket") >= f.start).first().alias("this_week"),
                                pl.col("value").filter(pl.col("bucket") < f.start).first().alias("previous_week"))
             .sort("n").with_columns(pl.col("day").dt.strftime("%a").alias("weekday")).drop("n")
             .select("weekday", "day", "this_week", "previous_week"))
    return Review(week_start=f.start, week_end=f.end, channels=f.channels, data_date=warehouse.data_span(con)[1],
                  currency=currency, is_demo=bool(warehouse.get_setting(con, "is_demo")),
                  kpis=kpi_table(con, week_start, channels, values),
                  highlights=highlights(values, movers, found, experiments, restocks, currency),
                  daily=daily, channel_mix=analyses.channel_mix(con, f), movers=movers, restocks=restocks,
                  alerts=found)
