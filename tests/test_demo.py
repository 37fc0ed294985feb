"""The demo warehouse (data.demo): built through the ingest pipeline, complete, deterministic, realistic.

Properties are recomputed here with plain SQL and Polars from the warehouse (never through the
generator's own numbers), on a small build (--scale 0.1).
"""
import json
import subprocess
import sys
from datetime import date, timedelta

import duckdb
import polars as pl
import pytest

from data import demo, warehouse
from data.ingest import ingest_file
from tests.conftest import ROOT

SCALE = 0.1
SALES = "status in ('paid', 'partially_refunded', 'refunded')"
DATA_TABLES = ("order_lines", "traffic", "inventory", "products", "nps_responses", "experiment_users",
               "experiment_metrics", "experiment_summary", "promotions")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    results = demo.build(path, seed=42, scale=SCALE)
    return path, results


@pytest.fixture(scope="module")
def con(built):
    c = duckdb.connect(str(built[0]), read_only=True)
    yield c
    c.close()


def one(con, sql):
    return con.execute(sql).fetchall()[0][0]


def gmv(con):
    return round(one(con, f"select sum(quantity * unit_price) from order_lines where {SALES}"), 2)


def test_every_table_has_rows_and_the_demo_flag(con):
    counts = dict(warehouse.table_counts(con))
    assert all(counts[t] > 0 for t in warehouse.TABLES), counts
    assert warehouse.get_setting(con, "is_demo") is True
    assert warehouse.audit_duplicate_keys(con, "order_lines") == []


def test_every_file_is_detected_and_loaded_whole(built):
    _, results = built
    assert all(r.status == "loaded" and r.rejected == 0 for r in results), [r.message for r in results]
    kinds = {r.file: r.kind for r in results}
    assert set(kinds.values()) == {"products", "promotions", "orders", "traffic", "inventory", "nps", "experiments"}
    ga4 = next(r for r in results if r.file == "traffic_ga4.csv")
    assert ga4.mapping["channel"] == "Session default channel group" and ga4.mapping["bounce_rate"] == "Bounce rate"
    nps = next(r for r in results if r.kind == "nps")
    assert nps.mapping["score"].startswith("How likely are you to recommend us")


def test_warehouse_holds_what_the_files_hold(built, con, tmp_path):
    """Rows in = rows out: the export files, read independently with Polars, give the same numbers."""
    files = demo.export_files(42, SCALE, date.today() - timedelta(days=1), tmp_path)
    lines = pl.concat([pl.read_csv(f) for f in files if f.name.startswith("orders_")])
    sales = lines.filter(pl.col("status").is_in(["paid", "partially_refunded", "refunded"]))
    assert one(con, "select count(*) from order_lines") == lines.height
    assert gmv(con) == pytest.approx((sales["quantity"] * sales["unit_price"]).sum(), abs=0.01)
    assert one(con, "select sum(refund_amount) from order_lines") == pytest.approx(lines["refund_amount"].sum(), abs=0.01)
    by_status = dict(con.execute("select status, count(*) from orders group by 1").fetchall())
    assert by_status == dict(lines.group_by("status").agg(pl.col("order_id").n_unique()).iter_rows())
    inventory = pl.read_csv(tmp_path / "inventory.csv")
    assert one(con, "select count(*) from inventory where on_hand = 0") == (inventory["on_hand"] == 0).sum()


def test_history_is_two_years_ending_yesterday(con):
    first, last = con.execute("select min(ordered_at)::date, max(ordered_at)::date from order_lines").fetchall()[0]
    assert last == date.today() - timedelta(days=1)
    assert 725 <= (last - first).days <= 730
    assert one(con, "select max(date) from traffic") == last
    assert one(con, "select max(snapshot_date) from inventory") == last


def test_sales_look_like_a_real_shop(con):
    assert one(con, "select count(distinct channel) from orders") >= 3
    assert one(con, "select count(distinct status) from orders") == 5
    orders = one(con, f"select count(*) from orders where {SALES}")
    aov = one(con, f"select sum(gross_sales - discounts) from orders where {SALES}") / orders
    assert 100 <= aov <= 300
    net, cogs = con.execute(f"select sum(net_sales), sum(cogs) from orders where {SALES}").fetchall()[0]
    assert 0.35 <= (net - cogs) / net <= 0.50
    assert one(con, f"select sum(discounts) from orders where {SALES}") > 0
    assert one(con, "select count(*) from orders where status = 'refunded' and refunds <= 0") == 0
    assert one(con, "select count(*) from orders where status = 'partially_refunded' "
                    "and not (refunds > 0 and refunds < gross_sales - discounts)") == 0
    assert one(con, f"select sum(shipping) from orders where {SALES}") > 0
    assert one(con, "select count(distinct currency) from order_lines") == 1
    assert 0.02 < one(con, "select avg((customer_id is null)::int) from orders") < 0.4


