"""Alerts on a hand-built warehouse: each rule fires exactly when its threshold is crossed."""
from datetime import date

from data import warehouse
from metrics.alerts import alerts
from metrics.filters import Filters


def _shop(path):
    con = warehouse.connect(path)
    # Previous week (Mar 1–7): 2 buyers of 100 visitors = 2.0%. This week (Mar 8–14): 1 of 100 = 1.0%.
    con.execute("""insert into order_lines (order_id, line_no, ordered_at, customer_id, channel, status, sku,
                       quantity, unit_price) values
        ('A', 1, '2024-03-02 10:00', 'c1', 'web', 'paid', 'MUG', 1, 150),
        ('B', 1, '2024-03-03 10:00', 'c2', 'web', 'paid', 'MUG', 1, 150),
        ('C', 1, '2024-03-09 10:00', 'c3', 'web', 'paid', 'MUG', 10, 15)""")
    con.execute("""insert into traffic (date, channel, page, visitors) values
        ('2024-03-01', 'web', '', 100), ('2024-03-08', 'web', '', 100)""")
    # MUG: 10 units sold on Mar 9 over the 30 in-stock days up to Mar 14 → 10/30 a day; 1 on hand → 3 days.
    con.execute("insert into inventory (snapshot_date, sku, location, on_hand) values ('2024-03-14', 'MUG', '', 1)")
    con.execute("insert into ingest_log (id, file_name, status) values (1, 'seed', 'loaded')")
    return con


def test_each_rule_fires_with_its_numbers(tmp_path):
    con = _shop(tmp_path / "w.duckdb")
    got = {a["kpi"]: a for a in alerts(con, Filters(date(2024, 3, 8), date(2024, 3, 14)))}
    # Conversion fell from 2% to 1%: 50% below its benchmark (the previous week) ≥ 15% → critical.
    assert got["conversion_rate"]["severity"] == "critical"
    assert "1.00%, 50% below its benchmark of 2.00%" in got["conversion_rate"]["message"]
    # One customer with one order: repurchase 0% < 25% target → warning.
    assert got["repurchase_rate"]["severity"] == "warning" and "≥ 25%" in got["repurchase_rate"]["message"]
    # AOV 150 this week is inside 100–300: no alert; MUG at 1 / (10/30) = 3.0 days ≤ 3 → critical.
    assert "aov" not in got
    assert got["days_of_cover"]["severity"] == "critical" and "MUG" in got["days_of_cover"]["message"]
    assert list(got)[:2] == ["conversion_rate", "days_of_cover"]  # most severe first


def test_a_benchmark_setting_replaces_the_previous_period(tmp_path):
    con = _shop(tmp_path / "w.duckdb")
    warehouse.set_setting(con, "conversion_benchmark", 0.011)  # 1.0% is only 9% below 1.1%
    got = {a["kpi"] for a in alerts(con, Filters(date(2024, 3, 8), date(2024, 3, 14)))}
    assert "conversion_rate" not in got
