"""The weekly review's logic (metrics/review.py) and its HTML export (metrics/report.py): weeks,
the KPI table against metrics.compute.kpis and a direct SQL recomputation, highlights from
hand-made shops and the demo, urgent restocks from stored runs, and an offline, escaped HTML file."""
import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser

import pytest

from data import demo, warehouse
from metrics import compute, report, review
from metrics.filters import Filters
from metrics.registry import KPIS
from tests.metrics_helpers import line, warehouse_with

SALES = "status in ('paid', 'partially_refunded', 'refunded')"


@pytest.fixture(scope="module")
def demo_con(tmp_path_factory):
    path = tmp_path_factory.mktemp("review-demo") / "warehouse.duckdb"
    demo.build(path, seed=42, scale=0.3)
    con = warehouse.connect(path)
    yield con
    con.close()


def named(order_id, at, sku, qty, price, name=None, status="paid", customer="C1"):
    row = line(order_id, 1, at, customer, "web", status, sku, qty, price)
    row["product_name"] = name or sku
    return row


# ------------------------------------------------------------------------------------ weeks

def test_weeks_end_at_the_last_full_week_before_the_data_date():
    # Data from Wed 7 Jan to Tue 20 Jan 2026: the last week ending on or before 20 Jan is
    # Mon 12 – Sun 18 Jan; the first week holding data is Mon 5 Jan.
    con = warehouse_with(lines=[named("A", "2026-01-07 10:00", "S1", 1, 10),
                                named("B", "2026-01-20 10:00", "S1", 1, 10)])
    assert warehouse.data_span(con) == (date(2026, 1, 7), date(2026, 1, 20))
    assert review.weeks(con) == [date(2026, 1, 12), date(2026, 1, 5)]
    assert review.default_week(con) == date(2026, 1, 12)


def test_a_week_ending_on_the_data_date_is_full():
    con = warehouse_with(lines=[named("A", "2026-01-07 10:00", "S1", 1, 10),
                                named("B", "2026-01-18 23:00", "S1", 1, 10)])  # a Sunday
    assert review.default_week(con) == date(2026, 1, 12)


def test_less_than_a_full_week_of_data_gives_the_partial_week():
    con = warehouse_with(lines=[named("A", "2026-01-07 10:00", "S1", 1, 10),
                                named("B", "2026-01-09 10:00", "S1", 1, 10)])
    assert review.weeks(con) == [date(2026, 1, 5)]


def test_empty_warehouse_has_no_week():
    con = warehouse.connect(":memory:")
    assert review.weeks(con) == [] and review.default_week(con) is None


def test_a_week_starts_on_monday():
    with pytest.raises(ValueError, match="starts on a Monday; 2026-01-07 is a Wednesday"):
        review.week_filters(date(2026, 1, 7))


# ------------------------------------------------------------------------------------ KPI table

def test_kpi_table_equals_compute_kpis_on_the_demo(demo_con):
    week = review.default_week(demo_con)
    assert week.weekday() == 0
    table = review.kpi_table(demo_con, week)
    expected = compute.kpis(demo_con, Filters(week, week + timedelta(days=6)))
    shown = [k for k, v in expected.items() if KPIS[k].overview and (v.value is not None or v.previous is not None)]
    assert table["key"].to_list() == shown and len(shown) >= 15
    for row in table.iter_rows(named=True):
        v = expected[row["key"]]
        assert (row["value"], row["previous"], row["delta"], row["delta_pct"], row["target"], row["status"]) == \
            (v.value, v.previous, v.delta, v.delta_pct, v.target, v.target_status)

    # GMV, orders and net sales of the week and the week before straight from order_lines
    def direct(start):
        return demo_con.execute(f"""
            select sum(quantity * unit_price), count(distinct order_id) filter (where not is_return),
                   sum(quantity * unit_price) - sum(discount) - sum(refund_amount)
            from order_lines where {SALES} and cast(ordered_at as date) between ? and ?""",
                                [start, start + timedelta(days=6)]).fetchall()[0]
    gmv, orders, net = direct(week)
    p_gmv, p_orders, _ = direct(week - timedelta(days=7))
    rows = {r["key"]: r for r in table.iter_rows(named=True)}
    assert rows["gmv"]["value"] == pytest.approx(gmv, rel=1e-12)
    assert rows["gmv"]["previous"] == pytest.approx(p_gmv, rel=1e-12)
    assert rows["gmv"]["delta"] == pytest.approx(gmv - p_gmv, rel=1e-9)
    assert rows["orders"]["value"] == orders and rows["orders"]["previous"] == p_orders
    assert rows["net_sales"]["value"] == pytest.approx(net, rel=1e-12)