def test_conversion_is_consistent_with_traffic(con):
    per_channel = dict(con.execute(f"""
        with buyers as (select ordered_at::date as date, channel,
                               count(distinct coalesce(customer_id, order_id)) as buyers
                        from orders where {SALES} group by all)
        select t.channel, sum(coalesce(b.buyers, 0)) / sum(t.visitors)
        from traffic t left join buyers b on b.date = t.date and b.channel = t.channel group by 1""").fetchall())
    assert set(per_channel) == {r[0] for r in con.execute("select distinct channel from orders").fetchall()}
    assert all(0.005 <= v <= 0.05 for v in per_channel.values()), per_channel
    overall = one(con, f"select (select count(*) from orders where {SALES}) / (select sum(visitors) from traffic)")
    assert 0.01 <= overall <= 0.04
    assert one(con, "select count(*) from traffic where add_to_cart is null or bounces is null or sessions < visitors") == 0


def test_customers_come_back(con):
    repurchase = one(con, f"""select avg((n >= 2)::int) from (select customer_id, count(*) as n from orders
                             where {SALES} and customer_id is not null group by 1)""")
    assert 0.20 <= repurchase <= 0.40


def test_stock_runs_out_and_nothing_sells_then(con):
    assert one(con, "select count(*) from inventory where on_hand = 0") > 0
    longest = one(con, """select max(n) from (select count(*) as n from (
                              select sku, snapshot_date, on_hand = 0 as out,
                                     row_number() over (partition by sku order by snapshot_date)
                                     - row_number() over (partition by sku, on_hand = 0 order by snapshot_date) as run
                              from inventory) where out group by sku, run)""")
    assert longest >= 7
    # out all day: empty the evening before and after, and nothing arrived (units on order unchanged)
    sold_while_out = one(con, """
        with days as (select sku, snapshot_date, on_hand, on_order,
                             lag(on_hand) over w as prev_on_hand, lag(on_order) over w as prev_on_order
                      from inventory window w as (partition by sku order by snapshot_date))
        select count(*) from days d join order_lines l
          on l.sku = d.sku and l.ordered_at::date = d.snapshot_date and l.status <> 'cancelled'
        where d.on_hand = 0 and d.prev_on_hand = 0 and d.on_order = d.prev_on_order""")
    assert sold_while_out == 0
    assert one(con, "select count(*) from inventory where on_order > 0") > 0


def test_slow_movers_and_products(con):
    days = one(con, "select count(distinct ordered_at::date) from order_lines")
    slow = one(con, f"""select count(*) from (select sku, count(distinct ordered_at::date) as n from order_lines
                       where {SALES} group by 1) where n < 0.2 * {days}""")
    assert slow >= 3
    assert one(con, "select count(*) from products where lead_time_days not between 5 and 20 or moq < 1 "
                    "or pack_size < 1 or unit_cost >= unit_price or supplier is null") == 0
    assert one(con, "select count(distinct category) from products") >= 3


def test_promotions_store_wide_per_sku_and_upcoming(con):
    store, per_sku, upcoming = con.execute("""
        select count(*) filter (sku is null), count(*) filter (sku is not null),
               count(*) filter (start_date > (select max(ordered_at)::date from order_lines))
        from promotions""").fetchall()[0]
    assert store >= 4 and per_sku >= 3 and upcoming >= 1


def test_nps_and_experiments(con):
    n, score = con.execute("""select count(*), 100 * (avg((score >= 9)::int) - avg((score <= 6)::int))
                              from nps_responses""").fetchall()[0]
    assert n >= 100 and 15 <= score <= 45
    assert 0.2 <= one(con, "select avg((comment is not null)::int) from nps_responses") <= 0.6
    rates = {(e, v): (u, c) for e, v, u, c in con.execute(
        "select experiment, variant, count(*), sum(converted) from experiment_users group by all").fetchall()}

    def z(e):
        (n0, c0), (n1, c1) = rates[(e, "control")], rates[(e, "treatment")]
        p = (c0 + c1) / (n0 + n1)
        return (c1 / n1 - c0 / n0) / (p * (1 - p) * (1 / n0 + 1 / n1)) ** 0.5, (c1 / n1) / (c0 / n0) - 1

    z_checkout, lift_checkout = z("checkout_redesign")
    assert z_checkout > 3 and 0.05 <= lift_checkout <= 0.2
    assert abs(z("homepage_banner")[0]) < 2.5
    assert all(20_000 <= u0 + u1 <= 40_000 for (u0, _), (u1, _) in
               [(rates[(e, "control")], rates[(e, "treatment")]) for e in ("checkout_redesign", "homepage_banner")])
    assert one(con, "select count(*) from experiment_users where pre_metric is null") == 0
    assert one(con, "select count(distinct variant) from experiment_summary") == 3