def test_kpi_table_trend_follows_the_direction():
    # Week of 12 Jan: GMV 30 (3 × 10) vs 10 the week before → better; refund rate 10/30 vs 0 → worse.
    con = warehouse_with(lines=[named("A", "2026-01-06 10:00", "S1", 1, 10),
                                {**named("B", "2026-01-13 10:00", "S1", 3, 10, status="partially_refunded"),
                                 "refund_amount": 10.0},
                                named("C", "2026-01-19 10:00", "S1", 1, 10)])
    rows = {r["key"]: r for r in review.kpi_table(con, date(2026, 1, 12)).iter_rows(named=True)}
    assert rows["gmv"]["value"] == 30 and rows["gmv"]["previous"] == 10 and rows["gmv"]["trend"] == "better"
    assert rows["refund_rate"]["value"] == pytest.approx(10 / 30) and rows["refund_rate"]["trend"] == "worse"
    assert rows["aov"]["trend"] is None  # AOV has a band, no direction
    shown = review.display_table(review.kpi_table(con, date(2026, 1, 12)), "EUR").row(0, named=True)
    assert shown == {"KPI": "GMV", "This week": "30.00 EUR", "Previous week": "10.00 EUR", "Change": "+20.00 EUR",
                     "Change %": "+200.0%", "Target": "", "Status": "▲ better"}


def test_formats():
    assert review.fmt("money", 1234.5, "EUR") == "1,234.50 EUR"
    assert review.fmt("ratio", 0.02346) == "2.35%"
    assert review.fmt("count", 1360.0) == "1,360"
    assert review.fmt("score", -100) == "-100.0"
    assert review.fmt("money", None) == "—"
    assert review.fmt_delta("ratio", 0.00298) == "+0.30 pp"
    assert review.fmt_delta("money", -9.3134, "EUR") == "-9.31 EUR"
    assert review.fmt_pct(-0.0868) == "-8.7%"


# ------------------------------------------------------------------------------------ highlights

def hand_shop():
    """Week of 12 Jan 2026 vs the week of 5 Jan. Per SKU GMV (quantity × price):
    MUG  5 Jan week 1 × 10 = 10,   12 Jan week 10 × 10 = 100   → +90
    LAMP 5 Jan week 2 × 100 = 200, 12 Jan week 1 × 50 = 50     → −150 (the largest mover)
    Net sales 150 vs 210: down 60 / 210 = 28.6%; orders 2 vs 2."""
    return warehouse_with(lines=[
        named("A1", "2026-01-05 09:00", "MUG", 1, 10, "Mug <b>"),
        named("A2", "2026-01-06 09:00", "LAMP", 2, 100, "Desk lamp"),
        named("B1", "2026-01-13 09:00", "MUG", 10, 10, "Mug <b>"),
        named("B2", "2026-01-14 09:00", "LAMP", 1, 50, "Desk lamp"),
        named("C1", "2026-01-21 09:00", "MUG", 1, 10, "Mug <b>")])


def test_highlights_name_the_largest_mover_of_a_hand_made_shop():
    r = review.build(hand_shop(), date(2026, 1, 12))
    kinds = [h.kind for h in r.highlights]
    assert kinds[:2] == ["sales", "movers"]
    sales, movers = r.highlights[0], r.highlights[1]
    assert sales.text == ("Net sales 150.00 EUR, down 28.6% on the previous week (210.00 EUR); 2 orders (+0.0%).")
    assert sales.tone == "bad"
    assert movers.text.startswith("Largest mover: Desk lamp (LAMP) down 150.00 EUR GMV (200.00 EUR → 50.00 EUR, "
                                  "-75.0%). Largest rise: Mug <b> (MUG) up 90.00 EUR GMV (10.00 EUR → 100.00 EUR, "
                                  "+900.0%)")
    assert review.largest_mover(r.movers)["sku"] == "LAMP"
    assert len(r.highlights) <= review.MAX_HIGHLIGHTS


def test_highlights_on_the_demo_name_the_real_largest_mover(demo_con):
    week = review.default_week(demo_con)
    r = review.build(demo_con, week)
    assert 3 <= len(r.highlights) <= 5
    # the SKU whose GMV changed most between the two weeks, straight from order_lines
    sku, change = demo_con.execute(f"""
        with w as (select sku, sum(quantity * unit_price) filter (where cast(ordered_at as date) >= ?) as cur,
                          sum(quantity * unit_price) filter (where cast(ordered_at as date) < ?) as prev
                   from order_lines where {SALES} and cast(ordered_at as date) between ? and ? group by sku)
        select sku, coalesce(cur, 0) - coalesce(prev, 0) as change from w
        order by abs(change) desc, sku limit 1""",
                                   [week, week, week - timedelta(days=7), week + timedelta(days=6)]).fetchall()[0]
    movers = next(h for h in r.highlights if h.kind == "movers")
    assert movers.text.startswith("Largest mover: ") and f"({sku}) " in movers.text.split(". Largest")[0]
    assert f"{abs(change):,.2f} EUR" in movers.text
    sales = next(h for h in r.highlights if h.kind == "sales")
    net = compute.kpis(demo_con, Filters(week, week + timedelta(days=6)), ["net_sales"])["net_sales"].value
    assert sales.text.startswith(f"Net sales {net:,.2f} EUR")
    # the demo's checkout redesign has a real effect: a ship verdict is named
    exp = next(h for h in r.highlights if h.kind == "experiment")
    assert "checkout_redesign / treatment: ship" in exp.text
    # the most severe alert of metrics.alerts is the alert highlight
    alert = next(h for h in r.highlights if h.kind == "alert")
    assert alert.text.startswith(r.alerts[0]["message"])


def test_urgent_restocks_come_from_the_latest_finished_run():
    con = hand_shop()
    con.execute("""insert into forecast_runs (run_id, created_at, status) values
                   (1, '2026-01-10', 'done'), (2, '2026-01-17', 'done'), (3, '2026-01-18', 'failed')""")
    rows = [(1, "OLD", 5, "2026-01-19"),                  # an older run: ignored
            (2, "LAMP", 12, "2026-01-20"), (2, "MUG", 40, "2026-01-25"),   # by 18 Jan + 7 days: urgent
            (2, "FAR", 9, "2026-01-26"), (2, "ZERO", 0, "2026-01-19"),     # too late / nothing to order
            (3, "FAILED", 7, "2026-01-19")]                # an unfinished run: ignored
    con.executemany("insert into restock_plan (run_id, sku, name, recommended_qty, order_by, days_of_cover) "
                    "values (?, ?, ?, ?, ?, 2.0)", [(r, s, s.title(), q, d) for r, s, q, d in rows])
    urgent = review.urgent_restocks(con, date(2026, 1, 18))
    assert urgent["sku"].to_list() == ["LAMP", "MUG"]
    h = next(h for h in review.build(con, date(2026, 1, 12)).highlights if h.kind == "restock")
    assert h.text == "Restock now: 2 SKUs to order by 2026-01-25: Lamp (LAMP) × 12, Mug (MUG) × 40."


# ------------------------------------------------------------------------------------ HTML export

class Links(HTMLParser):
    """Every src/href attribute and every script tag of a document (script bodies are not tags)."""
    def __init__(self):
        super().__init__()
        self.links, self.scripts = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[a] for a in ("src", "href") if attrs.get(a)]
        if tag == "script":
            self.scripts.append(attrs)


def test_html_export_is_self_contained_stamped_and_escaped():
    con = hand_shop()
    con.execute("update order_lines set product_name = '<script>alert(1)</script>' where sku = 'LAMP'")
    con.execute("insert into ingest_log (file_name, kind, status) values ('rename', 'orders', 'loaded')")
    r = review.build(con, date(2026, 1, 12), ("web",))
    text = report.to_html(r, made=datetime(2026, 1, 22, 8, 30))
    assert text.startswith("<!DOCTYPE html>")
    assert "Week 2026-W03 (Mon 12 Jan – Sun 18 Jan 2026) · Filters: web · Data up to 21 Jan 2026 · " \
           "Made 2026-01-22 08:30 UTC" in text
    assert "<title>Weekly review 12 Jan – 18 Jan 2026</title>" in text
    # the product name is text everywhere: escaped in the page, \u003c-escaped in chart JSON
    assert "<script>alert(1)" not in text
    assert "Largest mover: &lt;script&gt;alert(1)&lt;/script&gt; (LAMP) down 150.00 EUR GMV" in text
    parsed = Links()
    parsed.feed(text)
    assert parsed.links == []  # nothing to fetch, no link out
    assert all("src" not in s for s in parsed.scripts)
    assert text.count("* plotly.js v") == 1  # plotly.js inlined once for the three charts
    assert len(re.findall(r'class="plotly-graph-div"', text)) == 3
    assert not re.search(r"""(?:src|href)\s*=\s*["']?https?://""", text.split("<script")[0])


def test_html_export_of_the_demo(demo_con):
    week = review.default_week(demo_con)
    r = review.build(demo_con, week)
    text = report.to_html(r)
    iso = week.isocalendar()
    assert f"Week {iso.year}-W{iso.week:02d}" in text and f"Data up to {r.data_date:%d %b %Y}" in text
    assert "Demo data" in text and "Filters: all channels" in text
    for row in review.display_table(r.kpis, r.currency).head(4).iter_rows():
        assert f"<td>{row[0]}</td><td>{row[1]}</td><td>{row[2]}</td>" in text
    parsed = Links()
    parsed.feed(text)
    assert parsed.links == []
    assert report.file_name(r) == f"storeboard-weekly-review-{week.isoformat()}.html"