def test_cli_rebuilds_a_demo_deterministically_and_prints_json(built, con, tmp_path):
    path = tmp_path / "w.duckdb"
    old = warehouse.connect(path)
    old.execute("insert into order_lines (order_id, line_no, status, quantity, unit_price) values ('OLD1', 1, 'paid', 1, 5)")
    warehouse.set_setting(old, "is_demo", True)
    old.close()
    p = subprocess.run([sys.executable, "-m", "data.demo", "--db", str(path), "--scale", str(SCALE), "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert isinstance(out, list) and len(out) == len(built[1])
    for r in out:
        assert {"file", "kind", "encoding", "status", "rows_read", "inserted", "updated", "rejected", "errors",
                "message", "skipped", "warnings", "mapping"} <= set(r)
        assert r["status"] == "loaded"
    again = duckdb.connect(str(path), read_only=True)
    try:
        assert one(again, "select count(*) from order_lines where order_id = 'OLD1'") == 0
        assert dict(warehouse.table_counts(again)) == dict(warehouse.table_counts(con))
        assert gmv(again) == gmv(con)
        assert one(again, "select sum(on_hand) from inventory") == one(con, "select sum(on_hand) from inventory")
    finally:
        again.close()


def test_another_seed_gives_another_shop(con, tmp_path):
    files = demo.export_files(7, SCALE, date.today() - timedelta(days=1), tmp_path)
    lines = pl.concat([pl.read_csv(f) for f in files if f.name.startswith("orders_")])
    sales = lines.filter(pl.col("status").is_in(["paid", "partially_refunded", "refunded"]))
    assert round((sales["quantity"] * sales["unit_price"]).sum(), 2) != gmv(con)


def test_refuses_to_overwrite_a_real_warehouse(tmp_db, capsys):
    con = warehouse.connect(tmp_db)
    r = ingest_file(con, b"order_id,ordered_at,sku,quantity,unit_price\nR1,2026-01-05 10:00:00,S1,2,9.50\n", "real.csv")
    assert r.status == "loaded"
    con.close()
    assert demo.main(["--db", str(tmp_db), "--scale", "0.05"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not overwriting a real warehouse" in err and len(err.splitlines()) == 1
    con = duckdb.connect(str(tmp_db), read_only=True)
    assert one(con, "select count(*) from order_lines") == 1
    con.close()
    assert demo.main(["--scale", "0.05"]) == 2  # the default path is STOREBOARD_DB


@pytest.mark.parametrize("argv", [["--scale", "0"], ["--scale", "-1"], ["--scale", "lots"], ["--seed", "-3"],
                                  ["--seed", "x"], ["--nope"]])
def test_bad_arguments_exit_2_with_one_line(argv, tmp_db, capsys):
    assert demo.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
    assert not tmp_db.exists()


def test_db_that_is_not_a_warehouse_is_left_alone(tmp_path, capsys):
    junk = tmp_path / "notes.duckdb"
    junk.write_text("shopping list\n")
    assert demo.main(["--db", str(junk), "--scale", "0.05"]) == 2
    assert junk.read_text() == "shopping list\n"
    assert demo.main(["--db", str(tmp_path), "--scale", "0.05"]) == 2


def test_internal_error_exits_1_and_keeps_the_old_demo(tmp_db, monkeypatch, capsys):
    con = warehouse.connect(tmp_db)
    warehouse.set_setting(con, "is_demo", True)
    con.close()

    def broken(*args, **kwargs):
        raise RuntimeError("generator broke")

    monkeypatch.setattr(demo, "export_files", broken)
    assert demo.main(["--scale", "0.05"]) == 1
    assert "generator broke" in capsys.readouterr().err
    assert tmp_db.exists() and not tmp_db.with_name(tmp_db.name + ".demo-building").exists()
